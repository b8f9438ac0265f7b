/* lb server: one backend server as the balancer's threads share it, and the views the
 * balancing policies pick from.
 *
 * An lb_server_t lives as long as anything refers to it (a state, a pooled or busy backend
 * connection, a health checker): reload and the runtime API keep the same object for a server
 * whose name and address did not change, so its counters and health survive. Its identity and
 * address never change; what threads share is atomic (administrative state, health verdicts,
 * requests in flight). Each thread has its own block of counters and its own idle pool, which
 * only that thread writes. */
#ifndef POLIS_LB_SERVER_H
#define POLIS_LB_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lb/config.h"
#include "lb/stats.h"

typedef enum lb_admin_state {
    LB_SERVER_READY = 0, /* takes traffic when healthy */
    LB_SERVER_DRAIN = 1, /* no new requests or connections; in-flight ones finish */
    LB_SERVER_REMOVED = 2,
} lb_admin_state_t;

struct lb_upstream;

/* One thread's share of a server: counters and its pool of idle keep-alive connections. */
typedef struct lb_server_thread {
    lb_counter_t connections; /* backend connections opened */
    lb_counter_t requests;    /* HTTP requests, or TCP sessions, sent to the server */
    lb_counter_t errors;      /* failed connects, broken or timed-out exchanges */
    lb_counter_t retries;     /* attempts moved from this server to another */
    lb_counter_t responses[5];
    lb_histogram_t latency;   /* request start to response end, microseconds */
    struct lb_upstream *idle; /* the pool, most recently used first */
    uint32_t idle_count;
} __attribute__((aligned(64))) lb_server_thread_t;

typedef struct lb_server {
    char name[LB_NAME_MAX];
    char backend[LB_NAME_MAX];
    char address[NET_ADDR_TEXT_MAX];
    struct sockaddr_storage addr;
    uint64_t hash; /* of the name: seeds its points on the iphash ring */
    _Atomic int refs;
    _Atomic int admin;          /* lb_admin_state_t */
    _Atomic int check_up;       /* verdict of active checks (1 without checks) */
    _Atomic uint32_t fails;     /* consecutive passive failures */
    _Atomic int64_t down_until; /* passive: out until this monotonic ms */
    _Atomic int32_t active;     /* requests (HTTP) or connections (TCP) in flight, all threads */
    unsigned threads;
    lb_server_thread_t *per_thread; /* [threads] */
    void *check;                    /* the health checker (control loop only) */
} lb_server_t;

/* A server as one backend's member, with its weight in this version of the backend. */
typedef struct lb_member {
    lb_server_t *server;
    uint32_t weight;
} lb_member_t;

/* The members a policy picks from (immutable once built). */
typedef struct lb_view {
    lb_member_t *members;
    size_t count;
    uint32_t total_weight;
} lb_view_t;

/* A new server with one reference. */
lb_server_t *lb_server_new(const char *backend, const lb_server_conf_t *conf, unsigned threads);
void lb_server_ref(lb_server_t *s);
/* Drops a reference; the last one frees the server (its pools must be empty by then). */
void lb_server_unref(lb_server_t *s);

/* Whether the server may take a new request now (ready, healthy, not in passive cooldown). */
static inline int lb_server_usable(const lb_server_t *s, int64_t now_ms) {
    lb_server_t *m = (lb_server_t *)s;
    return atomic_load_explicit(&m->admin, memory_order_relaxed) == LB_SERVER_READY &&
           atomic_load_explicit(&m->check_up, memory_order_relaxed) &&
           atomic_load_explicit(&m->down_until, memory_order_relaxed) <= now_ms;
}

/* Passive health: a failed connect or a 5xx. After h->passive_fails in a row the server is out
 * for h->passive_cooldown_ms. Returns 1 when this failure took it out. */
int lb_server_failed(lb_server_t *s, const lb_health_conf_t *h, int64_t now_ms);
/* Passive health: a success resets the count. */
static inline void lb_server_succeeded(lb_server_t *s) {
    if (atomic_load_explicit(&s->fails, memory_order_relaxed) != 0) {
        atomic_store_explicit(&s->fails, 0, memory_order_relaxed);
    }
}

/* State name for pages and the API: "up", "down", "cooldown", "drain". */
const char *lb_server_state_name(const lb_server_t *s, int64_t now_ms);

uint64_t lb_hash64(const void *p, size_t n);
/* splitmix64: the mixing step of the hashes and of the per-thread random generator. */
static inline uint64_t lb_mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

#endif
