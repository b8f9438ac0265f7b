/* lb state: one immutable version of what the balancer serves (frontends, backends, their
 * members and policies), shared by all event-loop threads.
 *
 * A configuration change (SIGHUP, the runtime API) never edits a state: the control loop builds
 * a new one from the new config, reusing the lb_server_t of every server whose backend, name and
 * address are unchanged, and hands it to each thread. A thread adopts it between events; a
 * connection keeps a reference to the state it started a request under until the request ends,
 * so nothing it uses disappears underneath it. The last reference frees the state.
 *
 * Policy state is per thread: backend->policy_state[thread] is built by that thread when it
 * adopts the state (lb_state_prepare) and only used by it. */
#ifndef POLIS_LB_STATE_H
#define POLIS_LB_STATE_H

#include <stdatomic.h>
#include <stdint.h>

#include "lb/config.h"
#include "lb/policy.h"
#include "lb/server.h"

typedef struct lb_backend {
    lb_backend_conf_t conf; /* conf.servers is NULL here: the members are the servers */
    const lb_policy_t *policy;
    lb_view_t view;
    void **policy_state; /* [threads] */
} lb_backend_t;

typedef struct lb_frontend {
    lb_frontend_conf_t conf;
    lb_backend_t *backend;
} lb_frontend_t;

typedef struct lb_state {
    _Atomic int refs;
    uint64_t generation;
    unsigned threads;
    lb_frontend_t *frontends;
    size_t frontend_count;
    lb_backend_t *backends;
    size_t backend_count;
} lb_state_t;

/* Builds a state for cfg (validated) with one reference. Servers of old (may be NULL) with the
 * same backend, name and address are shared rather than created. */
lb_state_t *lb_state_build(const lb_config_t *cfg, const lb_state_t *old, unsigned threads);
void lb_state_ref(lb_state_t *st);
void lb_state_unref(lb_state_t *st);
/* Builds thread's policy state for every backend (call once per thread, before it picks). */
int lb_state_prepare(lb_state_t *st, unsigned thread);
/* Marks REMOVED the servers of old that next no longer has (call when next is published). */
void lb_state_retire(const lb_state_t *old, const lb_state_t *next);

lb_frontend_t *lb_state_frontend(const lb_state_t *st, const char *name);
lb_backend_t *lb_state_backend(const lb_state_t *st, const char *name);
/* The server called name in backend, or NULL. */
lb_server_t *lb_state_server(const lb_state_t *st, const char *backend, const char *name);

/* Picks a server of backend b for thread (NULL when none is usable). */
lb_server_t *lb_backend_pick(const lb_backend_t *b, unsigned thread, const lb_pick_t *ctx);

#endif
