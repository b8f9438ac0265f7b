/* lb health: active health checks, run by the control plane on the main loop (control.h).
 *
 * One checker per server of a backend with `check tcp|http`. Every interval it probes: a TCP
 * connect, or an HTTP GET of the configured path whose status must be 2xx or 3xx, within the
 * timeout. `fall` failures in a row take an up server down; `rise` successes in a row bring a
 * down server back. The verdict is one atomic flag on the server (check_up) that every
 * worker's picks read, so a down server gets no new traffic from any thread. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/control.h"

#define CHECK_RESPONSE_MAX 512
#define CHECK_REQUEST_MAX (LB_PATH_MAX + 128)

typedef struct checker {
    lb_health_t *health;
    lb_server_t *server; /* referenced */
    lb_health_conf_t conf;
    uv_timer_t tick;
    uv_timer_t deadline;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    char request[CHECK_REQUEST_MAX];
    size_t request_len;
    char response[CHECK_RESPONSE_MAX];
    size_t response_len;
    uint32_t successes, failures;
    uint8_t probing;  /* a probe is running (tcp handle open) */
    uint8_t stopping; /* closing its handles */
    uint8_t closes;   /* handles still closing */
    uint8_t seen;     /* kept by the last sync */
    struct checker *next;
} checker_t;

struct lb_health {
    lb_t *lb;
    checker_t *checkers;
};

lb_health_t *lb_health_new(lb_t *lb) {
    lb_health_t *h = mem_calloc(1, sizeof *h);
    h->lb = lb;
    return h;
}

static void verdict(checker_t *k, int ok, const char *why) {
    lb_server_t *s = k->server;
    int up = atomic_load_explicit(&s->check_up, memory_order_relaxed);
    if (ok) {
        k->failures = 0;
        k->successes++;
        if (!up && k->successes >= k->conf.rise) {
            /* Back from down: an older passive cooldown no longer says anything. */
            atomic_store_explicit(&s->down_until, 0, memory_order_relaxed);
            atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
            atomic_store_explicit(&s->check_up, 1, memory_order_relaxed);
            log_notice("lb", "server %s/%s is up (%u checks passed)", s->backend, s->name,
                       k->successes);
        }
    } else {
        k->successes = 0;
        k->failures++;
        if (up && k->failures >= k->conf.fall) {
            atomic_store_explicit(&s->check_up, 0, memory_order_relaxed);
            log_warning("lb", "server %s/%s is down (%u checks failed, last: %s)", s->backend,
                        s->name, k->failures, why);
        }
    }
}

static void checker_closed(uv_handle_t *h) {
    checker_t *k = h->data;
    if (--k->closes > 0) {
        return;
    }
    k->server->check = NULL;
    lb_server_unref(k->server);
    mem_free(k);
}

static void probe_closed(uv_handle_t *h) {
    checker_t *k = h->data;
    k->probing = 0;
    if (k->stopping) {
        checker_closed(h);
    }
}

/* Ends the running probe with a verdict. */
static void probe_end(checker_t *k, int ok, const char *why) {
    if (!k->probing || uv_is_closing((uv_handle_t *)&k->tcp)) {
        return;
    }
    uv_timer_stop(&k->deadline);
    uv_close((uv_handle_t *)&k->tcp, probe_closed);
    verdict(k, ok, why);
}

static void probe_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    checker_t *k = h->data;
    b->base = k->response + k->response_len;
    b->len = sizeof k->response - k->response_len;
}

static void probe_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    (void)b;
    checker_t *k = st->data;
    if (nread < 0) {
        probe_end(k, 0, "closed before a status line");
        return;
    }
    k->response_len += (size_t)nread;
    /* "HTTP/1.x NNN": the status is all a check needs. */
    if (k->response_len < 12 && k->response_len < sizeof k->response) {
        return;
    }
    const char *r = k->response;
    int status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
    int ok = memcmp(r, "HTTP/1.", 7) == 0 && r[8] == ' ' && status >= 200 && status < 400;
    probe_end(k, ok, ok ? "" : "bad status");
}

static void probe_connected(uv_connect_t *req, int status) {
    checker_t *k = req->data;
    if (status < 0) {
        probe_end(k, 0, status == UV_ECANCELED ? "timeout" : uv_strerror(status));
        return;
    }
    if (k->conf.kind == LB_CHECK_TCP) {
        probe_end(k, 1, "");
        return;
    }
    uv_buf_t b = uv_buf_init(k->request, (unsigned)k->request_len);
    if (uv_write(&k->wreq, (uv_stream_t *)&k->tcp, &b, 1, NULL) < 0 ||
        uv_read_start((uv_stream_t *)&k->tcp, probe_alloc, probe_read) < 0) {
        probe_end(k, 0, "write failed");
    }
}

static void probe_timeout(uv_timer_t *t) {
    checker_t *k = t->data;
    probe_end(k, 0, "timeout");
}

static void probe_start(uv_timer_t *t) {
    checker_t *k = t->data;
    if (k->probing || k->stopping) {
        return;
    }
    lb_t *lb = k->health->lb;
    uv_tcp_init(&lb->loop, &k->tcp);
    k->tcp.data = k;
    k->creq.data = k;
    k->probing = 1;
    k->response_len = 0;
    if (uv_tcp_connect(&k->creq, &k->tcp, (const struct sockaddr *)&k->server->addr,
                       probe_connected) < 0) {
        probe_end(k, 0, "connect failed");
        return;
    }
    uv_timer_start(&k->deadline, probe_timeout, k->conf.timeout_ms, 0);
}

static void checker_configure(checker_t *k, const lb_health_conf_t *conf, uint64_t delay_ms) {
    k->conf = *conf;
    int n = snprintf(k->request, sizeof k->request,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: polis-lb-check\r\n"
                     "Connection: close\r\n\r\n",
                     conf->path, k->server->address);
    k->request_len = n > 0 && (size_t)n < sizeof k->request ? (size_t)n : 0;
    uv_timer_start(&k->tick, probe_start, delay_ms, conf->interval_ms);
}

static checker_t *checker_new(lb_health_t *h, lb_server_t *s, const lb_health_conf_t *conf,
                              uint64_t delay_ms) {
    checker_t *k = mem_calloc(1, sizeof *k);
    k->health = h;
    k->server = s;
    lb_server_ref(s);
    s->check = k;
    uv_timer_init(&h->lb->loop, &k->tick);
    uv_timer_init(&h->lb->loop, &k->deadline);
    k->tick.data = k;
    k->deadline.data = k;
    checker_configure(k, conf, delay_ms);
    k->next = h->checkers;
    h->checkers = k;
    return k;
}

static void checker_stop(checker_t *k) {
    k->stopping = 1;
    k->closes = 2 + k->probing;
    uv_close((uv_handle_t *)&k->tick, checker_closed);
    uv_close((uv_handle_t *)&k->deadline, checker_closed);
    if (k->probing && !uv_is_closing((uv_handle_t *)&k->tcp)) {
        uv_close((uv_handle_t *)&k->tcp, probe_closed);
    }
}

void lb_health_sync(lb_health_t *h, const lb_state_t *st) {
    for (checker_t *k = h->checkers; k; k = k->next) {
        k->seen = 0;
    }
    for (size_t i = 0; i < st->backend_count; i++) {
        const lb_backend_t *b = &st->backends[i];
        for (size_t m = 0; m < b->view.count; m++) {
            lb_server_t *s = b->view.members[m].server;
            checker_t *k = s->check;
            if (b->conf.health.kind == LB_CHECK_NONE) {
                atomic_store_explicit(&s->check_up, 1, memory_order_relaxed);
                continue;
            }
            /* Spread the first probes over the interval rather than firing them together. */
            uint64_t delay = b->conf.health.interval_ms * m / (b->view.count + 1);
            if (!k) {
                k = checker_new(h, s, &b->conf.health, delay);
            } else if (memcmp(&k->conf, &b->conf.health, sizeof k->conf) != 0) {
                checker_configure(k, &b->conf.health, delay);
            }
            k->seen = 1;
        }
    }
    checker_t **link = &h->checkers;
    while (*link) {
        checker_t *k = *link;
        if (k->seen) {
            link = &k->next;
            continue;
        }
        *link = k->next;
        atomic_store_explicit(&k->server->check_up, 1, memory_order_relaxed);
        checker_stop(k);
    }
}

void lb_health_stop(lb_health_t *h) {
    checker_t *next;
    for (checker_t *k = h->checkers; k; k = next) {
        next = k->next;
        checker_stop(k);
    }
    mem_free(h);
}
