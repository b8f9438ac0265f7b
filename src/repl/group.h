/* group: the driver of one Raft group hosted by a node — the wiring between the pure core
 * (src/raft), the durable log (src/storage/persist.h), the cluster bus (src/cluster/bus.h) and
 * a state machine given as callbacks (the keyspace, for the data group).
 *
 * It owns: the core, the group's directory (its persist_t: the Raft log is the write-ahead
 * log), a tick timer, the member address table, the snapshot file the core's snapshot refers
 * to. Per Ready (repl_group_process): install a received snapshot, write the entries
 * (truncating a conflicting tail first) and flush them with one fsync, save the hard state when
 * term or vote changed, and only then send the messages (persistence before send); then apply
 * the committed entries through the callback, hand out ReadIndex answers once applied, advance.
 * Snapshots are keyspace dumps taken by a forked child at the applied index, with the
 * membership and member addresses as metadata; the core holds only their length
 * (snapshot_external) and the driver streams chunks from the file to followers.
 *
 * A node may host several groups (later: a shard group and the config group): each has its own
 * id, directory and core; the node routes REPL_MSG_RAFT payloads by group id (wire.h) and
 * calls repl_group_receive. Single-threaded: everything runs on the loop's thread.
 * Design: docs/ARCHITECTURE.md, "Replication". */
#ifndef POLIS_REPL_GROUP_H
#define POLIS_REPL_GROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/bus.h"
#include "core/io.h"
#include "raft/raft.h"
#include "repl/wire.h"
#include "storage/persist.h"

#define REPL_TICK_MS 10              /* one Raft tick */
#define REPL_ELECTION_TICKS 10       /* election timeout, randomized in [10, 20) ticks */
#define REPL_LOG_KEEP_ENTRIES 10000  /* entries kept behind a snapshot for slow followers, */
#define REPL_LOG_KEEP_SHARE 4        /* holding at most a quarter of snapshot_log_bytes */
#define REPL_CHUNK_BYTES (1u << 20)  /* snapshot chunk on the bus */
#define REPL_READS_MAX 4096          /* ReadIndex answers waiting for the applied index */
#define REPL_HARDSTATE_SAVE_MS 1000  /* the commit index is saved at most this often */
#define REPL_ENTRY_MAX_BUS (BUS_FRAME_PAYLOAD_MAX - (64u << 10)) /* largest entry a member
                                                                   can receive in one frame */

typedef struct repl_group repl_group_t;

/* The state machine. Every callback runs on the loop's thread, from repl_group_process or
 * repl_group_open, never during another callback. */
typedef struct repl_sm {
    void *ctx;
    /* Replaces the state with a snapshot stream (what dump wrote). 0 or negative. */
    int (*load)(void *ctx, io_read_fn *read, void *read_ctx);
    /* Writes the state (runs in a forked child for background snapshots: must only read). */
    int (*dump)(void *ctx, io_write_fn *write, void *write_ctx);
    /* Empties the state (an async replica resynchronising). */
    void (*clear)(void *ctx);
    /* Applies one committed entry, in index order: a command (type NORMAL, len > 0), a
     * leader's no-op (NORMAL, len 0) or a membership change (CONF). */
    void (*apply)(void *ctx, const raft_entry_t *e);
    /* The ReadIndex request ctx is answered and the state has applied its read point. */
    void (*read_ready)(void *ctx, uint64_t read_ctx);
    /* The role, the known leader (0: none) or the term changed. */
    void (*role_changed)(void *ctx, int role, uint64_t leader, uint64_t term);
    /* May be NULL. Called on a leader after it applied committed entries and before it writes
     * new ones to disk: the node may send the replies those entries produced now (committed
     * entries are durable on a majority, whatever this disk write does). */
    void (*flush)(void *ctx);
} repl_sm_t;

typedef struct repl_group_options {
    uv_loop_t *loop;
    uint32_t group_id;
    uint64_t id; /* this node */
    /* The founding voters (in force at index 0; every founding member gets the same list; a
     * node that joins later gets none and learns its group from the leader). */
    const uint64_t *founders;
    size_t founders_count;
    /* Addresses known from the command line (--peers); others come from the log. */
    const repl_member_t *peers;
    size_t peers_count;
    const char *dir;
    enum fsync_policy fsync;
    uint64_t segment_bytes;
    uint64_t snapshot_log_bytes; /* snapshot once this much log was written since the last */
    bool async_commit;           /* --replication async */
    uint64_t seed;               /* election timeout randomness */
    bus_t *bus;                  /* NULL until the node has peers (repl_group_set_bus) */
    repl_sm_t sm;
} repl_group_options_t;

/* Opens the directory, loads the newest snapshot into the state machine, restores the core
 * from the log, and starts ticking. A group whose only voter is this node elects itself at
 * once, and what its log had committed is applied before this returns. 0, or negative with
 * the reason in err. */
int repl_group_open(const repl_group_options_t *o, repl_group_t **out, char *err,
                    size_t err_size);
/* Stops the timer and closes the log; the memory is freed once the loop ran the timer's close
 * callback (keep running the loop). NULL is allowed. */
void repl_group_close(repl_group_t *g);

/* Gives the group a bus (created when a single node gains its first peer). */
void repl_group_set_bus(repl_group_t *g, bus_t *bus);

/* A REPL_MSG_RAFT payload for this group (after repl_raft_split). 0, or -EBADMSG. */
int repl_group_receive(repl_group_t *g, uint64_t from, const uint8_t *raft, size_t len);

/* Handles every Ready (see the file comment); call before sleeping, after the turn's proposals.
 * A leader applies the entries a Ready commits before writing that Ready's new entries (they
 * are durable on a majority already), so its replies need not wait for its own fsync.
 * Returns how many Readies were handled. */
int repl_group_process(repl_group_t *g);

/* Periodic work (about every 100 ms): log fsync under everysec, snapshots (automatic, and
 * adopting a finished one: compaction), saving the commit index, promoting caught-up
 * learners, keeping bus peers equal to the members. */
void repl_group_poll(repl_group_t *g, int64_t now_ms);

/* ---- Proposals (leader) ---- */

/* Appends a command; it commits when the entry at *index comes out of apply with *term.
 * 0, RAFT_ENOTLEADER, RAFT_ETRANSFER, -ENOBUFS (too much uncommitted), -EMSGSIZE, -EIO. */
int repl_group_propose(repl_group_t *g, const void *data, size_t len, uint64_t *index,
                       uint64_t *term);
/* Whether a proposal would be taken now (size limits aside): 0, RAFT_ENOTLEADER,
 * RAFT_ETRANSFER or -EIO. */
int repl_group_can_propose(const repl_group_t *g);
/* Proposes a membership change. ADD_LEARNER with `promote` set adds a learner the leader
 * makes a voter once it has caught up (m gives its address); REMOVE needs only m->id. On a
 * single-member group whose log was forgotten, first writes a snapshot (in the foreground).
 * 0 or a Raft error (raft_propose_conf_change), -EIO. */
int repl_group_propose_member(repl_group_t *g, int type, const repl_member_t *m, bool promote,
                              uint64_t *index, uint64_t *term);
/* Hands leadership to target (0: the most up-to-date other voter). 0 or a Raft error. */
int repl_group_transfer(repl_group_t *g, uint64_t target);
/* Requests a read point; sm.read_ready(ctx) follows once it is applied (or never: leadership
 * changed; the caller times out). 0, RAFT_ENOTLEADER, -ENOBUFS. */
int repl_group_read_index(repl_group_t *g, uint64_t ctx);
/* True when a linearizable read may be served from the applied state right now without a
 * ReadIndex round: this node leads a group where it is the only voter, has committed an entry
 * of its term, and has applied everything committed. */
bool repl_group_read_local(const repl_group_t *g);

/* SAVE (background = 0) or BGSAVE: a snapshot at the applied index. 0, -EBUSY, negative. */
int repl_group_snapshot(repl_group_t *g, int background);

/* ---- Status ---- */

typedef struct repl_status {
    int role;        /* enum raft_role; RAFT_FOLLOWER when failed */
    bool learner;    /* this node is a learner of the configuration */
    bool member;     /* this node is in the configuration */
    uint64_t leader; /* 0 unknown */
    uint64_t term;
    uint64_t commit;
    uint64_t applied;
    uint64_t last_index;
    uint64_t snapshot_index;
    uint64_t log_bytes; /* entry bytes held in memory */
    uint64_t resets;    /* async resynchronisations since start */
    uint64_t transfer_target;
    raft_conf_t conf;
    raft_stats_t stats;
    const char *failure; /* NULL, or why the group stopped (storage failed) */
} repl_status_t;

void repl_group_status(const repl_group_t *g, repl_status_t *st);
/* The leader's view of member id (raft_get_progress). */
int repl_group_progress(const repl_group_t *g, uint64_t id, raft_progress_info_t *info);
/* Member id's address, or NULL when unknown. Valid until the next repl_group_* call. */
const repl_member_t *repl_group_member(const repl_group_t *g, uint64_t id);
persist_t *repl_group_persist(const repl_group_t *g);
/* NULL, or why the group stopped (its log failed). Cheap: for every command. */
const char *repl_group_failure(const repl_group_t *g);
/* Payload bytes of the entries the core holds in memory (not counted for maxmemory). */
uint64_t repl_group_log_bytes(const repl_group_t *g);

#endif
