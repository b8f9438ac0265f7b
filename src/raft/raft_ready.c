/* raft_ready: the handshake through which the core's decisions leave it (raft.h): raft_ready
 * collects what changed since the last Ready, raft_advance records that the node persisted,
 * sent and applied it. Also compaction, which the node asks for after taking a snapshot. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

static bool hard_state_changed(const raft_t *r) {
    return r->term != r->persisted_hs.term || r->vote != r->persisted_hs.vote ||
           r->log.commit != r->persisted_hs.commit;
}

/* First index the next Ready hands out for applying. */
static uint64_t apply_from(const raft_t *r) {
    uint64_t from = r->log.applying + 1;
    if (r->snapshot_pending && from <= r->snapshot.meta.index) {
        from = r->snapshot.meta.index + 1;
    }
    return from;
}

bool raft_has_ready(raft_t *r) {
    assert(r);
    assert(!r->ready_outstanding);
    if (r->reset_needed) {
        return false;
    }
    return hard_state_changed(r) || r->leader != r->reported_leader ||
           r->role != r->reported_role || r->snapshot_pending ||
           r->log.stable < raft_log_last(&r->log) || r->msgs_count > 0 ||
           r->read_states_count > 0 || apply_from(r) <= r->log.commit || raft_repl_has_work(r);
}

static void ready_committed(raft_t *r, raft_ready_t *rd) {
    uint64_t from = apply_from(r);
    if (from > r->log.commit) {
        return;
    }
    rd->committed = raft_log_entry(&r->log, from);
    assert(rd->committed);
    uint64_t bytes = 0;
    size_t n = 0;
    while (from + n <= r->log.commit) {
        uint32_t len = rd->committed[n].len;
        if (n > 0 && bytes + len > r->cfg.apply_bytes_max) {
            break;
        }
        bytes += len;
        n++;
    }
    rd->committed_count = n;
    r->log.applying = from + n - 1;
}

void raft_ready(raft_t *r, raft_ready_t *rd) {
    assert(r && rd);
    assert(!r->ready_outstanding);
    raft_repl_flush(r);
    memset(rd, 0, sizeof *rd);
    rd->hard_state = (raft_hard_state_t){r->term, r->vote, r->log.commit};
    rd->hard_state_changed = hard_state_changed(r);
    rd->must_sync = r->term != r->persisted_hs.term || r->vote != r->persisted_hs.vote;
    rd->leader = r->leader;
    rd->role = r->role;
    rd->soft_state_changed = r->leader != r->reported_leader || r->role != r->reported_role;
    if (r->snapshot_pending) {
        rd->snapshot = &r->snapshot;
        rd->must_sync = true;
    }
    uint64_t first = (r->log.stable > r->log.offset ? r->log.stable : r->log.offset) + 1;
    if (first <= raft_log_last(&r->log)) {
        rd->entries = raft_log_entry(&r->log, first);
        rd->entries_count = (size_t)(raft_log_last(&r->log) - first + 1);
        rd->must_sync = true;
    }
    ready_committed(r, rd);
    if (r->snapshot_pending && r->log.applying < r->snapshot.meta.index) {
        r->log.applying = r->snapshot.meta.index;
    }
    rd->messages = r->msgs;
    rd->messages_count = r->msgs_count;
    rd->send_early = r->role == RAFT_LEADER && !r->snapshot_pending &&
                     r->term == r->persisted_hs.term && r->vote == r->persisted_hs.vote;
    rd->read_states = r->read_states;
    rd->read_states_count = r->read_states_count;
    r->ready_outstanding = true;
}

void raft_advance(raft_t *r, const raft_ready_t *rd) {
    assert(r && rd);
    assert(r->ready_outstanding);
    r->ready_outstanding = false;
    if (rd->entries_count > 0) {
        uint64_t last = rd->entries[rd->entries_count - 1].index;
        if (last > r->log.stable) {
            r->log.stable = last;
        }
    }
    if (rd->snapshot) {
        r->snapshot_pending = false;
        if (r->cfg.snapshot_external) {
            mem_free((void *)r->snapshot.data); /* the node holds it now */
            r->snapshot.data = NULL;
        }
    }
    if (rd->hard_state_changed) {
        r->persisted_hs = rd->hard_state;
    }
    r->reported_leader = rd->leader;
    r->reported_role = rd->role;
    r->log.applied = r->log.applying;
    r->msgs_count = 0;
    r->read_states_count = 0;
    if (r->role == RAFT_LEADER) {
        raft_progress_t *self = raft_peer(r, r->id);
        if (self && r->log.stable > self->match) {
            self->match = r->log.stable;
            self->next = r->log.stable + 1;
            raft_repl_maybe_commit(r);
        }
    }
}

int raft_compact(raft_t *r, uint64_t index, const void *data, size_t len,
                 raft_snapshot_meta_t *meta_out) {
    assert(r);
    assert(!r->ready_outstanding);
    /* index == base_index is allowed after raft_forget moved the base past the snapshot. */
    if (index <= r->snapshot.meta.index || index < r->base_index) {
        return -EALREADY;
    }
    bool external = r->cfg.snapshot_external;
    if (index > r->log.applied || (len && !data && !external) || (external && data) ||
        len > RAFT_SNAPSHOT_BYTES_MAX) {
        return -EINVAL;
    }
    raft_snapshot_meta_t meta = {.index = index, .term = raft_log_term(&r->log, index)};
    assert(meta.term > 0);
    raft_conf_at(r, index, &meta.conf);
    char *copy = NULL;
    if (!external) {
        copy = mem_alloc(len ? len : 1);
        if (len) {
            memcpy(copy, data, len);
        }
    }
    mem_free((void *)r->snapshot.data);
    r->snapshot.meta = meta;
    r->snapshot.data = copy;
    r->snapshot.len = len;
    r->base_conf = meta.conf;
    r->base_index = index;
    /* Entries cut+1 .. index stay for followers just behind the snapshot. */
    uint64_t cut = index, bytes = 0;
    while (cut > r->log.offset && index - cut < r->cfg.log_keep_entries) {
        uint32_t len = raft_log_entry(&r->log, cut)->len;
        if (r->cfg.log_keep_bytes && bytes + len > r->cfg.log_keep_bytes) {
            break;
        }
        bytes += len;
        cut--;
    }
    if (cut > r->log.offset) {
        raft_log_compact(&r->log, cut);
    }
    if (meta_out) {
        *meta_out = meta;
    }
    return 0;
}
