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

static void follow_append(raft_t *r, const raft_msg_t *m) {
    if (m->index < r->log.commit) {
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
        /* Only a peer violating Raft can ask to overwrite a committed entry. */
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
static void install(raft_t *r, uint64_t from) {
    const raft_snapshot_meta_t *meta = &r->recv_meta;
    if (meta->index <= r->log.commit) {
        ack(r, from, r->log.commit);
        recv_reset(r);
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
    if (m->snapshot.index <= r->log.commit) {
        recv_reset(r);
        ack(r, m->from, r->log.commit);
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
