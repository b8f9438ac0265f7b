/* leastconn: the usable member with the fewest requests in flight per unit of weight (the
 * counts are shared by all threads). Ties go round robin from a rotating start, so equal
 * servers under light load still share it. */
#include <assert.h>

#include "core/mem.h"
#include "lb/policy.h"

typedef struct lc_state {
    size_t start;
} lc_state_t;

static int lc_init(const lb_view_t *view, void **state) {
    (void)view;
    *state = mem_calloc(1, sizeof(lc_state_t));
    return 0;
}

static int lc_pick(const lb_view_t *view, void *state, const lb_pick_t *ctx) {
    lc_state_t *lc = state;
    assert(lc);
    int best = -1;
    for (size_t k = 0; k < view->count; k++) {
        size_t i = (lc->start + k) % view->count;
        if (!lb_member_usable(view, i, ctx)) {
            continue;
        }
        if (best < 0 || lb_member_load_cmp(&view->members[i], &view->members[best]) < 0) {
            best = (int)i;
        }
    }
    lc->start++;
    return best;
}

static void lc_free(void *state) { mem_free(state); }

const lb_policy_t lb_policy_leastconn = {"leastconn", lc_init, lc_pick, lc_free};
