/* raft_int: the Raft core's internal state, shared by its files and by nothing else.
 *
 *   raft.c           instance life, roles, elections, ticks, the step dispatcher, the public API
 *   raft_log.c       the in-memory log (entries since the last compaction)
 *   raft_conf.c      membership: configurations, quorums, conf entries
 *   raft_replicate.c the leader: progress per member, batched and pipelined appends, commit
 *   raft_follow.c    the follower: appends, heartbeats, snapshot chunks and install
 *   raft_read.c      ReadIndex
 *   raft_ready.c     the Ready/advance handshake and compaction
 *   raft_codec.c     the wire form of messages
 */
#ifndef POLIS_RAFT_INT_H
#define POLIS_RAFT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/mem.h"
#include "raft/raft.h"

/* A block of entry payloads: the payloads of consecutive entries, copied one after another, so
 * appending costs no allocation per entry and compaction frees whole blocks. */
typedef struct raft_log_block {
    char *mem;
    size_t used;
    size_t cap;
    uint64_t last; /* index of the last entry whose payload is here */
} raft_log_block_t;

/* A payload larger than a block gets one of its own. */
#define RAFT_LOG_BLOCK_BYTES MEM_CHUNK_BYTES

/* The log: entries offset+1 .. offset+count live in entries[first .. first+count). The array is
 * contiguous so a Ready can point into it; it is slid down or grown only outside a Ready. Their
 * payloads live in blocks[blocks_first .. blocks_first+blocks_count), oldest first. */
typedef struct raft_log {
    raft_entry_t *entries;
    raft_log_block_t *blocks;
    size_t blocks_first;
    size_t blocks_count;
    size_t blocks_cap;
    size_t first;
    size_t count;
    size_t cap;
    uint64_t offset;      /* index before the first held entry (compaction point) */
    uint64_t offset_term; /* its term, 0 when unknown */
    uint64_t stable;      /* last index the node has persisted */
    uint64_t commit;
    uint64_t applied;           /* last index the node acknowledged applying */
    uint64_t applying;          /* last index handed out in the outstanding Ready */
    uint64_t uncommitted_bytes; /* payload bytes of entries after commit */
    uint64_t bytes;             /* payload bytes of every held entry */
} raft_log_t;

typedef struct raft_progress {
    uint64_t id;
    uint64_t match;
    uint64_t next;
    uint64_t stall_match; /* match at the previous heartbeat interval */
    uint64_t read_acked;  /* highest ReadIndex sequence this member confirmed */
    uint64_t commit_sent; /* highest commit index sent to this member */
    uint64_t snap_index;  /* SNAPSHOT state: the snapshot being sent */
    uint64_t snap_offset; /* bytes of it the member has acknowledged */
    uint8_t state;        /* enum raft_progress_state */
    bool learner;
    bool probe_sent; /* PROBE: an append is out, wait for its answer or a heartbeat */
    bool snap_sent;  /* SNAPSHOT: a chunk is out */
    bool recent_active;
    bool stall_armed; /* REPLICATE: appends were in flight at the previous interval */
    int8_t vote;      /* campaign tally: -1 none, 0 refused, 1 granted */
    uint32_t inflight_start;
    uint32_t inflight_count;
    uint64_t inflight[RAFT_INFLIGHT_MAX]; /* last index of each append in flight */
} raft_progress_t;

/* A ReadIndex request waiting for its quorum. seq 0: waiting for the leader's first commit. */
typedef struct raft_read_req {
    uint64_t ctx;
    uint64_t from;
    uint64_t index;
    uint64_t seq;
} raft_read_req_t;

struct raft {
    raft_config_t cfg; /* voters/learners pointers cleared after create */
    uint64_t id;
    int role;
    uint64_t term;
    uint64_t vote;
    uint64_t leader;
    uint64_t rng;
    raft_log_t log;

    raft_conf_t conf;      /* latest configuration in the log */
    uint64_t conf_index;   /* the entry that made it, or base_index */
    raft_conf_t base_conf; /* configuration at base_index: the snapshot's, or the founding */
    uint64_t base_index;
    raft_progress_t *peers; /* one per member of conf, self included */
    size_t peers_count;
    uint64_t quorum_match; /* leader: the highest index a quorum of voters holds (under
                            * async_commit the commit index may be beyond it) */

    uint32_t election_elapsed;
    uint32_t heartbeat_elapsed;
    uint32_t randomized_timeout;
    uint32_t transfer_elapsed;
    uint64_t transfer_target;

    raft_read_req_t *reads; /* FIFO: reads[reads_head .. reads_head + reads_count) */
    size_t reads_head;
    size_t reads_count;
    size_t reads_cap;
    uint64_t read_seq;
    bool read_heartbeat; /* a heartbeat round for new reads is due */

    raft_snapshot_t snapshot;       /* latest snapshot, data owned */
    bool snapshot_pending;          /* installed from a leader, not yet handed out */
    raft_snapshot_meta_t recv_meta; /* snapshot being received in chunks */
    uint64_t recv_size;
    bool recv_active;
    buf_t recv_buf;

    raft_msg_t *msgs;
    size_t msgs_count;
    size_t msgs_cap;
    raft_read_state_t *read_states;
    size_t read_states_count;
    size_t read_states_cap;

    raft_hard_state_t persisted_hs;
    bool reset_needed; /* async_commit: this node's applied state diverged (raft_needs_reset) */
    uint64_t vote_floor; /* raft_set_vote_floor: while the log is empty, votes need this term */
    uint64_t reported_leader;
    int reported_role;
    bool ready_outstanding;
    raft_stats_t stats;
};

/* Little-endian byte helpers shared by the codec and the conf entry format. A reader that runs
 * out of bytes sets bad and returns zeros, so a decoder checks once at the end of a section. */
typedef struct raft_reader {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
} raft_reader_t;

static inline void raft_put_u8(buf_t *b, uint8_t v) {
    buf_append(b, &v, 1);
}

static inline void raft_put_u16(buf_t *b, uint16_t v) {
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_append(b, t, sizeof t);
}

static inline void raft_put_u32(buf_t *b, uint32_t v) {
    uint8_t t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (uint8_t)(v >> (8 * i));
    }
    buf_append(b, t, sizeof t);
}

static inline void raft_put_u64(buf_t *b, uint64_t v) {
    uint8_t t[8];
    for (int i = 0; i < 8; i++) {
        t[i] = (uint8_t)(v >> (8 * i));
    }
    buf_append(b, t, sizeof t);
}

static inline bool raft_reader_has(raft_reader_t *rd, size_t n) {
    if (rd->bad || (size_t)(rd->end - rd->p) < n) {
        rd->bad = true;
        return false;
    }
    return true;
}

static inline uint64_t raft_get_le(raft_reader_t *rd, int bytes) {
    if (!raft_reader_has(rd, (size_t)bytes)) {
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)rd->p[i] << (8 * i);
    }
    rd->p += bytes;
    return v;
}

static inline const char *raft_get_bytes(raft_reader_t *rd, size_t n) {
    if (!raft_reader_has(rd, n)) {
        return NULL;
    }
    const char *p = (const char *)rd->p;
    rd->p += n;
    return p;
}

/* raft_log.c */
void raft_log_init(raft_log_t *log);
void raft_log_free(raft_log_t *log);
static inline uint64_t raft_log_last(const raft_log_t *log) {
    return log->offset + log->count;
}
/* Term at index: offset_term at offset, 0 when not held. */
uint64_t raft_log_term(const raft_log_t *log, uint64_t index);
raft_entry_t *raft_log_entry(const raft_log_t *log, uint64_t index);
uint64_t raft_log_last_term(const raft_log_t *log);
/* Appends a copy of e (index must be last + 1). */
void raft_log_append_copy(raft_log_t *log, uint64_t term, uint32_t type, const void *data,
                          size_t len);
/* Drops entries from index on (index > commit). */
void raft_log_truncate(raft_log_t *log, uint64_t index);
/* Drops entries up to index (index <= last). */
void raft_log_compact(raft_log_t *log, uint64_t index);
/* Empties the log; the next entry will be index + 1. */
void raft_log_reset(raft_log_t *log, uint64_t index, uint64_t term);
void raft_log_commit_to(raft_log_t *log, uint64_t index);
/* Largest index <= index whose term is <= term, not below the offset. */
uint64_t raft_log_find_conflict_hint(const raft_log_t *log, uint64_t index, uint64_t term);

/* raft_conf.c */
int raft_conf_validate(const raft_conf_t *conf);
int raft_conf_from_lists(raft_conf_t *conf, const uint64_t *voters, size_t voters_count,
                         const uint64_t *learners, size_t learners_count);
int raft_conf_apply_change(const raft_conf_t *from, int type, uint64_t node, raft_conf_t *to);
void raft_conf_entry_encode(buf_t *out, int type, uint64_t node, const raft_conf_t *conf,
                            const void *context, size_t context_len);
size_t raft_conf_quorum(const raft_conf_t *conf);
/* Makes conf the active configuration and rebuilds the progress array to match. */
void raft_set_conf(raft_t *r, const raft_conf_t *conf, uint64_t index);
/* Recomputes the active configuration from the log (after truncation or restore). */
void raft_reload_conf(raft_t *r);
/* The configuration in force at index (base_index <= index <= last). */
void raft_conf_at(const raft_t *r, uint64_t index, raft_conf_t *out);
raft_progress_t *raft_peer(raft_t *r, uint64_t id);
bool raft_is_voter(const raft_t *r, uint64_t id);

/* raft.c */
raft_msg_t *raft_send(raft_t *r, uint32_t type, uint64_t to);
void raft_become_follower(raft_t *r, uint64_t term, uint64_t leader);
/* Appends to the log as the leader would (term = r->term) and tracks conf entries. */
void raft_append_local(raft_t *r, uint32_t type, const void *data, size_t len);
/* Bookkeeping after entries were appended or truncated: active configuration and commit. */
void raft_on_log_changed(raft_t *r);

/* raft_replicate.c */
void raft_repl_reset_progress(raft_t *r, raft_progress_t *pr);
bool raft_repl_has_work(const raft_t *r);
void raft_repl_flush(raft_t *r);
void raft_repl_broadcast_heartbeat(raft_t *r);
void raft_repl_on_heartbeat_interval(raft_t *r);
void raft_repl_maybe_commit(raft_t *r);
void raft_repl_step_leader(raft_t *r, const raft_msg_t *m);
void raft_repl_send_timeout_now(raft_t *r, uint64_t target);

/* raft_follow.c */
/* An APPEND, HEARTBEAT or SNAPSHOT from the leader of the current term. */
void raft_follow_step(raft_t *r, const raft_msg_t *m);

/* raft_read.c */
int raft_read_request(raft_t *r, uint64_t ctx, uint64_t from);
void raft_read_on_commit_in_term(raft_t *r);
void raft_read_on_heartbeat_resp(raft_t *r, const raft_msg_t *m);
void raft_read_clear(raft_t *r);
void raft_read_state_push(raft_t *r, uint64_t ctx, uint64_t index);

#endif
