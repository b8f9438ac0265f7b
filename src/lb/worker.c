/* lb worker: event-loop threads, listeners, accepting, state adoption, drain (see worker.h). */
#include "lb/worker.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/control.h"
#include "net/addr.h"

#define LISTEN_BACKLOG 1024

static const int error_statuses[LB_ERROR_STATUSES] = {400, 405, 408, 431, 501,
                                                      502, 503, 504, 505, 500};

static const char *error_body(int status) {
    switch (status) {
    case 400: return "bad request\n";
    case 405: return "method not allowed\n";
    case 408: return "request timeout\n";
    case 431: return "request header fields too large\n";
    case 501: return "not implemented\n";
    case 502: return "bad gateway: the server failed\n";
    case 503: return "service unavailable: no server available\n";
    case 504: return "gateway timeout: the server did not answer in time\n";
    case 505: return "HTTP version not supported\n";
    default: return "internal error\n";
    }
}

uv_buf_t lb_worker_error(lb_worker_t *w, int status) {
    for (int i = 0; i < LB_ERROR_STATUSES; i++) {
        if (w->error_status[i] == status) {
            return uv_buf_init(w->errors[i].data, (unsigned)w->errors[i].len);
        }
    }
    assert(0 && "no prepared response for this status");
    return uv_buf_init(w->errors[LB_ERROR_STATUSES - 1].data,
                       (unsigned)w->errors[LB_ERROR_STATUSES - 1].len);
}

static void sweep_cb(uv_timer_t *t) {
    lb_worker_t *w = t->data;
    lb_pool_sweep(w, (int64_t)uv_now(w->loop), 0);
    if (w->access.len > 0 && w->access_fd >= 0) {
        /* One write per flush: O_APPEND keeps lines of different threads whole. */
        ssize_t n = write(w->access_fd, w->access.data, w->access.len);
        (void)n;
        buf_clear(&w->access);
    }
}

static void wake_cb(uv_async_t *a);

int lb_worker_init(lb_worker_t *w, lb_t *lb, unsigned id, uv_loop_t *loop, int access_fd) {
    assert(w && lb);
    memset(w, 0, sizeof *w);
    w->id = id;
    w->lb = lb;
    if (!loop) {
        int rc = uv_loop_init(&w->own_loop);
        if (rc < 0) {
            return rc;
        }
        loop = &w->own_loop;
    }
    w->loop = loop;
    w->access_fd = access_fd;
    buf_init(&w->access);
    w->rng = lb_mix64(uv_hrtime() ^ ((uint64_t)id << 32) ^ (uint64_t)getpid()) | 1;
    for (int i = 0; i < LB_ERROR_STATUSES; i++) {
        const char *body = error_body(error_statuses[i]);
        buf_init(&w->errors[i]);
        http_reply(&w->errors[i], error_statuses[i], "text/plain", body, strlen(body), 1);
        w->error_status[i] = error_statuses[i];
    }
    http_head_init(&w->head, w->headers, LB_HEADERS_LIMIT);
    uv_mutex_init(&w->mailbox_lock);
    uv_async_init(loop, &w->wake, wake_cb);
    w->wake.data = w;
    uv_timer_init(loop, &w->sweep);
    w->sweep.data = w;
    uv_timer_start(&w->sweep, sweep_cb, LB_SWEEP_MS, LB_SWEEP_MS);
    uv_timer_init(loop, &w->grace);
    w->grace.data = w;
    return 0;
}

static void worker_thread(void *arg) {
    lb_worker_t *w = arg;
    char name[16];
    snprintf(name, sizeof name, "lb-worker-%u", w->id);
    pthread_setname_np(pthread_self(), name);
    uv_run(w->loop, UV_RUN_DEFAULT);
}

int lb_worker_start(lb_worker_t *w) {
    assert(w->id > 0);
    return uv_thread_create(&w->thread, worker_thread, w);
}

/* ---- accepting ---- */

static void on_connection(uv_stream_t *server, int status) {
    lb_listener_t *l = server->data;
    lb_worker_t *w = l->w;
    if (status < 0 || w->draining) {
        return;
    }
    const lb_frontend_t *fe = l->fe;
    uint32_t cap = fe->conf.head_max > LB_BUF_SIZE ? fe->conf.head_max : LB_BUF_SIZE;
    lb_client_t *c = mem_alloc(sizeof *c + cap);
    memset(c, 0, sizeof *c);
    lb_stream_init(&c->s, (char *)(c + 1), cap);
    uv_tcp_init(w->loop, &c->s.tcp);
    uv_timer_init(w->loop, &c->timer);
    c->s.tcp.data = c;
    c->timer.data = c;
    c->w = w;
    c->state = w->state;
    lb_state_ref(c->state);
    c->fe = fe;
    c->deadline = INT64_MAX;
    c->next = w->clients;
    if (w->clients) {
        w->clients->prev = c;
    }
    w->clients = c;
    w->client_count++;
    if (uv_accept(server, (uv_stream_t *)&c->s.tcp) < 0) {
        lb_client_close(c);
        return;
    }
    lb_counter_add(&w->accepted, 1);
    uv_tcp_nodelay(&c->s.tcp, 1);
    struct sockaddr_storage peer;
    int len = sizeof peer;
    if (uv_tcp_getpeername(&c->s.tcp, (struct sockaddr *)&peer, &len) == 0) {
        c->ip_len = (uint8_t)net_addr_host((struct sockaddr *)&peer, c->ip, sizeof c->ip);
        const void *raw = peer.ss_family == AF_INET6
                              ? (const void *)&((struct sockaddr_in6 *)&peer)->sin6_addr
                              : (const void *)&((struct sockaddr_in *)&peer)->sin_addr;
        c->ip_hash = lb_hash64(raw, peer.ss_family == AF_INET6 ? 16 : 4);
    }
    if (fe->conf.mode == LB_MODE_HTTP) {
        lb_http_start(c);
    } else {
        lb_tcp_start(c);
    }
}

static void listener_closed(uv_handle_t *h) { mem_free(h); /* tcp is the first member */ }

static int listener_open(lb_worker_t *w, const lb_frontend_t *fe, lb_listener_t **out) {
    int fd;
    int rc = net_listen_socket((const struct sockaddr *)&fe->conf.addr, w->lb->threads > 1,
                               LISTEN_BACKLOG, &fd);
    if (rc < 0) {
        return rc;
    }
    lb_listener_t *l = mem_calloc(1, sizeof *l);
    uv_tcp_init(w->loop, &l->tcp);
    l->tcp.data = l;
    l->w = w;
    l->addr = fe->conf.addr;
    l->fe = fe;
    rc = uv_tcp_open(&l->tcp, fd);
    if (rc < 0) {
        close(fd); /* not adopted by the handle */
    } else {
        rc = uv_listen((uv_stream_t *)&l->tcp, LISTEN_BACKLOG, on_connection);
    }
    if (rc < 0) {
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
        return rc;
    }
    *out = l;
    return 0;
}

static lb_listener_t *listener_find(lb_listener_t *list, const struct sockaddr *addr) {
    for (lb_listener_t *l = list; l; l = l->next) {
        if (net_addr_equal((const struct sockaddr *)&l->addr, addr)) {
            return l;
        }
    }
    return NULL;
}

static void listeners_close(lb_listener_t *list) {
    lb_listener_t *next;
    for (lb_listener_t *l = list; l; l = next) {
        next = l->next;
        uv_close((uv_handle_t *)&l->tcp, listener_closed);
    }
}

int lb_worker_adopt(lb_worker_t *w, lb_state_t *st) {
    assert(w && st);
    int rc = lb_state_prepare(st, w->id);
    if (rc < 0) {
        return rc;
    }
    lb_listener_t *fresh = NULL;
    for (size_t i = 0; i < st->frontend_count; i++) {
        const struct sockaddr *addr = (const struct sockaddr *)&st->frontends[i].conf.addr;
        if (listener_find(w->listeners, addr)) {
            continue;
        }
        lb_listener_t *l;
        rc = listener_open(w, &st->frontends[i], &l);
        if (rc < 0) {
            log_warning("lb", "cannot listen on %s: %s", st->frontends[i].conf.listen,
                        strerror(-rc));
            listeners_close(fresh);
            return rc;
        }
        l->next = fresh;
        fresh = l;
    }
    /* Committed: keep listeners whose address stays, close the others, add the new ones. */
    lb_listener_t *kept = fresh, *next;
    for (lb_listener_t *l = w->listeners; l; l = next) {
        next = l->next;
        const lb_frontend_t *fe = NULL;
        for (size_t i = 0; i < st->frontend_count && !fe; i++) {
            if (net_addr_equal((struct sockaddr *)&st->frontends[i].conf.addr,
                               (struct sockaddr *)&l->addr)) {
                fe = &st->frontends[i];
            }
        }
        if (!fe) {
            uv_close((uv_handle_t *)&l->tcp, listener_closed);
            continue;
        }
        l->fe = fe;
        l->next = kept;
        kept = l;
    }
    w->listeners = kept;
    lb_state_ref(st);
    lb_state_t *old = w->state;
    w->state = st;
    lb_state_unref(old);
    return 0;
}

/* ---- mailbox ---- */

void lb_worker_post(lb_worker_t *w, lb_state_t *st, int stop) {
    uv_mutex_lock(&w->mailbox_lock);
    if (st) {
        lb_state_ref(st);
        if (w->mailbox_state) {
            lb_state_unref(w->mailbox_state);
        }
        w->mailbox_state = st;
    }
    w->mailbox_stop |= stop;
    uv_mutex_unlock(&w->mailbox_lock);
    uv_async_send(&w->wake);
}

static void wake_cb(uv_async_t *a) {
    lb_worker_t *w = a->data;
    uv_mutex_lock(&w->mailbox_lock);
    lb_state_t *st = w->mailbox_state;
    int stop = w->mailbox_stop;
    w->mailbox_state = NULL;
    uv_mutex_unlock(&w->mailbox_lock);
    if (st && !w->draining) {
        if (lb_worker_adopt(w, st) < 0) {
            log_warning("lb", "worker %u kept its previous state", w->id);
        }
    }
    lb_state_unref(st);
    if (stop && !w->draining) {
        lb_worker_drain(w, w->lb->config->grace_ms);
    }
}

/* ---- drain and stop ---- */

static void grace_cb(uv_timer_t *t) {
    lb_worker_t *w = t->data;
    lb_client_t *next;
    for (lb_client_t *c = w->clients; c; c = next) {
        next = c->next;
        lb_client_close(c);
    }
}

static void worker_finish(lb_worker_t *w) {
    if (w->finished) {
        return;
    }
    w->finished = 1;
    sweep_cb(&w->sweep); /* flush the access log */
    lb_pool_sweep(w, 0, 1);
    uv_close((uv_handle_t *)&w->sweep, NULL);
    uv_close((uv_handle_t *)&w->grace, NULL);
    uv_close((uv_handle_t *)&w->wake, NULL);
}

void lb_worker_drain(lb_worker_t *w, uint32_t grace_ms) {
    if (!w->draining) {
        w->draining = 1;
        listeners_close(w->listeners);
        w->listeners = NULL;
        lb_pool_sweep(w, 0, 1);
        lb_client_t *next;
        for (lb_client_t *c = w->clients; c; c = next) {
            next = c->next;
            if (c->phase == LB_C_IDLE && c->s.head == c->s.tail && !c->s.writing) {
                lb_client_close(c); /* idle keep-alive: nothing in flight */
            } else {
                c->keep_alive = 0;
            }
        }
        uv_timer_start(&w->grace, grace_cb, grace_ms, 0);
    }
    if (w->client_count == 0) {
        worker_finish(w);
    }
}

void lb_worker_destroy(lb_worker_t *w) {
    if (w->loop == &w->own_loop) {
        uv_loop_close(&w->own_loop);
    }
    uv_mutex_destroy(&w->mailbox_lock);
    lb_state_unref(w->mailbox_state);
    lb_state_unref(w->state);
    buf_free(&w->access);
    for (int i = 0; i < LB_ERROR_STATUSES; i++) {
        buf_free(&w->errors[i]);
    }
}
