/* group_int: the group driver's internal state, shared by its files and by nothing else.
 *
 *   group.c       open, restore, ticks, the Ready loop, proposals, status, async reset
 *   group_snap.c  snapshots: taking, adopting (compaction), sending chunks, installing
 *   group_peer.c  the member address table, bus peers, promotion of caught-up learners
 */
#ifndef POLIS_REPL_GROUP_INT_H
#define POLIS_REPL_GROUP_INT_H

#include "core/buf.h"
#include "repl/group.h"

#define REPL_RECORD_NORMAL RECORD_KV /* the log record type of a command entry (and no-ops) */
#define REPL_RECORD_CONF 2           /* the log record type of a membership change */
#define REPL_ADDRESSES_MAX (2 * RAFT_MEMBERS_MAX) /* members ever known, static peers included */
#define REPL_PROMOTE_LAG 100 /* a learner this close to the leader's last index is caught up */

struct repl_group {
    repl_group_options_t o; /* pointers cleared: the arrays are copied below */
    uv_timer_t timer;
    raft_t *raft; /* NULL once failed */
    persist_t *persist;
    bus_t *bus;
    uint64_t founders[RAFT_MEMBERS_MAX];
    size_t founders_count;
    /* addresses: the command line's peers (static) and those learned from the log */
    repl_member_t members[REPL_ADDRESSES_MAX];
    bool member_static[REPL_ADDRESSES_MAX];
    bool member_on_bus[REPL_ADDRESSES_MAX]; /* this group added it to the bus */
    size_t members_count;
    raft_conf_t applied_conf; /* the configuration at the applied index (snapshot metadata) */
    uint64_t applied;
    /* ReadIndex answers waiting for the applied index to reach them */
    raft_read_state_t reads[REPL_READS_MAX];
    size_t reads_count;
    /* what was last reported through sm.role_changed */
    int role;
    uint64_t leader;
    uint64_t term;
    /* the hard state last saved */
    persist_hard_state_t saved_hs;
    int64_t saved_ms;
    /* snapshots */
    uint64_t core_snap_index; /* the persisted snapshot the core was last told about */
    int snap_fd;              /* open snapshot file for sending chunks, or -1 */
    uint64_t snap_fd_index;
    int64_t snapshot_retry_ms; /* no automatic snapshot before this (after a failure) */
    buf_t scratch; /* one encoded message */
    buf_t chunk;   /* one snapshot chunk read from the file */
    uint64_t resets;
    bool vote_floor_kept; /* VOTE_FLOOR_FILE exists: reset, and the log has no entry yet */
    /* refreshed after every Ready loop, for checks made per command */
    bool sole_voter;     /* this node is the configuration's only voter */
    bool commit_in_term; /* the commit index is an entry of the current term */
    uint64_t commit;
    uint64_t log_bytes;
    char failure[256];
};

/* group.c */
void repl_group_fail(repl_group_t *g, const char *why);
/* The configuration as the core sees it now (the latest in the log). */
void repl_group_conf(const repl_group_t *g, raft_conf_t *conf);

/* group_snap.c */
/* Encodes the metadata of a snapshot at the applied index. */
void repl_snap_meta(repl_group_t *g, buf_t *out);
/* Tells the core about a newer durable snapshot (compaction). */
void repl_snap_adopt(repl_group_t *g);
/* Installs a snapshot received from the leader: persist, load, learn its members. 0 or neg. */
int repl_snap_install(repl_group_t *g, const raft_snapshot_t *snap);
/* Fills a SNAPSHOT message's chunk from the snapshot file; *out is a copy of m. 0 or neg. */
int repl_snap_fill(repl_group_t *g, const raft_msg_t *m, raft_msg_t *out);
void repl_snap_poll(repl_group_t *g);
void repl_snap_close_file(repl_group_t *g);

/* group_peer.c */
/* Records an address (a static one is never overwritten by a learned one). */
void repl_peer_learn(repl_group_t *g, const repl_member_t *m, bool is_static);
/* Learns the address in a conf entry's context. */
void repl_peer_learn_entry(repl_group_t *g, const raft_entry_t *e);
repl_member_t *repl_peer_find(repl_group_t *g, uint64_t id);
/* Makes the bus peers equal to the members of the configuration plus the static peers. */
void repl_peer_sync_bus(repl_group_t *g);
/* Leader: proposes promoting the first caught-up learner that asked for it. */
void repl_peer_promote(repl_group_t *g);

#endif
