/* lb policy: the balancing algorithms, each a pair of functions behind one interface (as
 * nginx's upstream modules: init builds per-thread state for a set of servers, pick chooses).
 *
 * A policy sees a view (the backend's members and weights, immutable) and its own state, which
 * belongs to one event-loop thread, so pick needs no lock. Whether a member may be chosen
 * (ready, healthy, not tried already for this request) is decided in one place,
 * lb_member_usable(), so every policy treats health, drain and retries alike. Adding an
 * algorithm is one new file and one line in the table in policy.c. */
#ifndef POLIS_LB_POLICY_H
#define POLIS_LB_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "lb/server.h"

#define LB_POLICY_NAMES "roundrobin, weighted, leastconn, iphash, random2"

/* What a pick may depend on. */
typedef struct lb_pick {
    uint64_t client_hash;          /* hash of the client address (iphash) */
    lb_server_t *const *exclude;   /* servers already tried for this request */
    size_t exclude_count;
    int64_t now_ms;                /* the loop's monotonic time */
    uint64_t *rng;                 /* the thread's random generator state (random2) */
} lb_pick_t;

typedef struct lb_policy {
    const char *name;
    /* Builds this thread's state for view (may leave *state NULL). 0 or -errno. */
    int (*init)(const lb_view_t *view, void **state);
    /* Returns the index of the member to use, or -1 when none is usable. */
    int (*pick)(const lb_view_t *view, void *state, const lb_pick_t *ctx);
    void (*free)(void *state);
} lb_policy_t;

extern const lb_policy_t lb_policy_roundrobin;
extern const lb_policy_t lb_policy_weighted;
extern const lb_policy_t lb_policy_leastconn;
extern const lb_policy_t lb_policy_iphash;
extern const lb_policy_t lb_policy_random2;

/* The policy called name, or NULL. */
const lb_policy_t *lb_policy_find(const char *name);

/* Whether member i may take this request: usable server, weight > 0, not excluded. */
int lb_member_usable(const lb_view_t *view, size_t i, const lb_pick_t *ctx);

/* The requests in flight on a member divided by its weight, compared without division:
 * returns <0 when member a is less loaded than b, 0 when equal, >0 otherwise. */
int lb_member_load_cmp(const lb_member_t *a, const lb_member_t *b);

/* The next number of a thread's xorshift64* generator (state must not be 0). */
uint64_t lb_rng_next(uint64_t *state);

#endif
