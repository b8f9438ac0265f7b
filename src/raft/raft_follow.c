/* raft_follow: what a follower does with its leader's messages: appends (log matching, conflict
 * truncation, the hint for fast back-tracking), heartbeats, and snapshots received in chunks.
 * Every acknowledgement is queued in the outbox, so it leaves only after the Ready holding what
 * it acknowledges has been persisted (raft.h). */
#include <assert.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

static void ack(raft_t *r, uint64_t to, uint64_t index) {
    raft_msg_t *resp = raft_send(r, RAFT_MSG_APPEND_RESP, to);
    resp->index = index;
}

static void reject(raft_t *r, const raft_msg_t *m) {
    uint64_t hint = raft_log_find_conflict_hint(&r->log, m->index, m->log_term);
    raft_msg_t *resp = raft_send(r, RAFT_MSG_APPEND_RESP, m->from);
    resp->flags = RAFT_FLAG_REJECT;
    resp->index = m->index;
    resp->reject_hint = hint;
    resp->log_term = raft_log_term(&r->log, hint);
    r->stats.appends_rejected++;
}

/* Index of the first entry of m that the log does not already hold, or 0 when it holds all.
 * Sets *conflict when a held entry disagrees (the log must be cut there). */
static uint64_t first_new_entry(const raft_t *r, const raft_msg_t *m, bool *conflict) {
    uint64_t last = raft_log_last(&r->log);
    *conflict = false;
    for (uint32_t i = 0; i < m->entries_count; i++) {
        const raft_entry_t *e = &m->entries[i];
        if (e->index > last) {
            return e->index;
        }
        if (raft_log_term(&r->log, e->index) != e->term) {
            *conflict = true;
            return e->index;
        }
    }
    return 0;
}

static void need_reset(raft_t *r) {
    r->reset_needed = true;
    r->stats.resets_needed++;
}

/* Whether, under async_commit, the leader's term for `index` contradicts an entry this node
 * already committed (and applied). Positions whose term is unknown here (compacted into the
 * snapshot, or beyond the log) cannot be compared. */
static bool diverged_at(const raft_t *r, uint64_t index, uint64_t term) {
    if (index > r->log.commit || index < r->log.offset) {
        return false;
    }
    uint64_t mine = raft_log_term(&r->log, index);
    return (mine != 0 || index == 0) && mine != term;
}

/* Async replication: a leader may have committed entries that no other node holds, so a new
 * leader's log may disagree with what this node applied. Every position of m at or below the
 * commit index is compared; a difference means this node's state diverged and it must be
 * reset (raft_needs_reset). Returns the message to follow normally, which then starts at or
 * above the log's offset, or NULL when m was answered here. By log matching, agreement at one
 * position means agreement on everything before it. */
static const raft_msg_t *async_check(raft_t *r, const raft_msg_t *m, raft_msg_t *shifted) {
    if (diverged_at(r, m->index, m->log_term)) {
        need_reset(r);
        return NULL;
    }
    for (uint32_t i = 0; i < m->entries_count; i++) {
        if (diverged_at(r, m->entries[i].index, m->entries[i].term)) {
            need_reset(r);
            return NULL;
        }
    }
    if (m->index >= r->log.offset) {
        return m;
    }
    uint64_t last_new = m->index + m->entries_count;
    if (last_new <= r->log.offset) {
        ack(r, m->from, last_new); /* all below our snapshot: nothing to compare or add */
        return NULL;
    }
    /* The part at and below the offset is in our snapshot (and matched at the offset). */
    uint32_t skip = (uint32_t)(r->log.offset - m->index);
    *shifted = *m;
    shifted->index = r->log.offset;
    shifted->log_term = m->entries[skip - 1].term;
    shifted->entries = m->entries + skip;
    shifted->entries_count = m->entries_count - skip;
    return shifted;
}

static void follow_append(raft_t *r, const raft_msg_t *m) {
    raft_msg_t shifted;
    if (r->cfg.async_commit && !(m = async_check(r, m, &shifted))) {
        return;
    }
    if (m->index < r->log.commit && !r->cfg.async_commit) {
        ack(r, m->from, r->log.commit);
        return;
    }
    if (m->index > raft_log_last(&r->log) || raft_log_term(&r->log, m->index) != m->log_term) {
        reject(r, m);
        return;
    }
    bool conflict;
    uint64_t from = first_new_entry(r, m, &conflict);
    if (conflict && from <= r->log.commit) {
        /* Only a peer violating Raft can ask to overwrite a committed entry (async_check has
         * already turned that case into a reset under async_commit). */
        r->stats.messages_invalid++;
        return;
    }
    bool conf_changed = false;
    if (from) {
        if (conflict) {
            r->stats.entries_truncated += raft_log_last(&r->log) - from + 1;
            raft_log_truncate(&r->log, from);
            conf_changed = r->conf_index >= from;
        }
        for (uint64_t i = from - m->index - 1; i < m->entries_count; i++) {
            const raft_entry_t *e = &m->entries[i];
            raft_log_append_copy(&r->log, e->term, e->type, e->data, e->len);
            conf_changed |= e->type == RAFT_ENTRY_CONF;
        }
    }
    if (conf_changed) {
        raft_reload_conf(r);
    }
    uint64_t last_new = m->index + m->entries_count;
    uint64_t commit = m->commit < last_new ? m->commit : last_new;
    if (commit > r->log.commit) {
        raft_log_commit_to(&r->log, commit);
    }
    ack(r, m->from, last_new);
}

static void follow_heartbeat(raft_t *r, const raft_msg_t *m) {
    uint64_t last = raft_log_last(&r->log);
    uint64_t commit = m->commit < last ? m->commit : last;
    if (commit > r->log.commit) {
        raft_log_commit_to(&r->log, commit);
    }
    raft_msg_t *resp = raft_send(r, RAFT_MSG_HEARTBEAT_RESP, m->from);
    resp->context = m->context;
}

static void recv_reset(raft_t *r) {
    r->recv_active = false;
    r->recv_size = 0;
    buf_clear(&r->recv_buf);
}

static void snapshot_progress(raft_t *r, const raft_msg_t *m, uint64_t expected, bool refuse) {
    raft_msg_t *resp = raft_send(r, RAFT_MSG_SNAPSHOT_RESP, m->from);
    resp->index = m->snapshot.index;
    resp->context = expected;
    resp->flags = refuse ? RAFT_FLAG_REJECT : 0;
}

/* Replaces the log and the state machine's base with the received snapshot. */
/* A snapshot at or below the commit index: nothing to install. Under async_commit it is also
 * a point to compare (its last entry must match ours), and the acknowledgement says only what
 * was compared. Returns false when the snapshot is not older than the commit index. */
static bool snapshot_is_old(raft_t *r, uint64_t from, const raft_snapshot_meta_t *meta) {
    if (meta->index > r->log.commit) {
        return false;
    }
    recv_reset(r);
    if (!r->cfg.async_commit) {
        ack(r, from, r->log.commit);
    } else if (diverged_at(r, meta->index, meta->term)) {
        need_reset(r);
    } else {
        ack(r, from, meta->index);
    }
    return true;
}

static void install(raft_t *r, uint64_t from) {
    const raft_snapshot_meta_t *meta = &r->recv_meta;
    if (snapshot_is_old(r, from, meta)) {
        return;
    }
    if (raft_log_term(&r->log, meta->index) == meta->term) {
        /* The log already holds the snapshot's last entry: nothing to replace. */
        raft_log_commit_to(&r->log, meta->index);
        ack(r, from, meta->index);
        recv_reset(r);
        return;
    }
    raft_log_reset(&r->log, meta->index, meta->term);
    mem_free((void *)r->snapshot.data);
    r->snapshot.meta = *meta;
    r->snapshot.len = r->recv_buf.len;
    r->snapshot.data = r->recv_buf.data ? r->recv_buf.data : mem_alloc(1);
    buf_init(&r->recv_buf);
    r->snapshot_pending = true;
    r->base_conf = meta->conf;
    r->base_index = meta->index;
    raft_set_conf(r, &meta->conf, meta->index);
    r->stats.snapshots_installed++;
    recv_reset(r);
    ack(r, from, meta->index);
}

static bool recv_matches(const raft_t *r, const raft_msg_t *m) {
    return r->recv_active && r->recv_meta.index == m->snapshot.index &&
           r->recv_meta.term == m->snapshot.term && r->recv_size == m->snapshot_size;
}

static void follow_snapshot(raft_t *r, const raft_msg_t *m) {
    if (snapshot_is_old(r, m->from, &m->snapshot)) {
        return;
    }
    if (!recv_matches(r, m)) {
        recv_reset(r);
        if (m->snapshot_offset != 0 || m->snapshot_size > r->cfg.snapshot_bytes_max) {
            snapshot_progress(r, m, 0, true);
            return;
        }
        r->recv_active = true;
        r->recv_meta = m->snapshot;
        r->recv_size = m->snapshot_size;
    }
    if (m->snapshot_offset != r->recv_buf.len) {
        snapshot_progress(r, m, r->recv_buf.len, m->snapshot_offset > r->recv_buf.len);
        return;
    }
    buf_append(&r->recv_buf, m->chunk, m->chunk_len);
    if (r->recv_buf.len == r->recv_size) {
        install(r, m->from);
        return;
    }
    snapshot_progress(r, m, r->recv_buf.len, false);
}

void raft_follow_step(raft_t *r, const raft_msg_t *m) {
    assert(r->role == RAFT_FOLLOWER);
    assert(m->term == r->term);
    switch (m->type) {
    case RAFT_MSG_APPEND:
        follow_append(r, m);
        break;
    case RAFT_MSG_HEARTBEAT:
        follow_heartbeat(r, m);
        break;
    case RAFT_MSG_SNAPSHOT:
        follow_snapshot(r, m);
        break;
    default:
        assert(0 && "not a leader message");
    }
}
