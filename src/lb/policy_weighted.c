/* weighted: smooth weighted round robin (the scheme nginx uses). Every pick adds each usable
 * member's weight to its current score, picks the highest score and subtracts the total from
 * it. Over a cycle each member is chosen weight times, and the heavy member's turns are spread
 * out rather than sent in a burst: weights 5,1,1 give a a b a c a a, not a a a a a b c. */
#include <assert.h>

#include "core/mem.h"
#include "lb/policy.h"

typedef struct swrr_state {
    size_t count;
    int64_t current[]; /* one score per member */
} swrr_state_t;

static int swrr_init(const lb_view_t *view, void **state) {
    swrr_state_t *s = mem_calloc(1, sizeof *s + view->count * sizeof(int64_t));
    s->count = view->count;
    *state = s;
    return 0;
}

static int swrr_pick(const lb_view_t *view, void *state, const lb_pick_t *ctx) {
    swrr_state_t *s = state;
    assert(s && s->count == view->count);
    int best = -1;
    int64_t total = 0;
    for (size_t i = 0; i < view->count; i++) {
        if (!lb_member_usable(view, i, ctx)) {
            continue;
        }
        s->current[i] += view->members[i].weight;
        total += view->members[i].weight;
        if (best < 0 || s->current[i] > s->current[best]) {
            best = (int)i;
        }
    }
    if (best >= 0) {
        s->current[best] -= total;
    }
    return best;
}

static void swrr_free(void *state) { mem_free(state); }

const lb_policy_t lb_policy_weighted = {"weighted", swrr_init, swrr_pick, swrr_free};
