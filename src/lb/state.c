/* lb state: building, sharing and retiring versions of the balancer's state (see state.h). */
#include "lb/state.h"

#include <assert.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"

static lb_server_t *old_server(const lb_state_t *old, const char *backend,
                               const lb_server_conf_t *conf) {
    lb_server_t *s = old ? lb_state_server(old, backend, conf->name) : NULL;
    if (s && net_addr_equal((struct sockaddr *)&s->addr, (struct sockaddr *)&conf->addr)) {
        return s;
    }
    return NULL;
}

static void backend_build(lb_backend_t *b, const lb_backend_conf_t *conf, const lb_state_t *old,
                          unsigned threads) {
    b->conf = *conf;
    b->conf.servers = NULL;
    b->conf.server_count = 0;
    b->conf.server_cap = 0;
    b->policy = lb_policy_find(conf->balance);
    assert(b->policy);
    b->view.count = conf->server_count;
    b->view.members = mem_calloc(conf->server_count ? conf->server_count : 1, sizeof(lb_member_t));
    for (size_t i = 0; i < conf->server_count; i++) {
        const lb_server_conf_t *sc = &conf->servers[i];
        lb_server_t *s = old_server(old, conf->name, sc);
        if (s) {
            lb_server_ref(s);
        } else {
            s = lb_server_new(conf->name, sc, threads);
        }
        b->view.members[i] = (lb_member_t){s, sc->weight};
        b->view.total_weight += sc->weight;
    }
    b->policy_state = mem_calloc(threads, sizeof(void *));
}

lb_state_t *lb_state_build(const lb_config_t *cfg, const lb_state_t *old, unsigned threads) {
    assert(cfg);
    assert(threads >= 1 && threads <= LB_THREADS_MAX);
    lb_state_t *st = mem_calloc(1, sizeof *st);
    atomic_init(&st->refs, 1);
    st->generation = old ? old->generation + 1 : 1;
    st->threads = threads;
    st->backend_count = cfg->backend_count;
    st->backends = mem_calloc(cfg->backend_count ? cfg->backend_count : 1, sizeof(lb_backend_t));
    for (size_t i = 0; i < cfg->backend_count; i++) {
        backend_build(&st->backends[i], &cfg->backends[i], old, threads);
    }
    st->frontend_count = cfg->frontend_count;
    st->frontends = mem_calloc(cfg->frontend_count ? cfg->frontend_count : 1,
                               sizeof(lb_frontend_t));
    for (size_t i = 0; i < cfg->frontend_count; i++) {
        st->frontends[i].conf = cfg->frontends[i];
        st->frontends[i].backend = lb_state_backend(st, cfg->frontends[i].backend);
        assert(st->frontends[i].backend); /* the config was validated */
    }
    return st;
}

void lb_state_ref(lb_state_t *st) { atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed); }

void lb_state_unref(lb_state_t *st) {
    if (!st || atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1) {
        return;
    }
    for (size_t i = 0; i < st->backend_count; i++) {
        lb_backend_t *b = &st->backends[i];
        for (unsigned t = 0; t < st->threads; t++) {
            if (b->policy_state[t]) {
                b->policy->free(b->policy_state[t]);
            }
        }
        for (size_t k = 0; k < b->view.count; k++) {
            lb_server_unref(b->view.members[k].server);
        }
        mem_free(b->view.members);
        mem_free(b->policy_state);
    }
    mem_free(st->backends);
    mem_free(st->frontends);
    mem_free(st);
}

int lb_state_prepare(lb_state_t *st, unsigned thread) {
    assert(thread < st->threads);
    for (size_t i = 0; i < st->backend_count; i++) {
        lb_backend_t *b = &st->backends[i];
        if (b->policy_state[thread]) {
            continue;
        }
        int rc = b->policy->init(&b->view, &b->policy_state[thread]);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

void lb_state_retire(const lb_state_t *old, const lb_state_t *next) {
    for (size_t i = 0; old && i < old->backend_count; i++) {
        const lb_backend_t *b = &old->backends[i];
        for (size_t k = 0; k < b->view.count; k++) {
            lb_server_t *s = b->view.members[k].server;
            if (lb_state_server(next, s->backend, s->name) != s) {
                atomic_store_explicit(&s->admin, LB_SERVER_REMOVED, memory_order_relaxed);
                log_notice("lb", "server %s/%s removed", s->backend, s->name);
            }
        }
    }
}

lb_frontend_t *lb_state_frontend(const lb_state_t *st, const char *name) {
    for (size_t i = 0; i < st->frontend_count; i++) {
        if (strcmp(st->frontends[i].conf.name, name) == 0) {
            return &st->frontends[i];
        }
    }
    return NULL;
}

lb_backend_t *lb_state_backend(const lb_state_t *st, const char *name) {
    for (size_t i = 0; i < st->backend_count; i++) {
        if (strcmp(st->backends[i].conf.name, name) == 0) {
            return &st->backends[i];
        }
    }
    return NULL;
}

lb_server_t *lb_state_server(const lb_state_t *st, const char *backend, const char *name) {
    const lb_backend_t *b = lb_state_backend(st, backend);
    for (size_t i = 0; b && i < b->view.count; i++) {
        if (strcmp(b->view.members[i].server->name, name) == 0) {
            return b->view.members[i].server;
        }
    }
    return NULL;
}

lb_server_t *lb_backend_pick(const lb_backend_t *b, unsigned thread, const lb_pick_t *ctx) {
    assert(b->policy_state);
    if (b->view.count == 0) {
        return NULL;
    }
    int i = b->policy->pick(&b->view, b->policy_state[thread], ctx);
    return i < 0 ? NULL : b->view.members[i].server;
}
