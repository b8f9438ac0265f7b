/* client: a connected client's life — accept, read into its query buffer, parse in place,
 * dispatch, one write per loop turn, close. Design: docs/ARCHITECTURE.md, "Data node". */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

static const char max_clients_error[] = "-ERR max number of clients reached\r\n";

void client_vec_push(client_vec_t *v, client_t *c, size_t *slot) {
    if (*slot) {
        return;
    }
    if (v->len == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 64;
        v->items = mem_realloc(v->items, v->cap * sizeof *v->items);
    }
    v->items[v->len++] = c;
    *slot = v->len;
}

void client_vec_remove(client_vec_t *v, size_t *slot) {
    if (*slot) {
        assert(*slot <= v->len);
        v->items[*slot - 1] = NULL;
        *slot = 0;
    }
}

void client_mark_output(client_t *c) {
    client_vec_push(&c->srv->flush, c, &c->flush_slot);
}

static void client_free(client_t *c) {
    buf_free(&c->query);
    buf_free(&c->out);
    buf_free(&c->sending);
    resp_parser_free(&c->parser);
    mem_free(c->name);
    mem_free(c);
}

static void free_client_cb(uv_handle_t *h) {
    client_free(h->data);
}

void clients_free_dead(server_t *s) {
    for (size_t i = 0; i < s->dead.len; i++) {
        client_free(s->dead.items[i]);
    }
    s->dead.len = 0;
}

/* Unlinks c from the list it is in (s->clients, or s->virtuals for a virtual client). */
static void client_unlink(server_t *s, client_t *c) {
    client_t **head = (c->flags & CLIENT_VIRTUAL) ? &s->virtuals : &s->clients;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        *head = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
}

void client_close(client_t *c) {
    if (c->flags & CLIENT_CLOSING) {
        return;
    }
    server_t *s = c->srv;
    c->flags |= CLIENT_CLOSING;
    /* Its proposed writes still commit; nobody is left to answer. */
    for (size_t i = 0; c->pending_writes && i < s->pending_len; i++) {
        pending_write_t *p = &s->pending[s->pending_head + i];
        if (p->client == c) {
            p->client = NULL;
            c->pending_writes--;
        }
    }
    batch_forget(s, c);
    forward_client_closed(c);
    client_vec_remove(&s->flush, &c->flush_slot);
    client_vec_remove(&s->resume, &c->resume_slot);
    client_vec_remove(&s->leader_waiters, &c->leader_slot);
    client_vec_remove(&s->read_waiters, &c->read_slot);
    client_vec_remove(&s->blocked, &c->block_slot);
    client_vec_remove(&s->forwarders, &c->fwd_slot);
    if (s->cron_cursor == c) {
        s->cron_cursor = c->next;
    }
    client_unlink(s, c);
    client_map_del(&s->client_map, 0, c->id);
    if (c->flags & CLIENT_VIRTUAL) {
        if (client_map_get(&s->client_map, c->origin, c->origin_client) == c) {
            client_map_del(&s->client_map, c->origin, c->origin_client);
        }
        s->virtual_count--;
        size_t slot = 0;
        client_vec_push(&s->dead, c, &slot); /* freed after this turn: callers may hold it */
        return;
    }
    s->client_count--;
    uv_close((uv_handle_t *)&c->tcp, free_client_cb);
}

void client_reply_done(client_t *c) {
    c->replies_done++;
    client_mark_output(c);
    if (client_outstanding(c) == 0 && (c->flags & CLIENT_WAITING)) {
        client_vec_push(&c->srv->resume, c, &c->resume_slot);
    }
}

/* How much to make room for before a read: a chunk, or the rest of a large bulk at once. */
static size_t read_want(const client_t *c) {
    size_t want = CLIENT_READ_CHUNK;
    const resp_parser_t *p = &c->parser;
    if (p->kind == '*' && p->bulk_len >= 0) {
        size_t have = c->query.len - c->query_pos;
        size_t need = p->pos + (size_t)p->bulk_len + 2;
        if (need > have && need - have > want) {
            want = need - have;
        }
    }
    return want;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    client_t *c = h->data;
    size_t want = read_want(c);
    if (c->query_pos > 0 && c->query.cap - c->query.len < want) {
        /* Move the unconsumed bytes to the front; the parser counts from query_pos. */
        size_t rest = c->query.len - c->query_pos;
        memmove(c->query.data, c->query.data + c->query_pos, rest);
        c->query.len = rest;
        c->query_pos = 0;
    }
    buf_reserve(&c->query, want);
    b->base = c->query.data + c->query.len;
    b->len = c->query.cap - c->query.len;
}

static void release_if_empty(buf_t *b) {
    if (b->len == 0 && b->cap > CLIENT_BUFFER_KEEP) {
        buf_free(b);
    }
}

static void read_cb(uv_stream_t *stream, ssize_t n, const uv_buf_t *b) {
    client_t *c = stream->data;
    server_t *s = c->srv;
    if (n == UV_EOF) {
        /* The client is done sending: answer what it sent, then close (client_write). */
        c->flags |= CLIENT_EOF;
        uv_read_stop(stream);
        client_mark_output(c);
        return;
    }
    if (n < 0) {
        log_verbose("server", "client id=%llu read error: %s", (unsigned long long)c->id,
                    uv_strerror((int)n));
        client_close(c);
        return;
    }
    c->query.len += (size_t)n;
    c->read_total += (uint64_t)n;
    c->last_ms = (int64_t)uv_now(&s->loop);
    s->stats.net_input_bytes += (uint64_t)n;
    if ((long long)(c->query.len - c->query_pos) > s->config.client_query_buffer_limit) {
        log_warning("server", "closing client id=%llu that reached max query buffer length (%zu)",
                    (unsigned long long)c->id, c->query.len - c->query_pos);
        client_close(c);
        return;
    }
    if (!(c->flags & CLIENT_WAITING)) {
        client_process_input(c);
    }
}

/* Replies not yet taken by the socket: past CLIENT_OUTPUT_PAUSE the client is neither parsed
 * nor read until they drain, so a client that does not read its replies holds one reply's
 * worth of memory beyond the limit, and stalls only itself. */
static int output_full(const client_t *c) {
    return c->out.len + c->sending.len >= CLIENT_OUTPUT_PAUSE;
}

static void pause_for_output(client_t *c) {
    if (!(c->flags & CLIENT_READ_PAUSED)) {
        c->flags |= CLIENT_READ_PAUSED;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    client_mark_output(c);
}

/* Output drained below the limit: read and parse again (from the next before-sleep). */
static void resume_after_output(client_t *c) {
    if (!(c->flags & CLIENT_READ_PAUSED) || output_full(c)) {
        return;
    }
    c->flags &= ~CLIENT_READ_PAUSED;
    if (!(c->flags & CLIENT_EOF)) {
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    }
    client_vec_push(&c->srv->resume, c, &c->resume_slot);
}

/* Replies a protocol error and closes after it, as Redis does. */
static void protocol_error(client_t *c) {
    reply_t r = client_reply(c);
    reply_errorf(&r, "ERR %s", c->parser.error);
    log_verbose("server", "client id=%llu: %s", (unsigned long long)c->id, c->parser.error);
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
    client_mark_output(c);
}

/* Next command: a held one, or parsed from the buffer. Returns a resp_result. */
static int next_command(client_t *c, size_t *used) {
    char *base = c->query.data + c->query_pos;
    int held = c->held;
    c->held = HELD_NONE;
    if (held == HELD_COMMAND) {
        resp_parser_restore(&c->parser, base);
        *used = c->held_used;
        return RESP_COMMAND;
    }
    if (held == HELD_ERROR) {
        return RESP_ERROR;
    }
    c->parser.bulk_max = c->srv->config.proto_max_bulk_len;
    return resp_parse(&c->parser, base, c->query.len - c->query_pos, used);
}

void client_process_input(client_t *c) {
    server_t *s = c->srv;
    /* Each turn either consumes a command's bytes or leaves the loop, so the buffer bounds it. */
    while (!(c->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_CLOSING | CLIENT_WAITING)) &&
           !s->shutting_down) {
        if (output_full(c)) {
            pause_for_output(c);
            break;
        }
        size_t used = 0;
        int rc = next_command(c, &used);
        if (rc == RESP_INCOMPLETE) {
            break;
        }
        if (rc == RESP_ERROR) {
            if (client_outstanding(c)) {
                c->held = HELD_ERROR; /* its reply comes after theirs */
                c->flags |= CLIENT_WAITING;
            } else {
                protocol_error(c);
            }
            break;
        }
        c->reply_deferred = 0;
        if (c->parser.argc > 0 && dispatch(c, c->parser.argc, c->parser.argv) == DISPATCH_WAIT) {
            resp_parser_hold(&c->parser, c->query.data + c->query_pos);
            c->held = HELD_COMMAND;
            c->held_used = used;
            c->flags |= CLIENT_WAITING;
            break;
        }
        if (c->parser.argc > 0 && !c->reply_deferred) {
            c->replies_done++; /* answered at once (a deferred reply counts when it comes) */
        }
        c->query_pos += used;
        c->consumed_total += used;
    }
    if (c->query_pos == c->query.len && !(c->flags & CLIENT_CLOSING)) {
        c->query.len = 0;
        c->query_pos = 0;
        release_if_empty(&c->query);
    }
    if (c->flags & CLIENT_EOF) {
        client_mark_output(c); /* client_write closes it once nothing is left to do */
    }
}

/* After the client's EOF: nothing left to run or to answer. */
static int client_done(const client_t *c) {
    return (c->flags & CLIENT_EOF) && !client_outstanding(c) && !c->held &&
           !(c->flags & (CLIENT_WAITING | CLIENT_READ_PAUSED | CLIENT_WRITING)) && c->out.len == 0;
}

static void write_cb(uv_write_t *req, int status) {
    client_t *c = req->data;
    c->flags &= ~CLIENT_WRITING;
    if (status < 0) {
        client_close(c);
        return;
    }
    c->srv->stats.net_output_bytes += c->sending.len;
    c->sending.len = 0;
    release_if_empty(&c->sending);
    if (c->out.len || (c->flags & (CLIENT_CLOSE_AFTER_REPLY | CLIENT_EOF))) {
        client_mark_output(c);
    }
    resume_after_output(c);
}

/* One write per turn: as much as the socket takes now, the rest through uv_write. */
static void client_write(client_t *c) {
    if (c->flags & (CLIENT_CLOSING | CLIENT_WRITING)) {
        return;
    }
    if (c->flags & CLIENT_VIRTUAL) {
        forward_send_replies(c);
        if (c->flags & CLIENT_CLOSE_AFTER_REPLY) {
            client_close(c);
        }
        return;
    }
    if (c->out.len == 0) {
        if ((c->flags & CLIENT_CLOSE_AFTER_REPLY) || client_done(c)) {
            client_close(c);
        }
        return;
    }
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == UV_EAGAIN) {
        n = 0;
    }
    if (n < 0) {
        client_close(c);
        return;
    }
    c->srv->stats.net_output_bytes += (uint64_t)n;
    if ((size_t)n == c->out.len) {
        c->out.len = 0;
        release_if_empty(&c->out);
        if ((c->flags & CLIENT_CLOSE_AFTER_REPLY) || client_done(c)) {
            client_close(c);
        } else {
            resume_after_output(c);
        }
        return;
    }
    /* The rest stays in `sending` until written; new replies go to a fresh `out`. */
    buf_t spare = c->sending;
    c->sending = c->out;
    c->out = spare;
    c->out.len = 0;
    buf_consume(&c->sending, (size_t)n);
    b = uv_buf_init(c->sending.data, (unsigned)c->sending.len);
    c->write_req.data = c;
    c->flags |= CLIENT_WRITING;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, write_cb) < 0) {
        c->flags &= ~CLIENT_WRITING;
        client_close(c);
    }
}

void clients_flush(server_t *s) {
    /* client_write may close a client, which only clears its own slot. */
    for (size_t i = 0; i < s->flush.len; i++) {
        client_t *c = s->flush.items[i];
        if (c) {
            c->flush_slot = 0;
            client_write(c);
        }
    }
    s->flush.len = 0;
}

static void reject_client(server_t *s, uv_tcp_t *tcp) {
    uv_buf_t b = uv_buf_init((char *)max_clients_error, sizeof max_clients_error - 1);
    uv_try_write((uv_stream_t *)tcp, &b, 1);
    s->stats.rejected_connections++;
    uv_close((uv_handle_t *)tcp, free_client_cb);
}

void client_on_connection(uv_stream_t *listener, int status) {
    server_t *s = listener->data;
    if (status < 0) {
        log_warning("server", "accept: %s", uv_strerror(status));
        return;
    }
    client_t *c = mem_calloc(1, sizeof *c);
    c->srv = s;
    c->tcp.data = c;
    uv_tcp_init(&s->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, free_client_cb);
        return;
    }
    s->stats.connections_received++;
    if (s->shutting_down || (long long)s->client_count >= s->config.maxclients) {
        reject_client(s, &c->tcp);
        return;
    }
    c->id = ++s->next_client_id;
    c->resp = 2;
    c->created_ms = c->last_ms = (int64_t)uv_now(&s->loop);
    resp_parser_init(&c->parser, s->config.proto_max_bulk_len);
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 300);
    c->next = s->clients;
    if (s->clients) {
        s->clients->prev = c;
    }
    s->clients = c;
    s->client_count++;
    client_map_put(&s->client_map, 0, c->id, c);
    uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

void clients_cron(server_t *s) {
    size_t budget = s->client_count / (1000 / CRON_INTERVAL_MS) + 1;
    int64_t now = (int64_t)uv_now(&s->loop);
    client_t *c = s->cron_cursor ? s->cron_cursor : s->clients;
    for (; c && budget > 0; budget--, c = c->next) {
        if (now - c->last_ms < CLIENT_IDLE_SHRINK_MS || c->held) {
            continue;
        }
        if (c->query_pos == c->query.len) {
            buf_free(&c->query);
            c->query_pos = 0;
        }
        if (c->out.len == 0 && !(c->flags & CLIENT_WRITING)) {
            buf_free(&c->out);
            buf_free(&c->sending);
        }
    }
    s->cron_cursor = c;
}

int client_name_valid(slice_t name, const char **err) {
    if (name.len > CLIENT_NAME_MAX) {
        *err = "ERR Client names may not be longer than 4096 bytes.";
        return 0;
    }
    for (size_t i = 0; i < name.len; i++) {
        if (name.ptr[i] < '!' || name.ptr[i] > '~') {
            *err = "ERR Client names cannot contain spaces, newlines or special characters.";
            return 0;
        }
    }
    return 1;
}

void client_address(const client_t *c, int peer, char *dst, size_t size) {
    const uv_tcp_t *tcp = &c->tcp;
    struct sockaddr_storage sa;
    int len = sizeof sa;
    int rc = peer ? uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &len)
                  : uv_tcp_getsockname(tcp, (struct sockaddr *)&sa, &len);
    char host[64] = "?";
    int port = 0;
    if (rc == 0 && sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&sa;
        uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
    } else if (rc == 0) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&sa;
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
    }
    snprintf(dst, size, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

void client_format(const client_t *c, buf_t *out) {
    char addr[96], laddr[96];
    client_address(c, 1, addr, sizeof addr);
    client_address(c, 0, laddr, sizeof laddr);
    uv_os_fd_t fd = -1;
    uv_fileno((const uv_handle_t *)&c->tcp, &fd);
    int64_t now = (int64_t)uv_now(&c->srv->loop);
    size_t qbuf = c->query.len - c->query_pos;
    buf_printf(out,
               "id=%llu addr=%s laddr=%s fd=%d name=%s age=%lld idle=%lld flags=N db=0 sub=0 "
               "psub=0 ssub=0 multi=-1 qbuf=%zu qbuf-free=%zu argv-mem=0 multi-mem=0 rbs=%zu "
               "rbp=0 obl=%zu oll=0 omem=%zu tot-mem=%zu events=r%s cmd=%s user=default "
               "redir=-1 resp=%d\n",
               (unsigned long long)c->id, addr, laddr, (int)fd, c->name ? c->name : "",
               (long long)((now - c->created_ms) / 1000), (long long)((now - c->last_ms) / 1000),
               qbuf, c->query.cap - c->query.len, c->query.cap, c->out.len, c->sending.len,
               sizeof *c + c->query.cap + c->out.cap + c->sending.cap,
               (c->flags & CLIENT_WRITING) ? "w" : "", c->last_command ? c->last_command : "NULL",
               c->resp);
}
