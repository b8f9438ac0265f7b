/* roundrobin: each request to the next usable member in turn, weights ignored (but a member
 * of weight 0 gets nothing). The state is the thread's cursor. */
#include <assert.h>

#include "core/mem.h"
#include "lb/policy.h"

typedef struct rr_state {
    size_t next;
} rr_state_t;

static int rr_init(const lb_view_t *view, void **state) {
    (void)view;
    *state = mem_calloc(1, sizeof(rr_state_t));
    return 0;
}

static int rr_pick(const lb_view_t *view, void *state, const lb_pick_t *ctx) {
    rr_state_t *rr = state;
    assert(rr);
    for (size_t k = 0; k < view->count; k++) {
        size_t i = (rr->next + k) % view->count;
        if (lb_member_usable(view, i, ctx)) {
            rr->next = i + 1;
            return (int)i;
        }
    }
    return -1;
}

static void rr_free(void *state) { mem_free(state); }

const lb_policy_t lb_policy_roundrobin = {"roundrobin", rr_init, rr_pick, rr_free};
