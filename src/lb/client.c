/* lb client: frontend connections: timers, server choice, closing, access log (worker.h). */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/worker.h"

static void client_timer_cb(uv_timer_t *t) {
    lb_client_t *c = t->data;
    c->timer_due = 0;
    int64_t now = (int64_t)uv_now(c->w->loop);
    if (c->deadline == INT64_MAX || c->phase == LB_C_CLOSING) {
        return;
    }
    if (c->deadline > now) {
        c->timer_due = c->deadline;
        uv_timer_start(&c->timer, client_timer_cb, (uint64_t)(c->deadline - now), 0);
        return;
    }
    if (c->phase == LB_C_LINGER) {
        lb_client_close(c);
    } else if (c->phase == LB_C_TUNNEL) {
        lb_tunnel_abort(c);
    } else if (c->fe->conf.mode == LB_MODE_HTTP) {
        lb_http_timeout(c);
    } else {
        lb_tcp_connected(c, UV_ETIMEDOUT);
    }
}

void lb_client_deadline(lb_client_t *c, uint32_t ms) {
    int64_t now = (int64_t)uv_now(c->w->loop);
    c->deadline = now + ms;
    /* Moving a deadline later only stores it: the armed timer re-arms when it fires. */
    if (c->timer_due == 0 || c->deadline < c->timer_due) {
        c->timer_due = c->deadline;
        uv_timer_start(&c->timer, client_timer_cb, ms, 0);
    }
}

static void client_closed(uv_handle_t *h) {
    lb_client_t *c = h->data;
    if (--c->closes > 0) {
        return;
    }
    lb_worker_t *w = c->w;
    if (c->prev) {
        c->prev->next = c->next;
    } else {
        w->clients = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    w->client_count--;
    lb_state_unref(c->state);
    mem_free(c);
    if (w->draining && w->client_count == 0) {
        lb_worker_drain(w, 0);
    }
}

void lb_client_close(lb_client_t *c) {
    if (c->phase == LB_C_CLOSING) {
        return;
    }
    log_debug("lb", "client %s closed in phase %d (request done %d, response started %d, "
                    "done %d)", c->ip, c->phase, c->req_done, c->resp_started, c->resp_done);
    c->phase = LB_C_CLOSING;
    lb_client_unassign(c);
    if (c->up) {
        lb_upstream_close(c->up);
    }
    c->closes = 2;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, client_closed);
    lb_stream_close(&c->s, client_closed);
}

void lb_client_assign(lb_client_t *c, lb_server_t *s) {
    assert(!c->server);
    c->server = s;
    atomic_fetch_add_explicit(&s->active, 1, memory_order_relaxed);
    lb_counter_add(&s->per_thread[c->w->id].requests, 1);
}

void lb_client_unassign(lb_client_t *c) {
    if (c->server) {
        atomic_fetch_sub_explicit(&c->server->active, 1, memory_order_relaxed);
        c->server = NULL;
    }
}

void lb_client_attach(lb_client_t *c, lb_upstream_t *up) {
    assert(!c->up);
    c->up = up;
    up->client = c;
    up->state = LB_U_BUSY;
}

/* Lingering close: after a last response the client may still be sending (an oversized
 * head, an unread body). Closing with unread bytes would send a reset that can destroy the
 * response before the client reads it, so the write side is shut first and what still arrives
 * is dropped until the client closes or LB_LINGER_MS pass. */
static void linger_read(lb_stream_t *s, ssize_t nread) {
    s->head = s->tail;
    if (nread < 0) {
        lb_client_close((lb_client_t *)s);
    }
}

static void linger_written(lb_stream_t *s, int status) {
    if (status < 0) {
        lb_client_close((lb_client_t *)s);
        return;
    }
    if (s->shut == 0) {
        lb_stream_shutdown(s); /* FIN after the response; called again when it is done */
    }
}

void lb_client_reply_error(lb_client_t *c, int status) {
    if (c->phase == LB_C_CLOSING || c->phase == LB_C_LINGER) {
        return;
    }
    assert(!c->s.writing);
    c->status = status;
    if (c->up) {
        lb_upstream_close(c->up);
    }
    lb_client_unassign(c);
    lb_client_log(c);
    c->phase = LB_C_LINGER;
    c->s.on_read = linger_read;
    c->s.on_written = linger_written;
    c->s.want_read = 1;
    c->s.retain = 0;
    c->s.head = c->s.tail;
    uv_buf_t b = lb_worker_error(c->w, status);
    int rc = lb_stream_write(&c->s, &b, 1);
    if (rc < 0) {
        lb_client_close(c);
        return;
    }
    if (rc == 0) {
        linger_written(&c->s, 0);
    }
    lb_client_deadline(c, LB_LINGER_MS);
    lb_stream_sync(&c->s);
}

int lb_client_dispatch(lb_client_t *c, int *attached) {
    lb_worker_t *w = c->w;
    const lb_backend_t *b = c->fe->backend;
    *attached = 0;
    while (c->tries <= b->conf.retries && c->tries <= LB_RETRIES_MAX) {
        lb_pick_t ctx = {c->ip_hash, c->tried, c->tries, (int64_t)uv_now(w->loop), &w->rng};
        lb_server_t *s = lb_backend_pick(b, w->id, &ctx);
        if (!s) {
            return -1;
        }
        c->tried[c->tries++] = s;
        lb_client_assign(c, s);
        lb_upstream_t *up = c->fe->conf.mode == LB_MODE_HTTP ? lb_pool_take(w, s) : NULL;
        if (up) {
            lb_client_attach(c, up);
            *attached = 1;
            return 0;
        }
        if (lb_upstream_connect(w, s, c, &up) == 0) {
            c->up = up;
            c->phase = LB_C_CONNECTING;
            lb_client_deadline(c, b->conf.connect_timeout_ms);
            return 0;
        }
        lb_counter_add(&s->per_thread[w->id].errors, 1);
        lb_server_failed(s, &b->conf.health, ctx.now_ms);
        lb_client_unassign(c);
    }
    return -1;
}

void lb_client_log(lb_client_t *c) {
    lb_worker_t *w = c->w;
    if (w->access_fd < 0) {
        return;
    }
    time_t now = time(NULL);
    if (now != w->date_sec) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(w->date, sizeof w->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
        w->date_sec = now;
    }
    const lb_server_t *s = c->tried[c->tries ? c->tries - 1 : 0];
    uint64_t us = (uv_hrtime() - c->t_start_ns) / 1000;
    buf_printf(&w->access, "%s %s %s %s/%s \"%s %s\" %d %llu %llu.%03llums\n", w->date, c->ip,
               c->fe->conf.name, c->fe->backend->conf.name, c->tries ? s->name : "-",
               c->method[0] ? c->method : "-", c->target[0] ? c->target : "-", c->status,
               (unsigned long long)c->resp_bytes, (unsigned long long)(us / 1000),
               (unsigned long long)(us % 1000));
}
