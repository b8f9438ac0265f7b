/* iphash: consistent hashing of the client address on a ring (Karger et al.). Each member owns
 * POINTS_PER_WEIGHT x weight points placed by hashing its name, so every balancer instance and
 * every thread builds the same ring. A client goes to the owner of the first point at or after
 * its hash; if that member is not usable, to the next usable one clockwise. Hence the same
 * client reaches the same healthy server, and adding one server to N moves only the clients
 * whose arcs it takes, about 1/(N+1) of them, all to the new server. */
#include <assert.h>
#include <stdlib.h>

#include "core/mem.h"
#include "lb/policy.h"

#define POINTS_PER_WEIGHT 160
#define RING_POINTS_MAX (1u << 20)

typedef struct point {
    uint64_t hash;
    uint32_t member;
} point_t;

typedef struct ring {
    size_t count;
    point_t points[];
} ring_t;

static int point_cmp(const void *a, const void *b) {
    const point_t *x = a, *y = b;
    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return x->member < y->member ? -1 : x->member > y->member;
}

static int ring_init(const lb_view_t *view, void **state) {
    assert(view->count <= LB_SERVERS_MAX); /* ring_pick's bitmap of members seen */
    uint64_t total = (uint64_t)view->total_weight * POINTS_PER_WEIGHT;
    uint32_t per_weight = POINTS_PER_WEIGHT;
    if (total > RING_POINTS_MAX) {
        per_weight = (uint32_t)(RING_POINTS_MAX / view->total_weight);
        per_weight = per_weight ? per_weight : 1;
    }
    size_t n = 0;
    for (size_t i = 0; i < view->count; i++) {
        n += (size_t)view->members[i].weight * per_weight;
    }
    ring_t *r = mem_alloc(sizeof *r + n * sizeof(point_t));
    r->count = 0;
    for (size_t i = 0; i < view->count; i++) {
        const lb_member_t *m = &view->members[i];
        for (uint32_t k = 0; k < m->weight * per_weight; k++) {
            r->points[r->count++] = (point_t){lb_mix64(m->server->hash + k), (uint32_t)i};
        }
    }
    assert(r->count == n);
    qsort(r->points, r->count, sizeof(point_t), point_cmp);
    *state = r;
    return 0;
}

/* Index of the first point whose hash is >= h (count when none: wrap to 0). */
static size_t ring_find(const ring_t *r, uint64_t h) {
    size_t lo = 0, hi = r->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].hash < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static int ring_pick(const lb_view_t *view, void *state, const lb_pick_t *ctx) {
    const ring_t *r = state;
    assert(r);
    if (r->count == 0) {
        return -1;
    }
    uint64_t seen[(LB_SERVERS_MAX + 63) / 64] = {0};
    size_t distinct = 0;
    size_t at = ring_find(r, ctx->client_hash);
    for (size_t k = 0; k < r->count && distinct < view->count; k++) {
        uint32_t m = r->points[(at + k) % r->count].member;
        if (seen[m / 64] & (1ull << (m % 64))) {
            continue;
        }
        if (lb_member_usable(view, m, ctx)) {
            return (int)m;
        }
        seen[m / 64] |= 1ull << (m % 64);
        distinct++;
    }
    return -1;
}

static void ring_free(void *state) { mem_free(state); }

const lb_policy_t lb_policy_iphash = {"iphash", ring_init, ring_pick, ring_free};
