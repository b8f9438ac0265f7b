/* sim: the deterministic Raft simulator (docs/ARCHITECTURE.md, "The simulator").
 *
 * One world per seed: 3 or 5 founding voters plus a spare node, a network that drops,
 * duplicates, delays, reorders and partitions (symmetric and one-way), disks whose writes take
 * time and are lost, or torn to a prefix, by a crash; clients issuing register writes, CAS and
 * ReadIndex reads. Everything, including every node's Raft PRNG, derives from the seed, and the
 * world is driven by one event queue ordered by (time, sequence), so a seed replays exactly.
 * Safety invariants are checked after every event (sim_check.c); at the end, liveness (after
 * the faults stop a leader commits a barrier that every member applies) and linearizability of
 * the client history (lincheck.c). */
#ifndef POLIS_SIM_SIM_H
#define POLIS_SIM_SIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "lincheck.h"
#include "raft/raft.h"

#define SIM_NODES_MAX 6
#define SIM_CLIENTS_MAX 5
#define SIM_KEYS 3
#define SIM_TICK_US 10000         /* one Raft tick: 10 ms of simulated time */
#define SIM_INBOX_MAX 4096        /* messages queued at a node while its disk is busy */
#define SIM_OP_TIMEOUT_US 1500000 /* a client gives up on an operation after 1.5 s */
#define SIM_LIVENESS_US 10000000  /* after healing, the cluster must converge within 10 s */
#define SIM_TRACE_TAIL 80         /* trace lines printed on a failure */

typedef struct sim_rng {
    uint64_t state;
} sim_rng_t;

static inline uint64_t sim_rand(sim_rng_t *rng) {
    uint64_t z = (rng->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline uint64_t sim_range(sim_rng_t *rng, uint64_t lo, uint64_t hi) {
    return lo + sim_rand(rng) % (hi - lo + 1);
}

/* True with probability permille / 1000. */
static inline bool sim_chance(sim_rng_t *rng, uint32_t permille) {
    return sim_rand(rng) % 1000 < permille;
}

enum sim_event_kind {
    EV_TICK = 1,
    EV_DELIVER,
    EV_DISK_DONE,
    EV_CLIENT,
    EV_CLIENT_TIMEOUT,
    EV_FAULT,
    EV_HEAL,
    EV_CHECK_DONE,
    EV_CRASH,      /* crash node, if still in the same life (epoch) */
    EV_MEMBERSHIP, /* a membership change through the current leader */
};

typedef struct sim_event {
    int64_t time;
    uint64_t seq;
    uint8_t kind;
    uint8_t node;   /* node index, or client index */
    uint32_t epoch; /* node epoch or client op number when scheduled */
    char *bytes;    /* EV_DELIVER: the encoded message */
    uint32_t len;
} sim_event_t;

typedef struct sim_kv {
    int64_t values[SIM_KEYS]; /* 0: absent */
    uint64_t applied;
    uint64_t digest; /* hash chain of every applied entry: equal digests, equal histories */
} sim_kv_t;

typedef struct sim_node {
    uint64_t id;
    bool founding;
    bool up;
    uint32_t epoch; /* bumped by each crash: events of an older life are dropped */
    uint32_t lives;
    int64_t paused_until; /* a paused process (SIGSTOP) handles nothing before this time */
    int64_t tick_us;      /* this life's tick period: clocks run at slightly different rates */
    raft_t *raft;
    /* durable state */
    raft_hard_state_t hs;
    uint64_t vote_floor; /* the term of its last reset (raft_set_vote_floor), 0 if none */
    bool has_snapshot;
    raft_snapshot_meta_t snap_meta;
    buf_t snap_data;
    raft_entry_t *dlog;
    uint64_t dlog_first; /* index of dlog[0] */
    size_t dlog_count;
    size_t dlog_cap;
    /* the Ready being persisted */
    bool persisting;
    bool sent_early; /* the Ready's messages left before it was persisted (rd.send_early) */
    raft_ready_t rd;
    uint32_t pending_ticks;
    sim_event_t *inbox;
    size_t inbox_count;
    /* volatile */
    sim_kv_t kv;
    uint64_t last_commit;
    uint64_t barrier_seq;    /* the barrier this node applied last, and its state after it */
    uint64_t barrier_digest;
    int last_role;
    uint64_t last_term;
    uint64_t checked_leader_term;
} sim_node_t;

enum sim_client_state { CL_IDLE = 0, CL_WAIT_APPLY, CL_WAIT_READ_STATE, CL_WAIT_READ_APPLY };

typedef struct sim_client {
    uint32_t id;
    int state;
    uint32_t op_number; /* bumped per operation: stale timeouts are dropped */
    int node;           /* node index the operation went to */
    int kind;           /* enum lincheck_kind */
    int key;
    int64_t arg1;
    int64_t arg2;
    int64_t invoke;
    uint64_t seq;
    uint64_t index; /* proposal index, or read index */
    uint64_t term;
    uint64_t ctx;
    int64_t last_seen[SIM_KEYS];
} sim_client_t;

typedef struct sim_params {
    uint32_t voters;
    uint32_t nodes;
    uint32_t clients;
    uint32_t heartbeat_ticks;
    bool pre_vote;
    bool check_quorum;
    uint32_t msg_bytes_max;
    uint32_t inflight_max;
    uint32_t chunk_bytes;
    uint32_t apply_bytes_max;
    uint32_t uncommitted_bytes_max;
    uint32_t log_keep;
    uint32_t log_keep_bytes; /* 0: no byte bound on the tail kept */
    uint32_t snapshot_every; /* entries applied between local snapshots */
    uint32_t snapshot_pad;   /* filler bytes in a snapshot, so it takes several chunks */
    int64_t delay_min_us;
    int64_t delay_max_us;
    uint32_t long_delay_permille;
    uint32_t drop_permille;
    uint32_t dup_permille;
    int64_t disk_max_us;
    int64_t chaos_us;       /* length of the fault phase */
    int64_t fault_every_us; /* mean gap between fault events */
    uint32_t weight_partition;
    uint32_t weight_crash;
    uint32_t weight_membership;
    uint32_t weight_transfer;
    uint32_t crash_leader_permille;
    uint32_t weight_pause;
    bool snapshot_external; /* the nodes keep snapshot bytes, the core only their length */
    bool async_commit;      /* async replication: lost writes allowed, convergence required */
} sim_params_t;

/* What a campaign adds up across seeds (the features the runs exercised). */
typedef struct sim_totals {
    raft_stats_t raft;
    uint64_t seeds;
    uint64_t failures;
    uint64_t sim_us;
    uint64_t events;
    uint64_t messages;
    uint64_t dropped;
    uint64_t duplicated;
    uint64_t crashes;
    uint64_t pauses;
    uint64_t torn_writes;
    uint64_t restarts;
    uint64_t partitions;
    uint64_t one_way_partitions;
    uint64_t leader_changes;
    uint64_t early_sends;
    uint64_t external_chunks; /* snapshot chunks a node filled from its own bytes */
    uint64_t async_worlds;
    uint64_t resets;          /* async replicas that discarded a diverged state */
    uint64_t transfers_completed;
    uint64_t conf_add_learner;
    uint64_t conf_add_voter;
    uint64_t conf_remove;
    uint64_t snapshots_taken;
    uint64_t ops_ok;
    uint64_t ops_fail;
    uint64_t ops_unknown;
    uint64_t reads_ok;
    uint64_t follower_reads_ok;
    uint64_t cas_ok;
} sim_totals_t;

typedef struct sim_world {
    uint64_t seed;
    sim_rng_t rng;
    sim_params_t p;
    int64_t now;
    uint64_t next_seq;
    sim_event_t *heap;
    size_t heap_count;
    size_t heap_cap;
    sim_node_t nodes[SIM_NODES_MAX];
    bool blocked[SIM_NODES_MAX][SIM_NODES_MAX]; /* blocked[a][b]: a's messages to b are lost */
    uint32_t drop_permille;
    uint32_t dup_permille;
    uint32_t long_delay_permille;
    bool healed;
    int64_t heal_time;
    uint64_t barrier_index; /* where the newest barrier was proposed */
    uint64_t barrier_term;
    uint64_t barrier_seq;
    int64_t barrier_time;
    uint64_t barrier_applied; /* index at which the newest barrier was applied (committed) */
    bool stop_clients;        /* the barrier is applied everywhere: no new operations */
    bool done;
    sim_client_t clients[SIM_CLIENTS_MAX];
    uint64_t next_ctx;
    lincheck_t *history;
    /* invariant registries (sim_check.c) */
    uint64_t *leader_of_term;
    size_t leader_of_term_cap;
    uint64_t *committed_term; /* by index, 0 unknown */
    uint64_t *committed_in;   /* by index: the term in which its commit was first seen */
    uint64_t *applied_digest; /* by index: digest after applying it */
    size_t committed_cap;
    uint64_t max_committed;
    struct sim_entry_rec *entries; /* (index, term) -> content */
    size_t entries_cap;
    size_t entries_count;
    uint64_t transfer_target;
    uint64_t transfer_term;
    /* failure and trace */
    bool failed;
    buf_t failure;
    bool trace;
    buf_t trace_buf; /* when tracing into memory */
    bool trace_to_stdout;
    sim_totals_t totals;
} sim_world_t;

/* sim_world.c */
void sim_world_init(sim_world_t *w, uint64_t seed, bool trace, bool trace_to_stdout);
void sim_world_free(sim_world_t *w);
/* Runs the seed to its end; 0, or -1 with w->failure saying why. */
int sim_world_run(sim_world_t *w);
void sim_schedule(sim_world_t *w, int64_t at, uint8_t kind, uint8_t node, uint32_t epoch);
void sim_tracef(sim_world_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_failf(sim_world_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_node_crash(sim_world_t *w, int n);
void sim_node_restart(sim_world_t *w, int n);
/* True when node n can take a call now (up, no Ready outstanding). */
bool sim_node_ready_for_calls(const sim_world_t *w, int n);
void sim_node_drive(sim_world_t *w, int n);
int sim_find_leader(const sim_world_t *w);

/* sim_client.c */
void sim_kv_apply(sim_world_t *w, int n, const raft_entry_t *e);
void sim_kv_snapshot(const sim_world_t *w, const sim_kv_t *kv, buf_t *out);
int sim_kv_restore(sim_kv_t *kv, const char *data, uint64_t len);
void sim_clients_start(sim_world_t *w);
void sim_client_event(sim_world_t *w, int c);
void sim_client_timeout(sim_world_t *w, int c, uint32_t op_number);
void sim_clients_on_apply(sim_world_t *w, int n, const raft_entry_t *e, int64_t result);
void sim_clients_on_read_state(sim_world_t *w, int n, const raft_read_state_t *rs);
void sim_clients_on_applied(sim_world_t *w, int n);
void sim_clients_on_crash(sim_world_t *w, int n);
bool sim_clients_idle(const sim_world_t *w);
void sim_propose_barrier(sim_world_t *w, int n);

/* sim_fault.c */
void sim_params_choose(sim_world_t *w);
void sim_fault_event(sim_world_t *w);
void sim_membership_event(sim_world_t *w);
void sim_heal(sim_world_t *w);
void sim_liveness_check(sim_world_t *w);

/* sim_check.c */
void sim_check_ready(sim_world_t *w, int n, const raft_ready_t *rd);
void sim_check_node(sim_world_t *w, int n);
void sim_check_apply(sim_world_t *w, int n, uint64_t index);
void sim_check_free(sim_world_t *w);
/* Async worlds: every member that applied the latest barrier reached the same state. */
void sim_check_convergence(sim_world_t *w);

#endif
