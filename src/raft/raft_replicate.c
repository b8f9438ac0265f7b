/* raft_replicate: the leader's side of log replication.
 *
 * Each member has a progress record: PROBE (one append at a time, until the follower's answer
 * shows where its log matches), REPLICATE (appends pipelined, at most config.inflight_max in
 * flight, each carrying up to config.msg_bytes_max of entries), SNAPSHOT (the log it needs is
 * compacted away: the snapshot goes out in chunks of config.snapshot_chunk_bytes, one in flight).
 * Appends are not sent when proposed but when the Ready is built (raft_repl_flush), so every
 * proposal of one event-loop turn travels in the same messages. A rejection carries a hint that
 * skips a whole divergent term per round trip. A stalled pipeline (no acknowledgement for a whole
 * heartbeat interval) falls back to PROBE, which retransmits from the last acknowledged index.
 * Commit counts only the current term's entries (figure 8), and the leader's own entries only
 * once persisted. Work per message is bounded by the batch and the member count, never by the
 * log's length. */
#include <assert.h>
#include <string.h>

#include "raft/raft_int.h"

void raft_repl_reset_progress(raft_t *r, raft_progress_t *pr) {
    pr->match = pr->id == r->id ? r->log.stable : 0;
    pr->next = raft_log_last(&r->log) + 1;
    pr->state = RAFT_PROGRESS_PROBE;
    pr->probe_sent = false;
    pr->snap_sent = false;
    pr->recent_active = true;
    pr->inflight_start = 0;
    pr->inflight_count = 0;
    pr->stall_match = 0;
    pr->stall_armed = false;
    pr->read_acked = 0;
    pr->commit_sent = 0;
    pr->vote = -1;
}

static void become_probe(raft_progress_t *pr, uint64_t next) {
    pr->state = RAFT_PROGRESS_PROBE;
    pr->next = next;
    pr->probe_sent = false;
    pr->inflight_count = 0;
    pr->inflight_start = 0;
    pr->stall_armed = false;
}

static void become_replicate(raft_progress_t *pr) {
    pr->state = RAFT_PROGRESS_REPLICATE;
    pr->next = pr->match + 1;
    pr->inflight_count = 0;
    pr->inflight_start = 0;
    pr->stall_armed = false;
}

static bool peer_has_work(const raft_t *r, const raft_progress_t *pr) {
    uint64_t last = raft_log_last(&r->log);
    switch (pr->state) {
    case RAFT_PROGRESS_PROBE:
        return !pr->probe_sent && pr->next <= last;
    case RAFT_PROGRESS_REPLICATE:
        if (pr->next <= last) {
            return pr->inflight_count < r->cfg.inflight_max;
        }
        return pr->inflight_count == 0 && pr->commit_sent < r->log.commit;
    default:
        return !pr->snap_sent;
    }
}

bool raft_repl_has_work(const raft_t *r) {
    if (r->role != RAFT_LEADER) {
        return false;
    }
    if (r->read_heartbeat) {
        return true;
    }
    for (size_t i = 0; i < r->peers_count; i++) {
        if (r->peers[i].id != r->id && peer_has_work(r, &r->peers[i])) {
            return true;
        }
    }
    return false;
}

static void send_chunk(raft_t *r, raft_progress_t *pr) {
    const raft_snapshot_t *snap = &r->snapshot;
    assert(snap->meta.index > 0);
    if (pr->snap_index != snap->meta.index || pr->snap_offset > snap->len) {
        pr->snap_index = snap->meta.index;
        pr->snap_offset = 0;
    }
    uint64_t left = snap->len - pr->snap_offset;
    uint32_t len =
        left < r->cfg.snapshot_chunk_bytes ? (uint32_t)left : r->cfg.snapshot_chunk_bytes;
    raft_msg_t *m = raft_send(r, RAFT_MSG_SNAPSHOT, pr->id);
    m->snapshot = snap->meta;
    m->snapshot_size = snap->len;
    m->snapshot_offset = pr->snap_offset;
    m->chunk = r->cfg.snapshot_external ? NULL : snap->data + pr->snap_offset;
    m->chunk_len = len;
    m->commit = r->log.commit;
    pr->snap_sent = true;
    r->stats.snapshot_chunks_sent++;
}

static void inflight_push(raft_t *r, raft_progress_t *pr, uint64_t last) {
    assert(pr->inflight_count < r->cfg.inflight_max);
    uint32_t slot = (pr->inflight_start + pr->inflight_count) % r->cfg.inflight_max;
    pr->inflight[slot] = last;
    pr->inflight_count++;
}

static void inflight_free_to(raft_t *r, raft_progress_t *pr, uint64_t index) {
    while (pr->inflight_count > 0 && pr->inflight[pr->inflight_start] <= index) {
        pr->inflight_start = (pr->inflight_start + 1) % r->cfg.inflight_max;
        pr->inflight_count--;
    }
}

/* One append (or snapshot chunk) to pr, starting at pr->next. */
static void send_one(raft_t *r, raft_progress_t *pr) {
    if (pr->state == RAFT_PROGRESS_SNAPSHOT) {
        send_chunk(r, pr);
        return;
    }
    uint64_t prev = pr->next - 1;
    uint64_t prev_term = raft_log_term(&r->log, prev);
    if (prev < r->log.offset || (prev_term == 0 && prev > 0)) {
        pr->state = RAFT_PROGRESS_SNAPSHOT;
        pr->snap_index = 0;
        pr->inflight_count = 0;
        send_chunk(r, pr);
        return;
    }
    raft_msg_t *m = raft_send(r, RAFT_MSG_APPEND, pr->id);
    m->index = prev;
    m->log_term = prev_term;
    m->commit = r->log.commit;
    pr->commit_sent = r->log.commit;
    uint64_t last = raft_log_last(&r->log);
    uint32_t n = 0;
    uint64_t bytes = 0;
    m->entries = raft_log_entry(&r->log, pr->next);
    while (pr->next + n <= last && n < RAFT_MSG_ENTRIES_MAX) {
        uint32_t len = m->entries[n].len;
        if (n > 0 && bytes + len > r->cfg.msg_bytes_max) {
            break;
        }
        bytes += len;
        n++;
    }
    m->entries_count = n;
    if (n == 0) {
        m->entries = NULL;
        return;
    }
    if (pr->state == RAFT_PROGRESS_PROBE) {
        pr->probe_sent = true;
        return;
    }
    inflight_push(r, pr, prev + n);
    pr->next = prev + n + 1;
}

void raft_repl_flush(raft_t *r) {
    if (r->role != RAFT_LEADER) {
        return;
    }
    if (r->read_heartbeat) {
        r->read_heartbeat = false;
        raft_repl_broadcast_heartbeat(r);
    }
    for (size_t i = 0; i < r->peers_count; i++) {
        raft_progress_t *pr = &r->peers[i];
        if (pr->id == r->id) {
            continue;
        }
        /* Each round sends a message or changes state; inflight_max + 2 rounds suffice. */
        for (uint32_t round = 0; round < r->cfg.inflight_max + 2 && peer_has_work(r, pr); round++) {
            send_one(r, pr);
        }
    }
}

void raft_repl_broadcast_heartbeat(raft_t *r) {
    for (size_t i = 0; i < r->peers_count; i++) {
        raft_progress_t *pr = &r->peers[i];
        if (pr->id == r->id) {
            continue;
        }
        raft_msg_t *m = raft_send(r, RAFT_MSG_HEARTBEAT, pr->id);
        m->commit = pr->match < r->log.commit ? pr->match : r->log.commit;
        m->context = r->read_seq;
    }
}

void raft_repl_on_heartbeat_interval(raft_t *r) {
    for (size_t i = 0; i < r->peers_count; i++) {
        raft_progress_t *pr = &r->peers[i];
        if (pr->id == r->id) {
            continue;
        }
        if (pr->state == RAFT_PROGRESS_PROBE) {
            pr->probe_sent = false;
        } else if (pr->state == RAFT_PROGRESS_SNAPSHOT) {
            pr->snap_sent = false;
        } else if (pr->stall_armed && pr->inflight_count > 0 && pr->match == pr->stall_match) {
            r->stats.retransmits++;
            become_probe(pr, pr->match + 1);
            continue;
        }
        pr->stall_match = pr->match;
        pr->stall_armed = pr->state == RAFT_PROGRESS_REPLICATE && pr->inflight_count > 0;
    }
}

static void sort_desc(uint64_t *v, size_t n) {
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] < x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

void raft_repl_maybe_commit(raft_t *r) {
    assert(r->role == RAFT_LEADER);
    uint64_t match[RAFT_MEMBERS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < r->peers_count; i++) {
        if (!r->peers[i].learner) {
            match[n++] = r->peers[i].match;
        }
    }
    if (n == 0) {
        return;
    }
    sort_desc(match, n);
    uint64_t index = match[raft_conf_quorum(&r->conf) - 1];
    r->quorum_match = index;
    if (r->cfg.async_commit) {
        /* Async replication commits what the leader itself holds durably, except a membership
         * change, which still waits for a quorum: one committed by the leader alone could leave
         * the voters with configurations no election can satisfy. */
        uint64_t local = r->log.stable;
        if (r->conf_index > r->log.commit && r->conf_index <= local && index < r->conf_index) {
            local = r->conf_index - 1;
        }
        index = local > index ? local : index;
    }
    if (index <= r->log.commit || raft_log_term(&r->log, index) != r->term) {
        return;
    }
    raft_log_commit_to(&r->log, index);
    raft_read_on_commit_in_term(r);
    if (!raft_is_voter(r, r->id) && r->conf_index <= r->log.commit) {
        /* The configuration removing this leader is committed: leave it to the others. */
        raft_become_follower(r, r->term, 0);
    }
}

void raft_repl_send_timeout_now(raft_t *r, uint64_t target) {
    raft_send(r, RAFT_MSG_TIMEOUT_NOW, target);
    r->stats.transfers_timeout_now++;
}

static void on_reject(raft_t *r, raft_progress_t *pr, const raft_msg_t *m) {
    if (r->cfg.async_commit && m->reject_hint < pr->match) {
        /* Async replication: the member was reset (raft_needs_reset) and no longer holds what
         * it acknowledged. (A delayed old rejection lowers match too: only a resend.) */
        pr->match = m->reject_hint;
    }
    if (pr->state == RAFT_PROGRESS_REPLICATE && m->index <= pr->match) {
        return; /* stale: that append was answered already */
    }
    if (pr->state == RAFT_PROGRESS_PROBE && m->index != pr->next - 1) {
        return; /* stale: not the probe in flight */
    }
    if (pr->state == RAFT_PROGRESS_SNAPSHOT) {
        return;
    }
    uint64_t next = m->reject_hint;
    if (m->log_term > 0) {
        next = raft_log_find_conflict_hint(&r->log, m->reject_hint, m->log_term);
    }
    next += 1;
    if (next > m->index) {
        next = m->index; /* always move back, so probing ends */
    }
    if (next < pr->match + 1) {
        next = pr->match + 1;
    }
    become_probe(pr, next);
}

static void on_accept(raft_t *r, raft_progress_t *pr, const raft_msg_t *m) {
    if (m->index <= pr->match) {
        return;
    }
    pr->match = m->index;
    if (pr->next <= m->index) {
        pr->next = m->index + 1;
    }
    inflight_free_to(r, pr, m->index);
    if (pr->state == RAFT_PROGRESS_PROBE ||
        (pr->state == RAFT_PROGRESS_SNAPSHOT && pr->match >= pr->snap_index)) {
        become_replicate(pr);
    }
    raft_repl_maybe_commit(r);
    if (r->role == RAFT_LEADER && r->transfer_target == pr->id &&
        pr->match == raft_log_last(&r->log)) {
        raft_repl_send_timeout_now(r, pr->id);
    }
}

void raft_repl_step_leader(raft_t *r, const raft_msg_t *m) {
    assert(r->role == RAFT_LEADER);
    raft_progress_t *pr = raft_peer(r, m->from);
    if (!pr) {
        return; /* not a member (any more) */
    }
    switch (m->type) {
    case RAFT_MSG_APPEND_RESP:
        pr->recent_active = true;
        if (m->flags & RAFT_FLAG_REJECT) {
            on_reject(r, pr, m);
        } else {
            on_accept(r, pr, m);
        }
        break;
    case RAFT_MSG_HEARTBEAT_RESP:
        pr->recent_active = true;
        raft_read_on_heartbeat_resp(r, m);
        break;
    case RAFT_MSG_SNAPSHOT_RESP:
        pr->recent_active = true;
        if (pr->state == RAFT_PROGRESS_SNAPSHOT && m->index == pr->snap_index) {
            /* Send the next chunk now; after a refusal (the member lost its partial copy, or
             * the snapshot is beyond its limit) wait for the next heartbeat interval. */
            pr->snap_offset = m->context;
            pr->snap_sent = (m->flags & RAFT_FLAG_REJECT) != 0;
        }
        break;
    case RAFT_MSG_READ_INDEX:
        raft_read_request(r, m->context, m->from);
        break;
    default:
        break;
    }
}
