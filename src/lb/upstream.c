/* lb upstream: backend connections and the per-thread keep-alive pools (see worker.h).
 *
 * A pool is a per-server, per-thread stack (most recently used first: its connection is the one
 * least likely to have been closed by the server's own idle timeout). An idle connection keeps
 * reading, so a close by the server, or any stray byte, takes it out of the pool at once. */
#include <assert.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/worker.h"

static void idle_read(lb_stream_t *s, ssize_t nread);
static void idle_written(lb_stream_t *s, int status) { (void)s, (void)status; }

static void pool_unlink(lb_upstream_t *up) {
    lb_server_thread_t *t = &up->server->per_thread[up->w->id];
    if (up->pool_prev) {
        up->pool_prev->pool_next = up->pool_next;
    } else {
        t->idle = up->pool_next;
    }
    if (up->pool_next) {
        up->pool_next->pool_prev = up->pool_prev;
    }
    if (up->idle_prev) {
        up->idle_prev->idle_next = up->idle_next;
    } else {
        up->w->idle = up->idle_next;
    }
    if (up->idle_next) {
        up->idle_next->idle_prev = up->idle_prev;
    }
    up->pool_prev = up->pool_next = up->idle_prev = up->idle_next = NULL;
    t->idle_count--;
}

lb_upstream_t *lb_pool_take(lb_worker_t *w, lb_server_t *s) {
    lb_upstream_t *up = s->per_thread[w->id].idle;
    if (!up) {
        return NULL;
    }
    assert(up->state == LB_U_IDLE);
    pool_unlink(up);
    up->state = LB_U_BUSY;
    return up;
}

void lb_pool_put(lb_upstream_t *up, uint32_t keepalive, int64_t now_ms) {
    assert(up->state == LB_U_BUSY);
    assert(!up->s.writing);
    lb_server_thread_t *t = &up->server->per_thread[up->w->id];
    up->client = NULL;
    int admin = atomic_load_explicit(&up->server->admin, memory_order_relaxed);
    if (t->idle_count >= keepalive || admin == LB_SERVER_REMOVED || up->w->draining ||
        up->s.eof || up->s.head != up->s.tail) {
        lb_upstream_close(up);
        return;
    }
    up->state = LB_U_IDLE;
    up->reused = 1;
    up->idle_since = now_ms;
    up->s.head = up->s.tail = 0;
    up->s.held = 0;
    up->s.want_read = 1;
    up->s.on_read = idle_read;
    up->s.on_written = idle_written;
    up->pool_prev = NULL;
    up->pool_next = t->idle;
    if (t->idle) {
        t->idle->pool_prev = up;
    }
    t->idle = up;
    up->idle_prev = NULL;
    up->idle_next = up->w->idle;
    if (up->w->idle) {
        up->w->idle->idle_prev = up;
    }
    up->w->idle = up;
    t->idle_count++;
    lb_stream_sync(&up->s);
}

/* Anything from an idle connection (a close, an error, stray bytes) ends it. */
static void idle_read(lb_stream_t *s, ssize_t nread) {
    (void)nread;
    lb_upstream_close((lb_upstream_t *)s);
}

void lb_pool_sweep(lb_worker_t *w, int64_t now_ms, int all) {
    lb_upstream_t *next;
    for (lb_upstream_t *up = w->idle; up; up = next) {
        next = up->idle_next;
        const lb_backend_t *b = w->state ? lb_state_backend(w->state, up->server->backend) : NULL;
        int admin = atomic_load_explicit(&up->server->admin, memory_order_relaxed);
        if (all || !b || admin != LB_SERVER_READY ||
            now_ms - up->idle_since >= (int64_t)b->conf.pool_timeout_ms) {
            lb_upstream_close(up);
        }
    }
}

static void upstream_closed(uv_handle_t *h) {
    lb_upstream_t *up = (lb_upstream_t *)h;
    lb_server_unref(up->server);
    mem_free(up);
}

void lb_upstream_close(lb_upstream_t *up) {
    if (up->s.closing) {
        return;
    }
    if (up->state == LB_U_IDLE) {
        pool_unlink(up);
    }
    if (up->client) {
        up->client->s.held = 0; /* a write of client bytes dies with this connection */
        up->client->up = NULL;
        up->client = NULL;
    }
    lb_stream_close(&up->s, upstream_closed);
}

static void upstream_connect_cb(uv_connect_t *req, int status) {
    lb_upstream_t *up = req->data;
    if (up->s.closing) {
        return; /* the client gave up (timeout, close) */
    }
    lb_client_t *c = up->client;
    assert(c);
    if (status == 0) {
        uv_tcp_nodelay(&up->s.tcp, 1);
        up->state = LB_U_BUSY;
        lb_counter_add(&up->server->per_thread[up->w->id].connections, 1);
    }
    if (c->fe->conf.mode == LB_MODE_HTTP) {
        lb_http_connected(c, status);
    } else {
        lb_tcp_connected(c, status);
    }
}

int lb_upstream_connect(lb_worker_t *w, lb_server_t *s, lb_client_t *c, lb_upstream_t **out) {
    assert(w && s);
    assert(c);
    lb_upstream_t *up = mem_alloc(sizeof *up + LB_BUF_SIZE);
    memset(up, 0, sizeof *up);
    lb_stream_init(&up->s, (char *)(up + 1), LB_BUF_SIZE);
    int rc = uv_tcp_init(w->loop, &up->s.tcp);
    if (rc < 0) {
        mem_free(up);
        return rc;
    }
    up->s.tcp.data = up;
    up->w = w;
    up->server = s;
    lb_server_ref(s);
    up->client = c;
    up->state = LB_U_CONNECTING;
    up->creq.data = up;
    rc = uv_tcp_connect(&up->creq, &up->s.tcp, (const struct sockaddr *)&s->addr,
                        upstream_connect_cb);
    if (rc < 0) {
        up->client = NULL;
        lb_upstream_close(up);
        return rc;
    }
    *out = up;
    return 0;
}
