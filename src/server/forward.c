/* forward: commands served through the leader. A follower sends a client's write or
 * linearizable read to the leader (REPL_MSG_FORWARD: the argv and the RESP version); the leader
 * runs it on a virtual client that stands for that client (same per-client ordering rules as a
 * connection: writes behind writes, reads after the client's own writes) and sends the reply
 * bytes back (REPL_MSG_FORWARD_REPLY, with how many replies they complete); the follower appends
 * them to its client's output in order. A client's forwarded commands all go to one leader until
 * they are answered. If that leader goes silent, the follower closes the client: a closed
 * connection is the honest answer when a write's fate cannot be known. Design:
 * docs/ARCHITECTURE.md, "Replication". */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

/* ---- the follower's side ---- */

int forward_command(client_t *c, uint64_t leader, int argc, const slice_t *argv) {
    server_t *s = c->srv;
    assert(s->bus && leader != 0);
    repl_forward_t f = {.incarnation = s->incarnation,
                        .client = c->id,
                        .hops = (uint8_t)(c->hops + 1),
                        .resp = (uint8_t)c->resp,
                        .argc = (uint32_t)argc,
                        .argv = argv};
    buf_clear(&s->scratch);
    repl_forward_encode(&s->scratch, &f);
    reply_t r = client_reply(c);
    if (s->scratch.len > BUS_FRAME_PAYLOAD_MAX) {
        reply_errorf(&r, "ERR the command is too large to forward to the leader (%u bytes at "
                         "most): send it to node %llu at %s",
                     (unsigned)BUS_FRAME_PAYLOAD_MAX, (unsigned long long)leader,
                     replica_client_address(s, leader));
        return DISPATCH_DONE;
    }
    int rc = bus_send(s->bus, (uint32_t)leader, REPL_MSG_FORWARD, s->scratch.data, s->scratch.len);
    if (rc != 0) {
        reply_errorf(&r, "CLUSTERDOWN The leader (node %llu) cannot be reached (%s); the command "
                         "was not executed",
                     (unsigned long long)leader, strerror(-rc));
        return DISPATCH_DONE;
    }
    c->forwarded++;
    c->fwd_target = leader;
    c->flags |= CLIENT_FORWARDED;
    c->reply_deferred = 1;
    client_vec_push(&s->forwarders, c, &c->fwd_slot);
    return DISPATCH_DONE;
}

void forward_on_reply(server_t *s, uint32_t from, const uint8_t *p, size_t len) {
    repl_forward_reply_t rep;
    if (repl_forward_reply_decode(p, len, &rep) != 0 || rep.incarnation != s->incarnation) {
        return;
    }
    client_t *c = client_map_get(&s->client_map, 0, rep.client);
    if (!c || (c->flags & CLIENT_CLOSING) || c->fwd_target != from || c->forwarded == 0) {
        return; /* the client left, or a reply from a leader it no longer waits on */
    }
    uint32_t n = rep.replies <= c->forwarded ? rep.replies : c->forwarded;
    buf_append(&c->out, rep.bytes, rep.len);
    c->forwarded -= n;
    if (c->forwarded == 0) {
        client_vec_remove(&s->forwarders, &c->fwd_slot);
    }
    c->replies_done += n;
    client_mark_output(c);
    if (client_outstanding(c) == 0 && (c->flags & CLIENT_WAITING)) {
        client_vec_push(&s->resume, c, &c->resume_slot);
    }
}

/* ---- the leader's side: virtual clients ---- */

static client_t *virtual_new(server_t *s, uint32_t from, const repl_forward_t *f) {
    client_t *c = mem_calloc(1, sizeof *c);
    c->srv = s;
    c->id = ++s->next_client_id;
    c->flags = CLIENT_VIRTUAL;
    c->resp = f->resp;
    c->origin = from;
    c->origin_incarnation = f->incarnation;
    c->origin_client = f->client;
    c->hops = f->hops;
    c->created_ms = c->last_ms = (int64_t)uv_now(&s->loop);
    resp_parser_init(&c->parser, s->config.proto_max_bulk_len);
    c->next = s->virtuals;
    if (s->virtuals) {
        s->virtuals->prev = c;
    }
    s->virtuals = c;
    s->virtual_count++;
    client_map_put(&s->client_map, from, f->client, c);
    client_map_put(&s->client_map, 0, c->id, c);
    return c;
}

/* Answers a forward the leader cannot take at all (too many clients): one error reply. */
static void refuse_forward(server_t *s, uint32_t from, const repl_forward_t *f, const char *err) {
    buf_t out;
    buf_init(&out);
    reply_t r = {&out, f->resp};
    reply_error(&r, err);
    repl_forward_reply_t rep = {f->incarnation, f->client, 1, out.data, out.len};
    buf_clear(&s->scratch);
    repl_forward_reply_encode(&s->scratch, &rep);
    bus_send(s->bus, from, REPL_MSG_FORWARD_REPLY, s->scratch.data, s->scratch.len);
    buf_free(&out);
}

void forward_on_request(server_t *s, uint32_t from, const uint8_t *p, size_t len) {
    repl_forward_t f;
    buf_t args;
    buf_init(&args);
    if (repl_forward_decode(p, len, &f, &args) != 0) {
        log_verbose("repl", "malformed forwarded command from node %u", from);
        buf_free(&args);
        return;
    }
    client_t *c = client_map_get(&s->client_map, from, f.client);
    if (c && c->origin_incarnation != f.incarnation) {
        client_close(c); /* the origin restarted: its client ids start again */
        c = NULL;
    }
    if (!c && s->virtual_count >= VIRTUAL_CLIENTS_MAX) {
        refuse_forward(s, from, &f, "ERR max number of clients reached");
        buf_free(&args);
        return;
    }
    if (!c) {
        c = virtual_new(s, from, &f);
    }
    c->resp = f.resp;
    c->last_ms = (int64_t)uv_now(&s->loop);
    buf_append(&c->query, args.data, args.len);
    c->read_total += args.len;
    s->stats.net_input_bytes += args.len;
    buf_free(&args);
    if ((long long)(c->query.len - c->query_pos) > s->config.client_query_buffer_limit) {
        log_warning("server", "closing a forwarded client of node %u over its query limit", from);
        client_close(c);
        return;
    }
    if (!(c->flags & CLIENT_WAITING)) {
        client_process_input(c);
    }
}

void forward_send_replies(client_t *c) {
    server_t *s = c->srv;
    uint32_t replies = (uint32_t)(c->replies_done - c->replies_sent);
    if ((c->out.len == 0 && replies == 0) || !s->bus) {
        return;
    }
    /* A large reply leaves in pieces; only the last one says the replies are complete. */
    for (size_t off = 0; off < c->out.len || (off == 0 && replies > 0);) {
        size_t n = c->out.len - off > FORWARD_REPLY_CHUNK ? FORWARD_REPLY_CHUNK : c->out.len - off;
        int last = off + n == c->out.len;
        repl_forward_reply_t rep = {c->origin_incarnation, c->origin_client, last ? replies : 0,
                                    c->out.data + off, n};
        buf_clear(&s->scratch);
        repl_forward_reply_encode(&s->scratch, &rep);
        bus_send(s->bus, (uint32_t)c->origin, REPL_MSG_FORWARD_REPLY, s->scratch.data,
                 s->scratch.len);
        off += n;
        if (last) {
            break;
        }
    }
    s->stats.net_output_bytes += c->out.len;
    c->replies_sent = c->replies_done;
    c->out.len = 0;
    if (c->out.cap > CLIENT_BUFFER_KEEP) {
        buf_free(&c->out);
    }
}

/* ---- closing ---- */

void forward_client_closed(client_t *c) {
    server_t *s = c->srv;
    if (!s->bus) {
        return;
    }
    if (c->flags & CLIENT_VIRTUAL) {
        /* The origin's client may still wait for replies that will never come. */
        buf_clear(&s->scratch);
        repl_forward_close_encode(&s->scratch, c->origin_incarnation, c->origin_client);
        bus_send(s->bus, (uint32_t)c->origin, REPL_MSG_FORWARD_CLOSE, s->scratch.data,
                 s->scratch.len);
    }
    if (c->flags & CLIENT_FORWARDED) {
        /* Whichever leaders served it drop its virtual client (its writes still commit). */
        buf_clear(&s->scratch);
        repl_forward_close_encode(&s->scratch, s->incarnation, c->id);
        uint32_t ids[BUS_PEERS_MAX];
        size_t n = bus_peer_ids(s->bus, ids, BUS_PEERS_MAX);
        for (size_t i = 0; i < n && i < BUS_PEERS_MAX; i++) {
            bus_send(s->bus, ids[i], REPL_MSG_FORWARD_CLOSE, s->scratch.data, s->scratch.len);
        }
    }
}

void forward_on_close(server_t *s, uint32_t from, const uint8_t *p, size_t len) {
    uint64_t incarnation = 0, id = 0;
    if (repl_forward_close_decode(p, len, &incarnation, &id) != 0) {
        return;
    }
    if (incarnation == s->incarnation) {
        /* The leader dropped our client's state: what it was waiting for will not come. */
        client_t *c = client_map_get(&s->client_map, 0, id);
        if (c && !(c->flags & CLIENT_CLOSING) && c->forwarded > 0 && c->fwd_target == from) {
            log_verbose("repl", "closing client id=%llu: node %u dropped its forwarded commands",
                        (unsigned long long)c->id, from);
            client_close(c);
        }
        return;
    }
    client_t *c = client_map_get(&s->client_map, from, id);
    if (c && c->origin_incarnation == incarnation) {
        client_close(c); /* the follower's client left */
    }
}

/* Whether the node c's forwarded commands went to can no longer answer them: it has been
 * silent too long, or it no longer leads and the connection to it is down (it crashed). A
 * deposed leader that is still up answers: it learns what committed at its proposals' indexes. */
static int target_lost(server_t *s, const client_t *c, int64_t now_ms) {
    if (!replica_peer_heard(s, c->fwd_target, now_ms, FORWARD_SILENCE_MS)) {
        return 1;
    }
    bus_peer_stats_t st;
    return c->fwd_target != s->leader &&
           (bus_stats(s->bus, (uint32_t)c->fwd_target, &st) != 0 || !st.connected);
}

void forward_cron(server_t *s, int64_t now_ms) {
    client_vec_t *v = &s->forwarders;
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c && c->forwarded > 0 && target_lost(s, c, now_ms)) {
            log_notice("repl", "closing client id=%llu: node %llu, which has its %u forwarded "
                               "commands, is gone (their outcome is unknown)",
                       (unsigned long long)c->id, (unsigned long long)c->fwd_target,
                       c->forwarded);
            client_close(c);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        if (v->items[i]) {
            v->items[n++] = v->items[i];
            v->items[n - 1]->fwd_slot = n;
        }
    }
    v->len = n;
    int64_t loop_now = (int64_t)uv_now(&s->loop);
    client_t *next = NULL;
    for (client_t *c = s->virtuals; c; c = next) {
        next = c->next;
        if (client_outstanding(c) == 0 && !c->held && loop_now - c->last_ms > VIRTUAL_IDLE_MS) {
            client_close(c);
        }
    }
}
