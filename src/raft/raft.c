/* raft: instance life, roles, elections (pre-vote, check-quorum, leases), ticks, the step
 * dispatcher and the public entry points. The design is in docs/ARCHITECTURE.md ("Raft core");
 * the rules are those of the Raft paper and dissertation (Ongaro), shaped like etcd's library:
 * the core decides, the caller persists and sends (raft.h). */
#include "raft/raft.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

void raft_config_default(raft_config_t *config, uint64_t id) {
    memset(config, 0, sizeof *config);
    config->id = id;
    config->election_ticks = 10;
    config->heartbeat_ticks = 1;
    config->seed = id;
    config->pre_vote = true;
    config->check_quorum = true;
    config->msg_bytes_max = 1u << 20;
    config->inflight_max = 64;
    config->snapshot_chunk_bytes = 1u << 20;
    config->snapshot_bytes_max = (uint64_t)8 << 30;
    config->apply_bytes_max = 4u << 20;
    config->uncommitted_bytes_max = 256u << 20;
    config->log_keep_entries = 0;
}

static int config_check(const raft_config_t *c) {
    if (c->id == 0 || c->election_ticks < 2 || c->heartbeat_ticks == 0 ||
        c->heartbeat_ticks >= c->election_ticks) {
        return -EINVAL;
    }
    if (c->inflight_max == 0 || c->inflight_max > RAFT_INFLIGHT_MAX || c->msg_bytes_max == 0 ||
        c->msg_bytes_max > RAFT_MSG_BYTES_MAX) {
        return -EINVAL;
    }
    if (c->snapshot_chunk_bytes == 0 || c->snapshot_chunk_bytes > RAFT_SNAPSHOT_CHUNK_MAX ||
        c->snapshot_bytes_max > RAFT_SNAPSHOT_BYTES_MAX) {
        return -EINVAL;
    }
    if (c->apply_bytes_max == 0 || c->uncommitted_bytes_max == 0) {
        return -EINVAL;
    }
    return 0;
}

/* splitmix64: small, fast, and good enough for spreading election timeouts. */
static uint64_t rng_next(raft_t *r) {
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void reset_timeout(raft_t *r) {
    uint32_t e = r->cfg.election_ticks;
    r->randomized_timeout = e + (uint32_t)(rng_next(r) % e);
}

int raft_create(const raft_config_t *config, raft_t **out) {
    assert(config && out);
    raft_conf_t conf;
    int rc = config_check(config);
    if (rc == 0) {
        rc = raft_conf_from_lists(&conf, config->voters, config->voters_count, config->learners,
                                  config->learners_count);
    }
    if (rc != 0) {
        return rc;
    }
    raft_t *r = mem_calloc(1, sizeof *r);
    r->cfg = *config;
    r->cfg.voters = NULL;
    r->cfg.learners = NULL;
    r->id = config->id;
    r->rng = config->seed ^ (config->id * 0x2545f4914f6cdd1dull);
    raft_log_init(&r->log);
    buf_init(&r->recv_buf);
    r->base_conf = conf;
    raft_set_conf(r, &conf, 0);
    r->role = RAFT_FOLLOWER;
    r->reported_role = RAFT_FOLLOWER;
    reset_timeout(r);
    *out = r;
    return 0;
}

void raft_destroy(raft_t *r) {
    if (!r) {
        return;
    }
    raft_log_free(&r->log);
    mem_free(r->peers);
    mem_free(r->reads);
    mem_free((void *)r->snapshot.data);
    buf_free(&r->recv_buf);
    mem_free(r->msgs);
    mem_free(r->read_states);
    mem_free(r);
}

static int restore_check(const raft_t *r, const raft_hard_state_t *hs, const raft_snapshot_t *snap,
                         const raft_entry_t *entries, size_t n) {
    if (r->term != 0 || raft_log_last(&r->log) != 0 || r->ready_outstanding) {
        return -EINVAL;
    }
    uint64_t base = snap ? snap->meta.index : 0;
    uint64_t prev_term = snap ? snap->meta.term : 0;
    if (hs->term > RAFT_TERM_MAX || hs->commit > RAFT_INDEX_MAX) {
        return -EINVAL;
    }
    if (snap && (snap->meta.index == 0 || snap->meta.term == 0 ||
                 snap->meta.index > RAFT_INDEX_MAX || snap->meta.term > RAFT_TERM_MAX ||
                 raft_conf_validate(&snap->meta.conf) != 0 ||
                 (snap->len && !snap->data && !r->cfg.snapshot_external))) {
        return -EINVAL;
    }
    uint64_t expect = 0;
    for (size_t i = 0; i < n; i++) {
        const raft_entry_t *e = &entries[i];
        if (e->index <= base) {
            continue;
        }
        if ((expect == 0 && e->index != base + 1) || (expect && e->index != expect) ||
            e->index > RAFT_INDEX_MAX || e->term < prev_term || e->term > RAFT_TERM_MAX ||
            e->type > RAFT_ENTRY_CONF || e->len > RAFT_ENTRY_BYTES_MAX || (e->len && !e->data)) {
            return -EINVAL;
        }
        expect = e->index + 1;
        prev_term = e->term;
    }
    uint64_t last = expect ? expect - 1 : base;
    return hs->commit > last ? -EINVAL : 0;
}

int raft_restore(raft_t *r, const raft_hard_state_t *hs, const raft_snapshot_t *snap,
                 const raft_entry_t *entries, size_t entries_count) {
    assert(r && hs);
    int rc = restore_check(r, hs, snap, entries, entries_count);
    if (rc != 0) {
        return rc;
    }
    if (snap) {
        char *copy = NULL;
        if (!r->cfg.snapshot_external) {
            copy = mem_alloc(snap->len ? snap->len : 1);
            if (snap->len) {
                memcpy(copy, snap->data, snap->len);
            }
        }
        r->snapshot.meta = snap->meta;
        r->snapshot.data = copy;
        r->snapshot.len = snap->len;
        r->base_conf = snap->meta.conf;
        r->base_index = snap->meta.index;
        raft_log_reset(&r->log, snap->meta.index, snap->meta.term);
    }
    for (size_t i = 0; i < entries_count; i++) {
        const raft_entry_t *e = &entries[i];
        if (e->index > r->log.offset) {
            raft_log_append_copy(&r->log, e->term, e->type, e->data, e->len);
        }
    }
    r->term = hs->term;
    r->vote = hs->vote;
    if (raft_log_last_term(&r->log) > r->term) {
        /* Entries (or a snapshot) were persisted but the hard state written after them was
         * not. Nothing was sent for that Ready, so no vote was promised in the newer term:
         * adopt it, with no vote, and keep the term at least the log's last term. */
        r->term = raft_log_last_term(&r->log);
        r->vote = 0;
    }
    r->log.stable = raft_log_last(&r->log);
    raft_log_commit_to(&r->log, hs->commit > r->log.offset ? hs->commit : r->log.offset);
    r->log.applied = r->log.offset;
    r->log.applying = r->log.offset;
    r->persisted_hs = *hs;      /* a term adopted from the log is persisted by the first Ready */
    r->conf_index = UINT64_MAX; /* force the reload to install the restored configuration */
    raft_reload_conf(r);
    return 0;
}

raft_msg_t *raft_send(raft_t *r, uint32_t type, uint64_t to) {
    assert(to != 0);
    assert(to != r->id);
    if (r->msgs_count == r->msgs_cap) {
        r->msgs_cap = r->msgs_cap ? r->msgs_cap * 2 : 16;
        r->msgs = mem_realloc(r->msgs, r->msgs_cap * sizeof *r->msgs);
    }
    raft_msg_t *m = &r->msgs[r->msgs_count++];
    memset(m, 0, sizeof *m);
    m->type = type;
    m->from = r->id;
    m->to = to;
    m->term = r->term;
    return m;
}

static void reset_votes(raft_t *r) {
    for (size_t i = 0; i < r->peers_count; i++) {
        r->peers[i].vote = -1;
    }
}

void raft_become_follower(raft_t *r, uint64_t term, uint64_t leader) {
    assert(term >= r->term);
    if (term > r->term) {
        r->term = term;
        r->vote = 0;
    }
    r->role = RAFT_FOLLOWER;
    r->leader = leader;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    r->transfer_target = 0;
    reset_timeout(r);
    reset_votes(r);
    raft_read_clear(r);
}

static void become_leader(raft_t *r) {
    assert(r->role == RAFT_CANDIDATE);
    r->role = RAFT_LEADER;
    r->leader = r->id;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    r->transfer_target = 0;
    r->quorum_match = 0;
    for (size_t i = 0; i < r->peers_count; i++) {
        raft_repl_reset_progress(r, &r->peers[i]);
    }
    r->stats.elections_won++;
    /* The no-op of the new term: committing it commits everything before it (figure 8). */
    raft_append_local(r, RAFT_ENTRY_NORMAL, NULL, 0);
}

enum { TALLY_PENDING = 0, TALLY_WON, TALLY_LOST };

static int tally(const raft_t *r) {
    size_t granted = 0, refused = 0;
    for (size_t i = 0; i < r->peers_count; i++) {
        const raft_progress_t *pr = &r->peers[i];
        if (!pr->learner) {
            granted += pr->vote == 1;
            refused += pr->vote == 0;
        }
    }
    size_t quorum = raft_conf_quorum(&r->conf);
    if (granted >= quorum) {
        return TALLY_WON;
    }
    return refused >= quorum ? TALLY_LOST : TALLY_PENDING;
}

static void record_vote(raft_t *r, uint64_t from, bool granted) {
    raft_progress_t *pr = raft_peer(r, from);
    if (pr && !pr->learner && pr->vote < 0) {
        pr->vote = granted ? 1 : 0;
    }
}

static void campaign(raft_t *r, bool pre, bool transfer);

static void on_tally(raft_t *r) {
    int result = tally(r);
    if (result == TALLY_WON) {
        if (r->role == RAFT_PRE_CANDIDATE) {
            campaign(r, false, false);
        } else {
            become_leader(r);
        }
    } else if (result == TALLY_LOST) {
        raft_become_follower(r, r->term, 0);
    }
}

/* A voter of its latest configuration campaigns. So does a node that only an uncommitted
 * entry removed or demoted: until that entry commits it may be the one node able to lead (two
 * leaders of different terms may each have appended their own removal, leaving the remaining
 * voter with the shorter log), so it keeps starting elections without counting its own vote
 * (Raft dissertation, 4.2.2; tally counts only the latest configuration's voters). Walks the log
 * back to the previous configuration only while such an entry is uncommitted. */
static bool may_campaign(const raft_t *r) {
    if (raft_is_voter(r, r->id)) {
        return true;
    }
    if (r->conf_index <= r->log.commit) {
        return false;
    }
    raft_conf_t before;
    raft_conf_at(r, r->conf_index - 1, &before);
    return raft_conf_is_voter(&before, r->id);
}

static void campaign(raft_t *r, bool pre, bool transfer) {
    assert(may_campaign(r));
    r->role = pre ? RAFT_PRE_CANDIDATE : RAFT_CANDIDATE;
    r->leader = 0;
    r->election_elapsed = 0;
    reset_timeout(r);
    reset_votes(r);
    if (pre) {
        r->stats.pre_votes_started++;
    } else {
        r->term++;
        r->vote = r->id;
        r->stats.elections_started++;
    }
    uint64_t term = pre ? r->term + 1 : r->term;
    for (size_t i = 0; i < r->peers_count; i++) {
        const raft_progress_t *pr = &r->peers[i];
        if (pr->learner || pr->id == r->id) {
            continue;
        }
        raft_msg_t *m = raft_send(r, pre ? RAFT_MSG_PRE_VOTE : RAFT_MSG_VOTE, pr->id);
        m->term = term;
        m->index = raft_log_last(&r->log);
        m->log_term = raft_log_last_term(&r->log);
        m->flags = transfer ? RAFT_FLAG_TRANSFER : 0;
    }
    record_vote(r, r->id, true);
    on_tally(r);
}

void raft_append_local(raft_t *r, uint32_t type, const void *data, size_t len) {
    raft_log_append_copy(&r->log, r->term, type, data, len);
    if (type == RAFT_ENTRY_CONF) {
        raft_conf_change_t change;
        const raft_entry_t *e = raft_log_entry(&r->log, raft_log_last(&r->log));
        int rc = raft_conf_entry_decode(e, &change);
        assert(rc == 0);
        (void)rc;
        raft_set_conf(r, &change.conf, e->index);
    }
}

static bool quorum_active(raft_t *r) {
    size_t active = 0;
    for (size_t i = 0; i < r->peers_count; i++) {
        raft_progress_t *pr = &r->peers[i];
        if (!pr->learner && (pr->id == r->id || pr->recent_active)) {
            active++;
        }
        if (pr->id != r->id) {
            pr->recent_active = false;
        }
    }
    return r->conf.voters_count > 0 && active >= raft_conf_quorum(&r->conf);
}

static void tick_leader(raft_t *r) {
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->transfer_target && ++r->transfer_elapsed >= r->cfg.election_ticks) {
        r->transfer_target = 0;
        r->stats.transfers_aborted++;
    }
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum && !quorum_active(r)) {
            r->stats.check_quorum_stepdowns++;
            raft_become_follower(r, r->term, 0);
            return;
        }
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        raft_repl_broadcast_heartbeat(r);
        raft_repl_on_heartbeat_interval(r);
    }
}

void raft_tick(raft_t *r) {
    assert(r);
    assert(!r->ready_outstanding);
    if (r->reset_needed) {
        return;
    }
    if (r->role == RAFT_LEADER) {
        tick_leader(r);
        return;
    }
    if (r->election_elapsed < UINT32_MAX) {
        r->election_elapsed++;
    }
    if (r->election_elapsed >= r->randomized_timeout && may_campaign(r)) {
        campaign(r, r->cfg.pre_vote, false);
    }
}

static bool entries_valid(const raft_msg_t *m) {
    if (m->entries_count > RAFT_MSG_ENTRIES_MAX || (m->entries_count && !m->entries) ||
        m->index + m->entries_count > RAFT_INDEX_MAX || m->log_term > m->term) {
        return false;
    }
    uint64_t prev_term = m->log_term;
    for (uint32_t i = 0; i < m->entries_count; i++) {
        const raft_entry_t *e = &m->entries[i];
        if (e->index != m->index + 1 + i || e->term < prev_term || e->term > m->term ||
            e->type > RAFT_ENTRY_CONF || e->len > RAFT_ENTRY_BYTES_MAX || (e->len && !e->data)) {
            return false;
        }
        prev_term = e->term;
    }
    return true;
}

static bool snapshot_msg_valid(const raft_msg_t *m) {
    const raft_snapshot_meta_t *meta = &m->snapshot;
    return m->chunk_len <= RAFT_SNAPSHOT_CHUNK_MAX && (m->chunk_len == 0 || m->chunk) &&
           meta->index <= RAFT_INDEX_MAX && m->snapshot_size <= RAFT_SNAPSHOT_BYTES_MAX &&
           m->snapshot_offset <= m->snapshot_size &&
           m->chunk_len <= m->snapshot_size - m->snapshot_offset && meta->index > 0 &&
           meta->term > 0 && meta->term <= m->term && raft_conf_validate(&meta->conf) == 0;
}

/* Shape checks on what a peer says; a message failing them changes nothing. */
static bool msg_valid(const raft_t *r, const raft_msg_t *m) {
    if (m->type < RAFT_MSG_APPEND || m->type >= RAFT_MSG_TYPE_END || m->from == 0 ||
        m->from == r->id || m->to != r->id || m->term == 0) {
        return false;
    }
    /* Terms and indexes far beyond any real log are refused, so term + 1 and index + 1
     * never overflow. */
    if (m->term > RAFT_TERM_MAX || m->log_term > RAFT_TERM_MAX || m->index > RAFT_INDEX_MAX) {
        return false;
    }
    if (m->type != RAFT_MSG_APPEND && m->entries_count != 0) {
        return false;
    }
    if (m->type == RAFT_MSG_APPEND) {
        return entries_valid(m);
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        return snapshot_msg_valid(m);
    }
    return true;
}

static bool log_up_to_date(const raft_t *r, uint64_t index, uint64_t term) {
    uint64_t last_term = raft_log_last_term(&r->log);
    return term > last_term || (term == last_term && index >= raft_log_last(&r->log));
}

static void step_vote(raft_t *r, const raft_msg_t *m) {
    bool pre = m->type == RAFT_MSG_PRE_VOTE;
    bool can_vote =
        r->vote == m->from || (r->vote == 0 && r->leader == 0) || (pre && m->term > r->term);
    if (raft_log_last(&r->log) == 0 && m->log_term < r->vote_floor) {
        can_vote = false; /* a reset node's empty log: see raft_set_vote_floor */
    }
    uint32_t type = pre ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    if (can_vote && log_up_to_date(r, m->index, m->log_term)) {
        raft_msg_t *resp = raft_send(r, type, m->from);
        resp->term = m->term;
        if (!pre) {
            r->election_elapsed = 0;
            r->vote = m->from;
        }
        return;
    }
    raft_msg_t *resp = raft_send(r, type, m->from);
    resp->flags = RAFT_FLAG_REJECT;
}

static void step_candidate(raft_t *r, const raft_msg_t *m) {
    uint32_t expect = r->role == RAFT_PRE_CANDIDATE ? RAFT_MSG_PRE_VOTE_RESP : RAFT_MSG_VOTE_RESP;
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        raft_become_follower(r, m->term, m->from);
        raft_follow_step(r, m);
        return;
    default:
        if (m->type == expect) {
            record_vote(r, m->from, !(m->flags & RAFT_FLAG_REJECT));
            on_tally(r);
        }
        return;
    }
}

static void step_follower(raft_t *r, const raft_msg_t *m) {
    switch (m->type) {
    case RAFT_MSG_APPEND:
    case RAFT_MSG_HEARTBEAT:
    case RAFT_MSG_SNAPSHOT:
        r->leader = m->from;
        r->election_elapsed = 0;
        raft_follow_step(r, m);
        return;
    case RAFT_MSG_TIMEOUT_NOW:
        if (raft_is_voter(r, r->id)) {
            campaign(r, false, true);
        }
        return;
    case RAFT_MSG_READ_INDEX_RESP:
        raft_read_state_push(r, m->context, m->index);
        return;
    default:
        return;
    }
}

/* A message from an older term: ignored, except that a stale leader or candidate is told the
 * current term. A stale leader must learn it so that, with check-quorum and pre-vote, a node
 * holding a higher term is not left unable to rejoin. A stale candidate must learn it too: while
 * uncommitted membership changes leave nodes with different configurations, a candidate may
 * reach only nodes that never write to it, and without this answer it could stay a term behind
 * forever while its log is the one that should win (Raft paper, figure 2: the reply carries
 * the current term). */
static void step_lower_term(raft_t *r, const raft_msg_t *m) {
    if ((r->cfg.check_quorum || r->cfg.pre_vote) &&
        (m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT ||
         m->type == RAFT_MSG_SNAPSHOT)) {
        raft_send(r, RAFT_MSG_APPEND_RESP, m->from);
    } else if (m->type == RAFT_MSG_PRE_VOTE || m->type == RAFT_MSG_VOTE) {
        uint32_t type = m->type == RAFT_MSG_VOTE ? RAFT_MSG_VOTE_RESP : RAFT_MSG_PRE_VOTE_RESP;
        raft_msg_t *resp = raft_send(r, type, m->from);
        resp->flags = RAFT_FLAG_REJECT;
    }
}

/* A message from a newer term. Returns false when it is to be ignored. */
static bool step_higher_term(raft_t *r, const raft_msg_t *m) {
    bool vote = m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE;
    if (vote) {
        bool in_lease =
            r->cfg.check_quorum && r->leader != 0 && r->election_elapsed < r->cfg.election_ticks;
        if (in_lease && !(m->flags & RAFT_FLAG_TRANSFER)) {
            r->stats.votes_ignored_in_lease++;
            return false;
        }
    }
    if (m->type == RAFT_MSG_PRE_VOTE ||
        (m->type == RAFT_MSG_PRE_VOTE_RESP && !(m->flags & RAFT_FLAG_REJECT))) {
        return true; /* a pre-vote changes no term */
    }
    bool from_leader =
        m->type == RAFT_MSG_APPEND || m->type == RAFT_MSG_HEARTBEAT || m->type == RAFT_MSG_SNAPSHOT;
    raft_become_follower(r, m->term, from_leader ? m->from : 0);
    return true;
}

int raft_step(raft_t *r, const raft_msg_t *m) {
    assert(r && m);
    assert(!r->ready_outstanding);
    if (!msg_valid(r, m)) {
        r->stats.messages_invalid++;
        return -EINVAL;
    }
    if (r->reset_needed) {
        return 0;
    }
    if (m->term > r->term && !step_higher_term(r, m)) {
        return 0;
    }
    if (m->term < r->term) {
        step_lower_term(r, m);
        return 0;
    }
    if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PRE_VOTE) {
        step_vote(r, m);
        return 0;
    }
    switch (r->role) {
    case RAFT_LEADER:
        raft_repl_step_leader(r, m);
        break;
    case RAFT_CANDIDATE:
    case RAFT_PRE_CANDIDATE:
        step_candidate(r, m);
        break;
    default:
        step_follower(r, m);
        break;
    }
    return 0;
}

/* What a leader checks before it accepts a proposal or a transfer: 0, RAFT_ENOTLEADER or
 * RAFT_ETRANSFER (a transfer in progress). */
static int leader_accepts(const raft_t *r) {
    assert(r);
    assert(!r->ready_outstanding);
    if (r->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    return r->transfer_target ? RAFT_ETRANSFER : 0;
}

int raft_can_propose(const raft_t *r) { return leader_accepts(r); }

int raft_propose(raft_t *r, const void *data, size_t len, uint64_t *index_out) {
    int rc = leader_accepts(r);
    if (rc != 0) {
        return rc;
    }
    if (len > RAFT_ENTRY_BYTES_MAX || (len && !data)) {
        return -EMSGSIZE;
    }
    if (r->log.uncommitted_bytes > 0 &&
        r->log.uncommitted_bytes + len > r->cfg.uncommitted_bytes_max) {
        return -ENOBUFS;
    }
    raft_append_local(r, RAFT_ENTRY_NORMAL, data, len);
    if (index_out) {
        *index_out = raft_log_last(&r->log);
    }
    return 0;
}

int raft_propose_conf_change(raft_t *r, int type, uint64_t node, const void *context,
                             size_t context_len, uint64_t *index_out) {
    int rc = leader_accepts(r);
    if (rc != 0) {
        return rc;
    }
    if (context_len > RAFT_CONF_CONTEXT_MAX || (context_len && !context)) {
        return -EINVAL;
    }
    /* The previous change is committed, and an entry of this term is on a quorum (not only
     * committed: under async_commit the leader commits alone). Without the latter, a leader
     * could change the configuration while voters still hold another uncommitted change of an
     * older term, and the two configurations might elect two leaders in one term. */
    if (r->conf_index > r->log.commit || raft_log_term(&r->log, r->quorum_match) != r->term) {
        return RAFT_ECONFPENDING;
    }
    if (r->log.offset > r->snapshot.meta.index) {
        return RAFT_ESNAPSHOT; /* a new member could need forgotten entries */
    }
    raft_conf_t next;
    rc = raft_conf_apply_change(&r->conf, type, node, &next);
    if (rc != 0) {
        return rc;
    }
    buf_t payload;
    buf_init(&payload);
    raft_conf_entry_encode(&payload, type, node, &next, context, context_len);
    raft_append_local(r, RAFT_ENTRY_CONF, payload.data, payload.len);
    buf_free(&payload);
    r->stats.conf_changes_proposed++;
    if (index_out) {
        *index_out = raft_log_last(&r->log);
    }
    return 0;
}

int raft_read_index(raft_t *r, uint64_t ctx) {
    assert(r);
    assert(!r->ready_outstanding);
    if (r->role == RAFT_LEADER) {
        return raft_read_request(r, ctx, r->id);
    }
    if (r->role != RAFT_FOLLOWER || r->leader == 0) {
        return RAFT_ENOTLEADER;
    }
    raft_msg_t *m = raft_send(r, RAFT_MSG_READ_INDEX, r->leader);
    m->context = ctx;
    return 0;
}

int raft_transfer_leader(raft_t *r, uint64_t target) {
    int rc = leader_accepts(r);
    if (rc != 0) {
        return rc;
    }
    if (target == r->id || !raft_is_voter(r, target)) {
        return -EINVAL;
    }
    r->transfer_target = target;
    r->transfer_elapsed = 0;
    r->stats.transfers_started++;
    const raft_progress_t *pr = raft_peer(r, target);
    if (pr->match == raft_log_last(&r->log)) {
        raft_repl_send_timeout_now(r, target);
    }
    return 0;
}

int raft_forget(raft_t *r, uint64_t index) {
    assert(r);
    assert(!r->ready_outstanding);
    if (r->conf.voters_count != 1 || r->conf.learners_count != 0 || r->conf.voters[0] != r->id) {
        return -EPERM;
    }
    if (index > r->log.applied || index > r->log.stable) {
        return -EINVAL;
    }
    if (index <= r->log.offset) {
        return 0;
    }
    /* The configuration at index becomes the base: the entries that made it are dropped. */
    raft_conf_t conf;
    raft_conf_at(r, index, &conf);
    raft_log_compact(&r->log, index);
    r->base_conf = conf;
    r->base_index = index;
    return 0;
}

bool raft_needs_reset(const raft_t *r) {
    assert(r);
    return r->reset_needed;
}

void raft_set_vote_floor(raft_t *r, uint64_t term) {
    assert(r);
    assert(term <= r->term);
    r->vote_floor = term;
}
