/* lb policy: the table of algorithms and what they share (see policy.h). */
#include "lb/policy.h"

#include <assert.h>
#include <string.h>

static const lb_policy_t *const policies[] = {
    &lb_policy_roundrobin, &lb_policy_weighted, &lb_policy_leastconn,
    &lb_policy_iphash,     &lb_policy_random2,
};

const lb_policy_t *lb_policy_find(const char *name) {
    for (size_t i = 0; i < sizeof policies / sizeof policies[0]; i++) {
        if (strcmp(policies[i]->name, name) == 0) {
            return policies[i];
        }
    }
    return NULL;
}

int lb_member_usable(const lb_view_t *view, size_t i, const lb_pick_t *ctx) {
    assert(i < view->count);
    const lb_member_t *m = &view->members[i];
    if (m->weight == 0 || !lb_server_usable(m->server, ctx->now_ms)) {
        return 0;
    }
    for (size_t k = 0; k < ctx->exclude_count; k++) {
        if (ctx->exclude[k] == m->server) {
            return 0;
        }
    }
    return 1;
}

int lb_member_load_cmp(const lb_member_t *a, const lb_member_t *b) {
    int64_t la = atomic_load_explicit(&a->server->active, memory_order_relaxed);
    int64_t lb = atomic_load_explicit(&b->server->active, memory_order_relaxed);
    int64_t x = la * (int64_t)b->weight, y = lb * (int64_t)a->weight;
    return x < y ? -1 : x > y;
}

uint64_t lb_rng_next(uint64_t *state) {
    assert(*state != 0);
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}
