/* random2: the power of two random choices (Mitzenmacher): draw two distinct usable members at
 * random and take the one with fewer requests in flight per unit of weight. Nearly as even as
 * leastconn, but no scan of every member and no herd onto one momentarily idle server. */
#include <assert.h>

#include "lb/policy.h"

/* Tries to draw a usable member other than `not`; after a few misses scans from a random
 * start, so a view with few usable members is still handled in bounded time. */
static int draw(const lb_view_t *view, const lb_pick_t *ctx, int not) {
    for (int attempt = 0; attempt < 4; attempt++) {
        int i = (int)(lb_rng_next(ctx->rng) % view->count);
        if (i != not && lb_member_usable(view, (size_t)i, ctx)) {
            return i;
        }
    }
    size_t start = (size_t)(lb_rng_next(ctx->rng) % view->count);
    for (size_t k = 0; k < view->count; k++) {
        int i = (int)((start + k) % view->count);
        if (i != not && lb_member_usable(view, (size_t)i, ctx)) {
            return i;
        }
    }
    return -1;
}

static int r2_init(const lb_view_t *view, void **state) {
    (void)view;
    *state = NULL;
    return 0;
}

static int r2_pick(const lb_view_t *view, void *state, const lb_pick_t *ctx) {
    (void)state;
    assert(ctx->rng);
    if (view->count == 0) {
        return -1;
    }
    int a = draw(view, ctx, -1);
    if (a < 0) {
        return -1;
    }
    int b = draw(view, ctx, a);
    if (b < 0) {
        return a;
    }
    return lb_member_load_cmp(&view->members[b], &view->members[a]) < 0 ? b : a;
}

static void r2_free(void *state) { (void)state; }

const lb_policy_t lb_policy_random2 = {"random2", r2_init, r2_pick, r2_free};
