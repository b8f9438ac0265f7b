/* lb http: the HTTP/1.1 reverse proxy of one client connection (design: worker.h and
 * docs/ARCHITECTURE.md, "Load balancer").
 *
 * A client connection carries one request at a time; pipelined requests wait in its buffer and
 * are answered in order. A request: parse the head in place, pick a server, take a pooled
 * connection or open one, send the head as slices of the client buffer with X-Forwarded-For,
 * X-Forwarded-Proto (and Connection) spliced in, then whatever body bytes are at hand; the rest
 * of the body follows as it arrives. The response head is forwarded the same way, hop-by-hop
 * fields dropped, then its body. When both are complete the backend connection goes back to
 * its pool and the next request starts.
 *
 * Retries: a failed connect moves on to another server (nothing was sent). An idempotent request
 * whose server fails before any response byte is replayed on another server, provided its bytes
 * are still in the client buffer (the buffer keeps them from s.keep, the request's first byte,
 * until the request ends or its body outgrows the buffer). Other requests are never replayed. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "lb/worker.h"

#define IOV_MAX_HEAD (2 * LB_HEADERS_LIMIT + LB_IOV_EXTRA)

static void client_read(lb_stream_t *s, ssize_t nread);
static void client_written(lb_stream_t *s, int status);
static void upstream_read(lb_stream_t *s, ssize_t nread);
static void upstream_written(lb_stream_t *s, int status);
static void request_dispatch(lb_client_t *c);
static void request_send(lb_client_t *c);
static void response_pump(lb_client_t *c);

void lb_http_start(lb_client_t *c) {
    c->phase = LB_C_IDLE;
    c->keep_alive = 1;
    c->s.on_read = client_read;
    c->s.on_written = client_written;
    c->s.want_read = 1;
    lb_client_deadline(c, c->fe->conf.client_timeout_ms);
    lb_stream_sync(&c->s);
}

/* Appends p[0..len) to iov, merging with the previous slice when contiguous. */
static void iov_push(uv_buf_t *iov, unsigned *n, const char *p, size_t len) {
    if (len == 0) {
        return;
    }
    if (*n > 0 && iov[*n - 1].base + iov[*n - 1].len == p) {
        iov[*n - 1].len += len;
        return;
    }
    iov[(*n)++] = uv_buf_init((char *)p, (unsigned)len);
}

/* Takes the body bytes among p[0..avail): *n of them belong to the message; *done when it ends
 * there. Returns 0, or -EBADMSG for a malformed chunked body. */
static int body_take(uint8_t kind, uint64_t *left, http_chunked_t *ch, const char *p,
                     size_t avail, size_t *n, int *done) {
    switch (kind) {
    case HTTP_BODY_NONE:
        *n = 0;
        *done = 1;
        return 0;
    case HTTP_BODY_LENGTH:
        *n = *left < avail ? (size_t)*left : avail;
        *left -= *n;
        *done = *left == 0;
        return 0;
    case HTTP_BODY_CHUNKED: {
        int rc = http_chunked_scan(ch, p, avail, n);
        *done = rc == 1;
        return rc < 0 ? rc : 0;
    }
    default: /* until close: the caller decides at EOF */
        *n = avail;
        *done = 0;
        return 0;
    }
}

/* Length of the empty line that ends a head of head_len bytes starting at base. */
static size_t final_line_len(const char *base, size_t head_len) {
    return head_len >= 2 && base[head_len - 2] == '\r' ? 2 : 1;
}

/* The end of the field line that holds hd (just past its '\n'). */
static const char *field_line_end(const http_header_t *hd, const char *limit) {
    const char *from = hd->value.ptr + hd->value.len;
    const char *nl = memchr(from, '\n', (size_t)(limit - from));
    assert(nl);
    return nl + 1;
}

/* Copies the head at base into iov without the fields drop() rejects; the caller appends its
 * own fields and then the returned final empty line. */
static unsigned head_iov(const http_head_t *h, const char *start, const char *base,
                         int (*drop)(const lb_client_t *, http_header_id_t),
                         const lb_client_t *c, uv_buf_t *iov, slice_t *final) {
    size_t fin = final_line_len(base, h->head_len);
    const char *fields_end = base + h->head_len - fin;
    const char *cursor = start;
    unsigned n = 0;
    for (size_t i = 0; i < h->header_count; i++) {
        const http_header_t *hd = &h->headers[i];
        if (!drop(c, hd->id)) {
            continue;
        }
        iov_push(iov, &n, cursor, (size_t)(hd->name.ptr - cursor));
        cursor = field_line_end(hd, fields_end + 1);
    }
    iov_push(iov, &n, cursor, (size_t)(fields_end - cursor));
    *final = (slice_t){fields_end, fin};
    return n;
}

static int request_drop(const lb_client_t *c, http_header_id_t id) {
    switch (id) {
    case HTTP_H_CONNECTION:
    case HTTP_H_KEEP_ALIVE:
    case HTTP_H_PROXY_CONNECTION:
    case HTTP_H_TE:
    case HTTP_H_X_FORWARDED_FOR:
    case HTTP_H_X_FORWARDED_PROTO:
        return 1;
    case HTTP_H_UPGRADE:
        return !c->upgrade;
    default:
        return 0;
    }
}

static int response_drop(const lb_client_t *c, http_header_id_t id) {
    (void)c;
    return id == HTTP_H_CONNECTION || id == HTTP_H_KEEP_ALIVE || id == HTTP_H_PROXY_CONNECTION;
}

/* The head of c's current request in w->head, parsed again if the buffer changed since. */
static http_head_t *client_head(lb_client_t *c) {
    lb_worker_t *w = c->w;
    http_head_t *h = &w->head;
    if (w->head_seq == c->head_seq && c->head_moves == c->s.moves) {
        return h;
    }
    http_head_reset(h);
    h->header_max = c->fe->conf.headers_max;
    int rc = http_request_parse(c->s.buf + c->s.keep, c->s.tail - c->s.keep, c->s.cap, h);
    assert(rc == 0); /* the same bytes parsed before */
    (void)rc;
    c->head_seq = ++w->head_seq;
    c->head_moves = c->s.moves;
    return h;
}

/* ---- the client side ---- */

static void client_rebind(lb_client_t *c) {
    lb_state_t *st = c->w->state;
    const lb_frontend_t *fe = lb_state_frontend(st, c->fe->conf.name);
    if (!fe || fe->conf.mode != LB_MODE_HTTP) {
        c->close_after = 1; /* the frontend is gone: finish this request, then close */
        return;
    }
    lb_state_ref(st);
    lb_state_unref(c->state);
    c->state = st;
    c->fe = fe;
}

static void copy_text(char *dst, size_t cap, slice_t s) {
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static void request_begin(lb_client_t *c, http_head_t *h) {
    lb_worker_t *w = c->w;
    if (c->state != w->state) {
        client_rebind(c);
    }
    lb_counter_add(&w->requests, 1);
    c->tries = 0;
    c->status = 0;
    c->resp_bytes = 0;
    c->fail_status = 503;
    c->t_start_ns = uv_hrtime();
    if (w->access_fd >= 0) {
        copy_text(c->method, sizeof c->method, h->method);
        copy_text(c->target, sizeof c->target, h->target);
    }
    if (slice_eq(h->method, SLICE_LIT("CONNECT"))) {
        lb_client_reply_error(c, 405);
        return;
    }
    c->is_head = slice_eq(h->method, SLICE_LIT("HEAD"));
    c->keep_alive = http_keep_alive(h) && h->version_minor == 1 && !w->draining;
    c->upgrade = (h->flags & HTTP_F_UPGRADE) && (h->flags & HTTP_F_CONN_UPGRADE);
    c->retryable = http_method_idempotent(h->method);
    c->req_body = (uint8_t)h->body;
    c->req_done = 0;
    c->resp_head_done = c->resp_started = c->resp_done = c->resp_keep = 0;
    c->s.keep = c->s.head; /* keep the request's bytes: it may have to be sent again */
    c->s.retain = 1;
    c->head_seq = w->head_seq;
    c->head_moves = c->s.moves;
    request_dispatch(c);
}

/* Parses the next request in the buffer, if any (phase IDLE). */
static void client_next(lb_client_t *c) {
    lb_worker_t *w = c->w;
    assert(c->phase == LB_C_IDLE);
    if (c->s.writing) {
        return; /* the previous response is still going out */
    }
    uint32_t avail = c->s.tail - c->s.head;
    if (avail == 0) {
        if (c->s.eof || c->close_after) {
            lb_client_close(c);
        }
        return;
    }
    http_head_t *h = &w->head;
    http_head_reset(h);
    h->header_max = c->fe->conf.headers_max;
    h->scanned = c->scanned;
    w->head_seq++;
    /* A reload may have raised the limit past this connection's buffer: the buffer wins. */
    size_t head_max = c->fe->conf.head_max < c->s.cap ? c->fe->conf.head_max : c->s.cap;
    int rc = http_request_parse(c->s.buf + c->s.head, avail, head_max, h);
    if (rc == -EAGAIN) {
        c->scanned = (uint32_t)h->scanned;
        if (c->s.eof) {
            lb_client_close(c);
        }
        return;
    }
    c->scanned = 0;
    if (rc < 0) {
        log_verbose("lb", "client %s: bad request (%s)", c->ip, strerror(-rc));
        c->s.head = c->s.tail;
        lb_client_reply_error(c, http_error_status(rc));
        return;
    }
    request_begin(c, h);
}

/* Forwards more of the request body (phase EXCHANGE). */
static void request_pump(lb_client_t *c) {
    lb_upstream_t *up = c->up;
    if (c->phase != LB_C_EXCHANGE || c->req_done || c->s.held || !up || up->s.writing) {
        return;
    }
    uint32_t avail = c->s.tail - c->s.head;
    if (avail == 0) {
        return;
    }
    size_t n;
    int done;
    if (body_take(c->req_body, &c->req_left, &c->req_chunk, c->s.buf + c->s.head, avail, &n,
                  &done) < 0) {
        if (c->resp_started) {
            lb_client_close(c);
        } else {
            lb_client_reply_error(c, 400);
        }
        return;
    }
    uv_buf_t iov = uv_buf_init(c->s.buf + c->s.head, (unsigned)n);
    c->s.head += (uint32_t)n;
    c->req_done = (uint8_t)done;
    int rc = lb_stream_write(&up->s, &iov, 1);
    if (rc < 0) {
        lb_client_close(c);
        return;
    }
    c->s.held = rc == 1;
    lb_client_deadline(c, c->fe->backend->conf.response_timeout_ms);
}

/* A full buffer that still keeps the request for a replay gives that up, so reading can go on
 * (the body outgrew the buffer: the request can no longer be sent again). */
static void client_make_room(lb_client_t *c) {
    if (c->phase != LB_C_CLOSING && c->s.retain && c->s.tail == c->s.cap &&
        c->s.keep < c->s.head && !c->s.held) {
        c->retryable = 0;
        c->s.retain = 0;
    }
}

static void client_read(lb_stream_t *s, ssize_t nread) {
    lb_client_t *c = (lb_client_t *)s;
    if (nread < 0) {
        /* A client that half-closes after a complete request still gets its answers (s.eof
         * ends the connection once the buffer holds no further request). */
        int complete = (c->phase == LB_C_EXCHANGE && c->req_done) ||
                       (c->phase == LB_C_CONNECTING && c->req_body == HTTP_BODY_NONE);
        if (c->phase == LB_C_LINGER || (nread == UV_EOF && complete)) {
            return;
        }
        if (c->phase == LB_C_IDLE && nread == UV_EOF && c->s.tail > c->s.head) {
            client_next(c); /* a last request may have arrived with the close */
            return;
        }
        lb_client_close(c);
        return;
    }
    if (c->phase == LB_C_IDLE) {
        lb_client_deadline(c, c->fe->conf.client_timeout_ms);
        client_next(c);
    } else if (c->phase == LB_C_EXCHANGE && !c->req_done) {
        request_pump(c);
    }
    client_make_room(c);
}

static void client_written(lb_stream_t *s, int status) {
    lb_client_t *c = (lb_client_t *)s;
    if (c->up) {
        c->up->s.held = 0;
    }
    if (status < 0) {
        lb_client_close(c);
        return;
    }
    if (c->phase == LB_C_EXCHANGE) {
        lb_client_deadline(c, c->fe->backend->conf.response_timeout_ms);
        lb_upstream_t *up = c->up;
        response_pump(c);
        if (up && c->up == up) {
            lb_stream_sync(&up->s);
        }
    } else if (c->phase == LB_C_IDLE) {
        client_next(c);
    }
}

/* ---- choosing a server, failures ---- */

static void request_dispatch(lb_client_t *c) {
    int attached;
    if (lb_client_dispatch(c, &attached) < 0) {
        lb_client_reply_error(c, c->fail_status);
        return;
    }
    if (attached) {
        request_send(c);
    }
}

/* The server of the current attempt failed (connect, broken exchange, timeout). Replays the
 * request elsewhere when allowed, else answers status (or closes, once a response started). */
static void exchange_failed(lb_client_t *c, int status, int replayable) {
    lb_worker_t *w = c->w;
    lb_server_t *s = c->server;
    int64_t now = (int64_t)uv_now(w->loop);
    if (s) {
        lb_counter_add(&s->per_thread[w->id].errors, 1);
        lb_server_failed(s, &c->fe->backend->conf.health, now);
    }
    if (c->up) {
        lb_upstream_close(c->up);
    }
    lb_client_unassign(c);
    if (c->resp_started) {
        lb_client_close(c);
        return;
    }
    if (replayable && c->s.retain && (c->retryable || c->s.head == c->s.keep)) {
        if (s) {
            lb_counter_add(&s->per_thread[w->id].retries, 1);
        }
        c->s.head = c->s.keep; /* the request is still in the buffer: send it again */
        c->fail_status = status;
        c->phase = LB_C_CONNECTING;
        request_dispatch(c);
        return;
    }
    lb_client_reply_error(c, status);
}

void lb_http_connected(lb_client_t *c, int status) {
    if (status == 0) {
        request_send(c);
        return;
    }
    log_verbose("lb", "connect to %s/%s failed: %s", c->server->backend, c->server->name,
                uv_strerror(status));
    exchange_failed(c, 503, 1);
}

void lb_http_timeout(lb_client_t *c) {
    switch (c->phase) {
    case LB_C_IDLE:
        if (c->s.tail > c->s.head) {
            lb_client_reply_error(c, 408);
        } else {
            lb_client_close(c);
        }
        return;
    case LB_C_CONNECTING:
        exchange_failed(c, 503, 1); /* connect timeout: nothing was sent, try another */
        return;
    case LB_C_EXCHANGE:
        exchange_failed(c, 504, 0);
        return;
    default:
        lb_client_close(c);
        return;
    }
}

/* ---- the request to the server ---- */

static void request_send(lb_client_t *c) {
    lb_upstream_t *up = c->up;
    assert(up && c->server);
    up->s.on_read = upstream_read;
    up->s.on_written = upstream_written;
    up->s.want_read = 1;
    up->scanned = 0;
    c->phase = LB_C_EXCHANGE;
    c->resp_head_done = c->resp_started = c->resp_done = c->resp_keep = 0;
    http_head_t *h = client_head(c);
    c->req_body = (uint8_t)h->body;
    c->req_left = h->content_length;
    http_chunked_init(&c->req_chunk);
    uv_buf_t iov[IOV_MAX_HEAD];
    slice_t final;
    const char *base = c->s.buf + c->s.keep;
    unsigned n = head_iov(h, h->method.ptr, base, request_drop, c, iov, &final);
    iov_push(iov, &n, "X-Forwarded-For: ", 17);
    for (size_t i = 0; i < h->header_count; i++) {
        if (h->headers[i].id == HTTP_H_X_FORWARDED_FOR && h->headers[i].value.len > 0) {
            iov_push(iov, &n, h->headers[i].value.ptr, h->headers[i].value.len);
            iov_push(iov, &n, ", ", 2);
        }
    }
    iov_push(iov, &n, c->ip, c->ip_len);
    if (c->upgrade) {
        iov_push(iov, &n, "\r\nX-Forwarded-Proto: http\r\nConnection: upgrade\r\n", 48);
    } else {
        iov_push(iov, &n, "\r\nX-Forwarded-Proto: http\r\n", 27);
    }
    iov_push(iov, &n, final.ptr, final.len);
    c->s.head = c->s.keep + (uint32_t)h->head_len;
    size_t body;
    int done;
    if (body_take(c->req_body, &c->req_left, &c->req_chunk, c->s.buf + c->s.head,
                  c->s.tail - c->s.head, &body, &done) < 0) {
        lb_client_reply_error(c, 400);
        return;
    }
    iov_push(iov, &n, c->s.buf + c->s.head, body);
    c->s.head += (uint32_t)body;
    c->req_done = (uint8_t)done;
    int rc = lb_stream_write(&up->s, iov, n);
    if (rc < 0) {
        exchange_failed(c, 502, c->retryable);
        return;
    }
    c->s.held = rc == 1;
    lb_client_deadline(c, c->fe->backend->conf.response_timeout_ms);
    lb_stream_sync(&up->s);
    client_make_room(c); /* reading may have stopped on a full buffer while connecting */
    lb_stream_sync(&c->s);
}

static void upstream_written(lb_stream_t *s, int status) {
    lb_upstream_t *up = (lb_upstream_t *)s;
    lb_client_t *c = up->client;
    if (!c) {
        return;
    }
    c->s.held = 0;
    if (status < 0) {
        exchange_failed(c, 502, c->retryable);
        return;
    }
    request_pump(c);
    client_make_room(c);
    if (c->phase != LB_C_CLOSING) {
        lb_stream_sync(&c->s);
    }
}

/* ---- the response ---- */

/* Ends the current request: counters, access log, the server connection back to its pool, and
 * the next request, if one waits. Precondition: the response was written out. */
static void request_finish(lb_client_t *c) {
    lb_worker_t *w = c->w;
    lb_upstream_t *up = c->up;
    lb_server_t *s = c->server;
    int64_t now = (int64_t)uv_now(w->loop);
    if (s) {
        lb_server_thread_t *t = &s->per_thread[w->id];
        lb_histogram_record(&t->latency, (uv_hrtime() - c->t_start_ns) / 1000);
        if (c->status >= 100 && c->status < 600) {
            lb_counter_add(&t->responses[c->status / 100 - 1], 1);
        }
    }
    lb_client_log(c);
    lb_client_unassign(c);
    c->up = NULL;
    if (up) {
        up->client = NULL;
        if (c->resp_keep && c->req_done && !up->s.writing && !up->s.eof) {
            lb_pool_put(up, c->fe->backend->conf.keepalive, now);
        } else {
            lb_upstream_close(up);
        }
    }
    if (!c->req_done || !c->keep_alive || c->close_after || w->draining) {
        lb_client_close(c);
        return;
    }
    c->phase = LB_C_IDLE;
    c->s.retain = 0;
    lb_client_deadline(c, c->fe->conf.client_timeout_ms);
    client_next(c);
}

/* Forwards an interim (1xx) or 101 head as it is. Returns 0, or -1 when c was closed. */
static int response_interim(lb_client_t *c, const http_head_t *h) {
    lb_stream_t *u = &c->up->s;
    uv_buf_t iov = uv_buf_init(u->buf + u->head, (unsigned)h->head_len);
    u->head += (uint32_t)h->head_len;
    c->resp_started = 1;
    int rc = lb_stream_write(&c->s, &iov, 1);
    if (rc < 0) {
        lb_client_close(c);
        return -1;
    }
    u->held = rc == 1;
    return 0;
}

/* Forwards the final response head h (dropping hop-by-hop fields, adding Connection: close
 * when the client connection ends after it) and the body bytes at hand, in one write.
 * Returns 1, or -1 when c was closed. */
static int response_final(lb_client_t *c, const http_head_t *h) {
    lb_upstream_t *up = c->up;
    lb_stream_t *u = &up->s;
    c->status = h->status;
    c->resp_head_done = 1;
    c->resp_started = 1;
    c->resp_body = (uint8_t)http_response_body(h, c->is_head);
    c->resp_left = h->content_length;
    http_chunked_init(&c->resp_chunk);
    c->resp_keep = http_keep_alive(h) && c->resp_body != HTTP_BODY_UNTIL_CLOSE;
    if (c->resp_body == HTTP_BODY_UNTIL_CLOSE) {
        c->close_after = 1; /* only the close tells the client where the body ends */
    }
    if (h->status >= 500) {
        lb_server_failed(up->server, &c->fe->backend->conf.health, (int64_t)uv_now(c->w->loop));
    } else {
        lb_server_succeeded(up->server);
    }
    uv_buf_t iov[IOV_MAX_HEAD];
    slice_t final;
    unsigned n = head_iov(h, u->buf + u->head, u->buf + u->head, response_drop, c, iov, &final);
    if (!c->keep_alive || c->close_after) {
        iov_push(iov, &n, "Connection: close\r\n", 19);
    }
    iov_push(iov, &n, final.ptr, final.len);
    u->head += (uint32_t)h->head_len;
    size_t body;
    int done;
    if (body_take(c->resp_body, &c->resp_left, &c->resp_chunk, u->buf + u->head,
                  u->tail - u->head, &body, &done) < 0) {
        lb_client_close(c);
        return -1;
    }
    iov_push(iov, &n, u->buf + u->head, body);
    u->head += (uint32_t)body;
    c->resp_bytes += body;
    c->resp_done = (uint8_t)done;
    int rc = lb_stream_write(&c->s, iov, n);
    if (rc < 0) {
        lb_client_close(c);
        return -1;
    }
    u->held = rc == 1;
    return 1;
}

/* Parses and forwards the response head with what follows of the body. Returns 1 when it made
 * progress, 0 when more bytes are needed, -1 when c changed phase or was closed. */
static int response_head(lb_client_t *c) {
    lb_worker_t *w = c->w;
    lb_upstream_t *up = c->up;
    lb_stream_t *u = &up->s;
    http_head_t *h = &w->head;
    http_head_reset(h);
    h->header_max = LB_HEADERS_LIMIT;
    h->scanned = up->scanned;
    w->head_seq++;
    int rc = http_response_parse(u->buf + u->head, u->tail - u->head, u->cap, h);
    if (rc == -EAGAIN) {
        up->scanned = (uint32_t)h->scanned;
        return 0;
    }
    up->scanned = 0;
    if (rc < 0 || (h->status == 101 && !c->upgrade)) {
        log_verbose("lb", "server %s/%s: bad response head", up->server->backend,
                    up->server->name);
        exchange_failed(c, 502, 0);
        return -1;
    }
    if (h->status < 200) {
        if (response_interim(c, h) < 0) {
            return -1;
        }
        if (h->status == 101) {
            c->status = 101;
            c->resp_head_done = 1;
            lb_tunnel_start(c);
            return -1;
        }
        return 1;
    }
    return response_final(c, h);
}

/* Forwards more of the response body. Returns 1 on progress, 0 when waiting, -1 when closed. */
static int response_body(lb_client_t *c) {
    lb_stream_t *u = &c->up->s;
    size_t avail = u->tail - u->head, n;
    int done;
    if (body_take(c->resp_body, &c->resp_left, &c->resp_chunk, u->buf + u->head, avail, &n,
                  &done) < 0) {
        lb_client_close(c);
        return -1;
    }
    if (c->resp_body == HTTP_BODY_UNTIL_CLOSE) {
        done = u->eof;
    }
    c->resp_done = (uint8_t)done;
    if (n == 0) {
        return done;
    }
    uv_buf_t iov = uv_buf_init(u->buf + u->head, (unsigned)n);
    u->head += (uint32_t)n;
    c->resp_bytes += n;
    int rc = lb_stream_write(&c->s, &iov, 1);
    if (rc < 0) {
        lb_client_close(c);
        return -1;
    }
    u->held = rc == 1;
    return 1;
}

static void response_pump(lb_client_t *c) {
    while (c->up && !c->resp_done && !c->s.writing && c->phase == LB_C_EXCHANGE) {
        lb_stream_t *u = &c->up->s;
        if (u->tail == u->head && !(u->eof && c->resp_head_done)) {
            break;
        }
        int rc = c->resp_head_done ? response_body(c) : response_head(c);
        if (rc < 0) {
            return;
        }
        if (rc == 0) {
            break;
        }
    }
    if (c->resp_done && !c->s.writing && c->phase == LB_C_EXCHANGE) {
        request_finish(c);
    }
}

static void upstream_read(lb_stream_t *s, ssize_t nread) {
    lb_upstream_t *up = (lb_upstream_t *)s;
    lb_client_t *c = up->client;
    assert(c);
    lb_client_deadline(c, c->fe->backend->conf.response_timeout_ms);
    if (nread < 0 && nread != UV_EOF) {
        exchange_failed(c, 502, c->retryable);
        return;
    }
    response_pump(c);
    if (nread == UV_EOF && c->up == up && !c->resp_done) {
        /* Closed before the response ended. Nothing forwarded yet: a stale keep-alive
         * connection or a crashed server; an idempotent request goes elsewhere. */
        exchange_failed(c, 502, c->retryable);
    }
}
