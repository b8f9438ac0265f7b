/* lb server: shared backend servers, passive health (see server.h). */
#include "lb/server.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

uint64_t lb_hash64(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a finaliser for the avalanche */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return lb_mix64(h);
}

lb_server_t *lb_server_new(const char *backend, const lb_server_conf_t *conf, unsigned threads) {
    assert(conf);
    assert(threads >= 1 && threads <= LB_THREADS_MAX);
    lb_server_t *s = mem_calloc(1, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", conf->name);
    snprintf(s->backend, sizeof s->backend, "%s", backend);
    snprintf(s->address, sizeof s->address, "%s", conf->address);
    s->addr = conf->addr;
    s->hash = lb_hash64(s->name, strlen(s->name));
    atomic_init(&s->refs, 1);
    atomic_init(&s->admin, LB_SERVER_READY);
    atomic_init(&s->check_up, 1);
    s->threads = threads;
    s->per_thread = mem_alloc(threads * sizeof *s->per_thread);
    memset(s->per_thread, 0, threads * sizeof *s->per_thread);
    return s;
}

void lb_server_ref(lb_server_t *s) { atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed); }

void lb_server_unref(lb_server_t *s) {
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (unsigned i = 0; i < s->threads; i++) {
        assert(s->per_thread[i].idle == NULL);
    }
    assert(s->check == NULL);
    mem_free(s->per_thread);
    mem_free(s);
}

int lb_server_failed(lb_server_t *s, const lb_health_conf_t *h, int64_t now_ms) {
    if (h->passive_fails == 0) {
        return 0;
    }
    uint32_t n = atomic_fetch_add_explicit(&s->fails, 1, memory_order_relaxed) + 1;
    if (n < h->passive_fails) {
        return 0;
    }
    atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
    atomic_store_explicit(&s->down_until, now_ms + (int64_t)h->passive_cooldown_ms,
                          memory_order_relaxed);
    log_warning("lb", "server %s/%s out for %u ms after %u failures in a row", s->backend,
                s->name, h->passive_cooldown_ms, n);
    return 1;
}

const char *lb_server_state_name(const lb_server_t *s, int64_t now_ms) {
    lb_server_t *m = (lb_server_t *)s;
    int admin = atomic_load_explicit(&m->admin, memory_order_relaxed);
    if (admin == LB_SERVER_DRAIN) {
        return "drain";
    }
    if (admin == LB_SERVER_REMOVED) {
        return "removed";
    }
    if (!atomic_load_explicit(&m->check_up, memory_order_relaxed)) {
        return "down";
    }
    if (atomic_load_explicit(&m->down_until, memory_order_relaxed) > now_ms) {
        return "cooldown";
    }
    return "up";
}
