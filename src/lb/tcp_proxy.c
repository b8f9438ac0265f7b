/* lb tcp: the byte-stream proxy (TCP mode) and the tunnel that an upgraded HTTP connection
 * (101 Switching Protocols, e.g. WebSocket) becomes.
 *
 * Each direction moves bytes from one side's buffer into a write on the other; when the write
 * is queued the source stops reading until it completes (worker.h). A FIN is passed on as a
 * half-close (shutdown) once the bytes before it are written; the tunnel ends when both
 * directions have finished, on any error, or after the tunnel timeout of silence. */
#include <assert.h>

#include "core/log.h"
#include "lb/worker.h"

static void tunnel_client_read(lb_stream_t *s, ssize_t nread);
static void tunnel_client_written(lb_stream_t *s, int status);
static void tunnel_up_read(lb_stream_t *s, ssize_t nread);
static void tunnel_up_written(lb_stream_t *s, int status);

static void tcp_buffer_read(lb_stream_t *s, ssize_t nread) {
    lb_client_t *c = (lb_client_t *)s;
    if (nread < 0 && nread != UV_EOF) {
        lb_client_close(c); /* gone while we connect: nothing to keep */
    }
}

static void tcp_no_write(lb_stream_t *s, int status) { (void)s, (void)status; }

static void tcp_dispatch(lb_client_t *c) {
    int attached;
    if (lb_client_dispatch(c, &attached) < 0) {
        lb_client_close(c); /* no server: an immediate close is the TCP way to say so */
    }
    assert(!attached);
}

void lb_tcp_start(lb_client_t *c) {
    c->s.on_read = tcp_buffer_read; /* client bytes wait in the buffer until connected */
    c->s.on_written = tcp_no_write;
    c->s.want_read = 1;
    c->tries = 0;
    c->t_start_ns = uv_hrtime();
    lb_stream_sync(&c->s);
    tcp_dispatch(c);
}

void lb_tcp_connected(lb_client_t *c, int status) {
    if (status == 0) {
        lb_tunnel_start(c);
        return;
    }
    lb_worker_t *w = c->w;
    lb_server_t *s = c->server;
    if (s) {
        log_verbose("lb", "connect to %s/%s failed: %s", s->backend, s->name, uv_strerror(status));
        lb_counter_add(&s->per_thread[w->id].errors, 1);
        lb_server_failed(s, &c->fe->backend->conf.health, (int64_t)uv_now(w->loop));
    }
    if (c->up) {
        lb_upstream_close(c->up);
    }
    lb_client_unassign(c);
    tcp_dispatch(c);
}

/* Moves src's buffered bytes into a write on dst; passes a FIN on once they are written. */
static int tunnel_pump(lb_stream_t *src, lb_stream_t *dst) {
    if (src->held || dst->writing || dst->closing) {
        return 0;
    }
    uint32_t n = src->tail - src->head;
    if (n > 0) {
        uv_buf_t iov = uv_buf_init(src->buf + src->head, n);
        src->head += n;
        int rc = lb_stream_write(dst, &iov, 1);
        if (rc < 0) {
            return rc;
        }
        src->held = rc == 1;
        if (src->held) {
            return 0;
        }
    }
    if (src->eof && !dst->shut) {
        lb_stream_shutdown(dst);
    }
    return 0;
}

/* Pumps both directions; closes the pair on an error or when both have finished. */
static void tunnel_step(lb_client_t *c) {
    lb_upstream_t *up = c->up;
    if (!up || c->phase != LB_C_TUNNEL) {
        lb_client_close(c);
        return;
    }
    if (tunnel_pump(&c->s, &up->s) < 0 || tunnel_pump(&up->s, &c->s) < 0) {
        lb_client_close(c);
        return;
    }
    if (c->s.shut == 2 && up->s.shut == 2) {
        lb_client_close(c); /* both directions delivered their FIN */
        return;
    }
    lb_stream_sync(&c->s);
    lb_stream_sync(&up->s);
}

void lb_tunnel_start(lb_client_t *c) {
    lb_upstream_t *up = c->up;
    assert(up);
    c->phase = LB_C_TUNNEL;
    c->s.retain = 0;
    c->s.on_read = tunnel_client_read;
    c->s.on_written = tunnel_client_written;
    up->s.on_read = tunnel_up_read;
    up->s.on_written = tunnel_up_written;
    c->s.want_read = 1;
    up->s.want_read = 1;
    lb_client_deadline(c, c->fe->conf.tunnel_timeout_ms);
    tunnel_step(c);
}

void lb_tunnel_abort(lb_client_t *c) { lb_client_close(c); }

static void tunnel_event(lb_client_t *c, ssize_t status) {
    if (status < 0 && status != UV_EOF) {
        lb_client_close(c);
        return;
    }
    lb_client_deadline(c, c->fe->conf.tunnel_timeout_ms);
    tunnel_step(c);
}

static void tunnel_client_read(lb_stream_t *s, ssize_t nread) {
    tunnel_event((lb_client_t *)s, nread);
}

static void tunnel_client_written(lb_stream_t *s, int status) {
    lb_client_t *c = (lb_client_t *)s;
    if (c->up && !c->s.writing) {
        c->up->s.held = 0;
    }
    tunnel_event(c, status);
}

static void tunnel_up_read(lb_stream_t *s, ssize_t nread) {
    lb_upstream_t *up = (lb_upstream_t *)s;
    tunnel_event(up->client, nread);
}

static void tunnel_up_written(lb_stream_t *s, int status) {
    lb_upstream_t *up = (lb_upstream_t *)s;
    lb_client_t *c = up->client;
    if (!up->s.writing) {
        c->s.held = 0;
    }
    tunnel_event(c, status);
}
