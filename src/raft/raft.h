/* raft: the consensus core of polis, a pure deterministic state machine.
 *
 * The core does no I/O, reads no clock and draws randomness only from a PRNG seeded through its
 * config. Inputs: raft_tick (time), raft_step (a message from a peer), raft_propose,
 * raft_propose_conf_change, raft_read_index, raft_transfer_leader, raft_compact. Outputs come
 * out of raft_ready as one batch and are acknowledged by raft_advance. The design, and how a
 * node drives the core, are in docs/ARCHITECTURE.md ("Raft core").
 *
 * Driving loop (one instance; a process may hold any number of them, they share nothing):
 *
 *     raft_step / raft_tick / raft_propose ...        as events arrive
 *     while (raft_has_ready(r)) {
 *         raft_ready(r, &rd);
 *         1. persist, in this order: rd.snapshot (replacing the whole durable log),
 *            rd.entries (truncating the durable log at rd.entries[0].index first), then
 *            rd.hard_state; fsync when rd.must_sync;
 *         2. only then send rd.messages (persistence before send: a vote or an
 *            acknowledgement must never leave the node before what it promises is durable;
 *            when rd.send_early is set, a leader's messages may be sent before step 1);
 *         3. install rd.snapshot into the state machine, apply rd.committed in order,
 *            answer rd.read_states once the state machine has applied their index;
 *         4. raft_advance(r, &rd);
 *     }
 *
 * Between raft_ready and raft_advance the caller calls no other mutating function on that
 * instance: every pointer in a Ready points into the core's memory and stays valid exactly
 * until raft_advance. If persisting fails, the caller must neither send nor apply, and should
 * destroy the instance (the node stops serving the group).
 */
#ifndef POLIS_RAFT_RAFT_H
#define POLIS_RAFT_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits. Every size a peer or caller controls is checked against one of these. */
#define RAFT_MEMBERS_MAX 32                          /* voters + learners of one group */
#define RAFT_ENTRY_BYTES_MAX (64u << 20)             /* payload of one log entry */
#define RAFT_MSG_ENTRIES_MAX 4096u                   /* entries in one append message */
#define RAFT_MSG_BYTES_MAX (64u << 20)               /* bound for config.msg_bytes_max */
#define RAFT_INFLIGHT_MAX 256u                       /* bound for config.inflight_max */
#define RAFT_READS_MAX 4096u                         /* pending ReadIndex requests (leader) */
#define RAFT_CONF_CONTEXT_MAX 1024u                  /* opaque context of a conf change */
#define RAFT_SNAPSHOT_CHUNK_MAX (16u << 20)          /* bytes of one InstallSnapshot chunk */
#define RAFT_SNAPSHOT_BYTES_MAX ((uint64_t)64 << 30) /* bound for config.snapshot_bytes_max */
#define RAFT_INDEX_MAX ((uint64_t)1 << 62)           /* larger log indexes are refused */
#define RAFT_TERM_MAX ((uint64_t)1 << 62)            /* larger terms are refused */

/* Errors specific to Raft, beside negative errno values (-EINVAL, -EMSGSIZE, -ENOBUFS, ...). */
#define RAFT_ENOTLEADER (-1001)   /* this node is not the leader (raft_status.leader hints) */
#define RAFT_ETRANSFER (-1002)    /* a leadership transfer is in progress */
#define RAFT_ECONFPENDING (-1003) /* a conf change is uncommitted, or no entry of this term is
                                     on a quorum */
#define RAFT_ESNAPSHOT (-1004)    /* entries were forgotten (raft_forget): take a snapshot first */

enum raft_role { RAFT_FOLLOWER = 0, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* a command for the state machine (empty: a leader's no-op) */
    RAFT_ENTRY_CONF = 1,   /* a membership change: decode with raft_conf_entry_decode */
};

typedef struct raft_entry {
    uint64_t term;
    uint64_t index;
    uint32_t type; /* enum raft_entry_type */
    uint32_t len;
    char *data; /* owned by whoever made the entry; in a Ready, by the core (read only) */
} raft_entry_t;

/* A membership configuration. Ids are non-zero; a node is a voter or a learner, not both. */
typedef struct raft_conf {
    uint32_t voters_count;
    uint32_t learners_count;
    uint64_t voters[RAFT_MEMBERS_MAX];
    uint64_t learners[RAFT_MEMBERS_MAX];
} raft_conf_t;

enum raft_conf_change_type {
    RAFT_CONF_ADD_VOTER = 1,   /* add a voter, or promote a learner */
    RAFT_CONF_ADD_LEARNER = 2, /* add a learner, or demote a voter */
    RAFT_CONF_REMOVE = 3,      /* remove a voter or a learner */
};

/* What a RAFT_ENTRY_CONF entry holds: the change and the whole configuration it produces. */
typedef struct raft_conf_change {
    uint32_t type; /* enum raft_conf_change_type */
    uint64_t node;
    raft_conf_t conf;    /* the configuration after the change */
    const char *context; /* opaque bytes given to raft_propose_conf_change (an address...) */
    uint32_t context_len;
} raft_conf_change_t;

typedef struct raft_hard_state {
    uint64_t term;
    uint64_t vote;   /* candidate voted for in term, 0 for none */
    uint64_t commit; /* may be written without fsync: losing it only delays applying */
} raft_hard_state_t;

typedef struct raft_snapshot_meta {
    uint64_t index; /* last log index the snapshot covers */
    uint64_t term;  /* term of that entry */
    raft_conf_t conf;
} raft_snapshot_meta_t;

typedef struct raft_snapshot {
    raft_snapshot_meta_t meta;
    const char *data; /* the state machine's bytes, opaque to the core */
    uint64_t len;
} raft_snapshot_t;

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,     /* index/log_term: the entry before entries; commit */
    RAFT_MSG_APPEND_RESP,    /* index: last matching index, or with REJECT the rejected index,
                                reject_hint/log_term: where the follower's log may match */
    RAFT_MSG_HEARTBEAT,      /* commit; context: the leader's latest ReadIndex sequence */
    RAFT_MSG_HEARTBEAT_RESP, /* context echoed */
    RAFT_MSG_VOTE,           /* index/log_term: the candidate's last entry */
    RAFT_MSG_VOTE_RESP,      /* REJECT or granted */
    RAFT_MSG_PRE_VOTE,       /* as VOTE, for term + 1, changing no state */
    RAFT_MSG_PRE_VOTE_RESP,
    RAFT_MSG_SNAPSHOT,        /* snapshot meta, snapshot_size, chunk at snapshot_offset */
    RAFT_MSG_SNAPSHOT_RESP,   /* index: snapshot index; context: next offset expected */
    RAFT_MSG_TIMEOUT_NOW,     /* leadership transfer: campaign now */
    RAFT_MSG_READ_INDEX,      /* follower -> leader; context: the follower's request ctx */
    RAFT_MSG_READ_INDEX_RESP, /* index: the read index; context: the request ctx */
    RAFT_MSG_TYPE_END
};

#define RAFT_FLAG_REJECT 1u   /* a response that refuses */
#define RAFT_FLAG_TRANSFER 2u /* a vote request caused by leadership transfer (ignores lease) */

/* A message between peers. In a Ready its pointers point into the core (valid until
 * raft_advance); from raft_msg_decode, into the decoded buffer. */
typedef struct raft_msg {
    uint32_t type; /* enum raft_msg_type */
    uint32_t flags;
    uint64_t from;
    uint64_t to;
    uint64_t term;
    uint64_t log_term;
    uint64_t index;
    uint64_t commit;
    uint64_t reject_hint;
    uint64_t context;
    const raft_entry_t *entries; /* APPEND only */
    uint32_t entries_count;
    uint32_t chunk_len; /* SNAPSHOT only, from here on */
    uint64_t snapshot_size;
    uint64_t snapshot_offset;
    const char *chunk;
    raft_snapshot_meta_t snapshot;
} raft_msg_t;

/* The answer to raft_read_index: once the state machine has applied `index`, a read issued
 * with request ctx `ctx` may be served from it and is linearizable. */
typedef struct raft_read_state {
    uint64_t ctx;
    uint64_t index;
} raft_read_state_t;

typedef struct raft_ready {
    bool hard_state_changed;
    bool must_sync; /* entries, snapshot, term or vote changed: fsync before sending */
    /* The messages may leave before this Ready is persisted: the node leads, its term and vote
     * are durable already, and no snapshot is to be installed. A leader counts its own entries
     * toward commit only once the Ready is advanced, so followers may write them while the
     * leader does (Raft dissertation 10.2.1); one disk write less on the commit path. */
    bool send_early;
    bool soft_state_changed;
    raft_hard_state_t hard_state;
    uint64_t leader; /* soft state: current leader (0 unknown) and role */
    int role;
    const raft_snapshot_t *snapshot; /* NULL, or one to persist and install */
    const raft_entry_t *entries;     /* to persist, contiguous indexes */
    size_t entries_count;
    const raft_msg_t *messages; /* to send after persisting all of the above */
    size_t messages_count;
    const raft_entry_t *committed; /* to apply, in order */
    size_t committed_count;
    const raft_read_state_t *read_states;
    size_t read_states_count;
} raft_ready_t;

typedef struct raft_config {
    uint64_t id;              /* this node, non-zero */
    const uint64_t *voters;   /* the group's founding configuration (in force at index 0): */
    size_t voters_count;      /* every founding member gets the same lists; a node joining */
    const uint64_t *learners; /* later gets empty ones and learns its group from the leader */
    size_t learners_count;
    uint32_t election_ticks;  /* election timeout, randomized in [e, 2e) */
    uint32_t heartbeat_ticks; /* < election_ticks */
    uint64_t seed;            /* PRNG seed for the randomized timeouts */
    bool pre_vote;            /* campaign with a pre-vote round first */
    bool check_quorum;        /* leader steps down without a quorum; followers keep a lease */
    uint32_t msg_bytes_max;   /* entry bytes per append message (one entry may exceed it) */
    uint32_t inflight_max;    /* append messages in flight per follower, 1..RAFT_INFLIGHT_MAX */
    uint32_t snapshot_chunk_bytes;  /* InstallSnapshot chunk size, 1..RAFT_SNAPSHOT_CHUNK_MAX */
    uint64_t snapshot_bytes_max;    /* largest snapshot this node accepts from a leader */
    uint64_t apply_bytes_max;       /* committed entry bytes per Ready (at least one entry) */
    uint64_t uncommitted_bytes_max; /* proposals are refused (-ENOBUFS) past this */
    uint64_t log_keep_entries;      /* raft_compact keeps this many entries before the snapshot */
    uint64_t log_keep_bytes;        /* ... holding at most this many bytes (0: no bound) */
    /* Asynchronous replication: the leader commits its entries as soon as it holds them durably,
     * without waiting for a quorum, so it may lose its last writes on failover. A node whose
     * log then conflicts with a new leader's at or below its commit index (it applied entries
     * the group lost) stops and reports raft_needs_reset instead of refusing the leader. Every
     * member of a group must use the same setting. */
    bool async_commit;
    /* The node keeps the snapshot's bytes (in a file): raft_compact and raft_restore take only
     * its length (data NULL), SNAPSHOT messages come out with chunk == NULL and the node fills
     * chunk_len bytes from snapshot_offset of the snapshot at snapshot.index before encoding,
     * and a received snapshot's bytes are freed once the Ready handing them out is advanced. */
    bool snapshot_external;
} raft_config_t;

/* Counters, for tests, the simulator's coverage report and INFO. */
typedef struct raft_stats {
    uint64_t pre_votes_started;
    uint64_t elections_started;
    uint64_t elections_won;
    uint64_t votes_ignored_in_lease; /* pre-vote/vote requests ignored: a leader is alive */
    uint64_t check_quorum_stepdowns;
    uint64_t appends_rejected;  /* as follower: append refused on log mismatch */
    uint64_t entries_truncated; /* as follower: conflicting entries removed */
    uint64_t snapshot_chunks_sent;
    uint64_t snapshots_installed;
    uint64_t conf_changes_proposed;
    uint64_t transfers_started;
    uint64_t transfers_timeout_now; /* TIMEOUT_NOW sent to the target */
    uint64_t transfers_aborted;
    uint64_t reads_served_leader; /* ReadIndex answered for a local request */
    uint64_t reads_served_remote; /* ReadIndex answered for a follower's request */
    uint64_t messages_invalid;    /* stepped messages refused as malformed */
    uint64_t retransmits;         /* a follower's pipeline restarted after a stall */
    uint64_t resets_needed;       /* async_commit: applied state found diverged */
} raft_stats_t;

typedef struct raft_status {
    uint64_t id;
    int role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t commit;
    uint64_t applied;
    uint64_t stable;      /* last index persisted (acknowledged by raft_advance) */
    uint64_t first_index; /* first entry held in memory */
    uint64_t last_index;
    uint64_t snapshot_index;
    uint64_t snapshot_term;
    uint64_t conf_index; /* index of the entry that made the configuration (0: founding) */
    uint64_t transfer_target;
    raft_conf_t conf;   /* the latest configuration in the log (in force on append) */
    uint64_t log_bytes; /* payload bytes of the entries held in memory */
    bool reset_needed;  /* see raft_needs_reset */
    raft_stats_t stats;
} raft_status_t;

enum raft_progress_state {
    RAFT_PROGRESS_PROBE = 0,
    RAFT_PROGRESS_REPLICATE,
    RAFT_PROGRESS_SNAPSHOT
};

/* A leader's view of one member, for status pages (replication lag). */
typedef struct raft_progress_info {
    uint64_t match;
    uint64_t next;
    int state; /* enum raft_progress_state */
    bool learner;
    bool recent_active;
    uint32_t inflight;
} raft_progress_info_t;

typedef struct raft raft_t;

/* Fills a config with sane defaults for id (10 ticks election, 1 tick heartbeat, pre-vote and
 * check-quorum on, 1 MiB messages, 64 in flight, 1 MiB chunks). */
void raft_config_default(raft_config_t *config, uint64_t id);

/* Creates an instance in the follower role at term 0 with an empty log. 0, or -EINVAL for a
 * bad config (zero id, duplicate members, limits out of range). */
int raft_create(const raft_config_t *config, raft_t **out);
void raft_destroy(raft_t *r);

/* Restores a restarted node's durable state; call once, right after raft_create. hs is the last
 * persisted hard state; snapshot (or NULL) the last persisted snapshot, whose bytes the core
 * copies to send to followers; entries the durable log after it (entries at or below the
 * snapshot index are skipped), contiguous. A log newer than hs (a crash between writing a
 * Ready's entries and its hard state) is accepted: the core adopts the log's last term with no
 * vote. The caller restores its state machine from the snapshot; committed entries after it
 * come out of raft_ready again. 0, or -EINVAL (entries not contiguous, commit beyond them). */
int raft_restore(raft_t *r, const raft_hard_state_t *hs, const raft_snapshot_t *snapshot,
                 const raft_entry_t *entries, size_t entries_count);

/* One unit of logical time. */
void raft_tick(raft_t *r);

/* Feeds a message from a peer. 0 (also when the message is stale and ignored), or -EINVAL
 * when it is malformed (counted in stats.messages_invalid; the core's state is unchanged). */
int raft_step(raft_t *r, const raft_msg_t *msg);

/* Appends a command to the leader's log; *index_out (may be NULL) gets its index. The command
 * is committed when it comes out in raft_ready's committed at that index with this node's
 * term; if another entry comes out at that index, the proposal was lost.
 * 0, RAFT_ENOTLEADER, RAFT_ETRANSFER, -EMSGSIZE (len), -ENOBUFS (uncommitted_bytes_max). */
int raft_propose(raft_t *r, const void *data, size_t len, uint64_t *index_out);
/* Whether raft_propose would take a proposal now (size limits aside): 0, RAFT_ENOTLEADER or
 * RAFT_ETRANSFER. Changes nothing. */
int raft_can_propose(const raft_t *r);

/* Proposes one membership change (the configuration then changes by at most one voter, so any
 * two majorities overlap). It takes effect as soon as it is in a log; it is refused with
 * RAFT_ECONFPENDING while another is uncommitted or before an entry of this leader's term is
 * on a quorum of voters (not merely committed: async_commit commits on the leader alone). A
 * voter that only an uncommitted change removed still campaigns, without counting its own vote
 * (it may be the one node able to lead). context (may be empty, <= RAFT_CONF_CONTEXT_MAX)
 * travels in the entry.
 * 0, RAFT_ENOTLEADER, RAFT_ETRANSFER, RAFT_ECONFPENDING, -EALREADY (no change), -ENOENT (remove
 * a non-member), -EINVAL (would leave no voter, or bad arguments), -ENOSPC (too many members). */
int raft_propose_conf_change(raft_t *r, int type, uint64_t node, const void *context,
                             size_t context_len, uint64_t *index_out);

/* Requests a linearizable read point. Its answer comes out later in rd.read_states with ctx,
 * or never (leadership changed): the caller times reads out. Works on the leader and on a
 * follower that knows the leader (the request is forwarded).
 * 0, RAFT_ENOTLEADER (no known leader), -ENOBUFS (RAFT_READS_MAX pending). */
int raft_read_index(raft_t *r, uint64_t ctx);

/* Hands leadership to voter target: the leader stops taking proposals, brings target up to
 * date, then tells it to campaign at once. Aborted after an election timeout.
 * 0, RAFT_ENOTLEADER, RAFT_ETRANSFER (another in progress), -EINVAL (not a voter / self). */
int raft_transfer_leader(raft_t *r, uint64_t target);

/* True when raft_ready has anything to hand out. */
bool raft_has_ready(raft_t *r);
/* Fills rd with everything to do (see the loop above). Precondition: no Ready outstanding. */
void raft_ready(raft_t *r, raft_ready_t *rd);
/* Acknowledges rd: it was persisted, sent, applied. */
void raft_advance(raft_t *r, const raft_ready_t *rd);

/* Records a snapshot of the state machine taken at applied index `index` (its bytes are
 * copied: the core sends them to followers that fall behind the log) and drops the log up to
 * index - config.log_keep_entries, or further so that the entries kept before index hold at
 * most config.log_keep_bytes. *meta_out (may be NULL) gets the snapshot's metadata (its
 * term and the configuration in force at index), which the node stores with the snapshot and
 * passes back to raft_restore. The node persists the snapshot before dropping its durable log.
 * 0, -EALREADY (index <= current snapshot), -EINVAL (index > applied). */
int raft_compact(raft_t *r, uint64_t index, const void *data, size_t len,
                 raft_snapshot_meta_t *meta_out);

/* Drops the entries up to index (applied and persisted) from memory without a snapshot. Only
 * for a group whose one member is this node: nobody else can need them, and a restart reads
 * them back from the durable log. Until a snapshot covers the forgotten entries (raft_compact),
 * membership changes are refused with RAFT_ESNAPSHOT, so no member can ever need them.
 * 0, -EPERM (other members), -EINVAL (index beyond applied or persisted). */
int raft_forget(raft_t *r, uint64_t index);

/* True when, under async_commit, this node found that it applied entries the group's log no
 * longer holds: the core then ignores every input, and the node must discard its state
 * machine, snapshot and log (keeping the term and vote of raft_get_status), and start a new
 * instance with an empty log that catches up from the leader. */
bool raft_needs_reset(const raft_t *r);
/* For the new core of a reset node. With an empty log, the log rule alone would have it grant
 * its vote to any candidate of a higher term, even a node removed long ago whose log stopped
 * at the founding configuration, and two leaders could win one term. While its log is empty it
 * grants a vote or pre-vote only to a candidate whose last entry has term `term` or later (the
 * term in which it was reset: the leader that found the divergence, and every node that took
 * that leader's entries, qualify). The node keeps `term` on disk with the reset and passes it
 * again after every restore until its log holds entries. */
void raft_set_vote_floor(raft_t *r, uint64_t term);

void raft_get_status(const raft_t *r, raft_status_t *status);
/* The leader's view of member id. 0, -ENOENT (not a member), RAFT_ENOTLEADER. */
int raft_get_progress(const raft_t *r, uint64_t id, raft_progress_info_t *info);
/* The entry at index if it is held in memory: 0 (*out valid until the next mutating call), or
 * -ENOENT. */
int raft_get_entry(const raft_t *r, uint64_t index, raft_entry_t *out);
/* Term of the entry at index: 0 when unknown (compacted away or beyond the log). */
uint64_t raft_get_term(const raft_t *r, uint64_t index);

/* Checks the core's internal invariants; 0, or -EFAULT with a description in err. For
 * assertions and tests. */
int raft_check(const raft_t *r, char *err, size_t err_size);

/* Decodes the payload of a RAFT_ENTRY_CONF entry; out->context points into the entry.
 * 0 or -EBADMSG. */
int raft_conf_entry_decode(const raft_entry_t *entry, raft_conf_change_t *out);
bool raft_conf_is_voter(const raft_conf_t *conf, uint64_t id);
bool raft_conf_is_learner(const raft_conf_t *conf, uint64_t id);

const char *raft_strerror(int code);
const char *raft_role_name(int role);
const char *raft_msg_type_name(uint32_t type);

#endif
