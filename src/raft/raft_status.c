/* raft_status: read-only views of an instance (status, progress, entries), the invariant
 * checker used by tests and the simulator, and names for codes and types. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "raft/raft_int.h"

void raft_get_status(const raft_t *r, raft_status_t *st) {
    memset(st, 0, sizeof *st);
    st->id = r->id;
    st->role = r->role;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->log.commit;
    st->applied = r->log.applied;
    st->stable = r->log.stable;
    st->first_index = r->log.offset + 1;
    st->last_index = raft_log_last(&r->log);
    st->snapshot_index = r->snapshot.meta.index;
    st->snapshot_term = r->snapshot.meta.term;
    st->conf_index = r->conf_index;
    st->transfer_target = r->transfer_target;
    st->conf = r->conf;
    st->log_bytes = r->log.bytes;
    st->reset_needed = r->reset_needed;
    st->stats = r->stats;
}

int raft_get_progress(const raft_t *r, uint64_t id, raft_progress_info_t *info) {
    if (r->role != RAFT_LEADER) {
        return RAFT_ENOTLEADER;
    }
    for (size_t i = 0; i < r->peers_count; i++) {
        const raft_progress_t *pr = &r->peers[i];
        if (pr->id == id) {
            *info = (raft_progress_info_t){pr->match,   pr->next,          pr->state,
                                           pr->learner, pr->recent_active, pr->inflight_count};
            return 0;
        }
    }
    return -ENOENT;
}

int raft_get_entry(const raft_t *r, uint64_t index, raft_entry_t *out) {
    const raft_entry_t *e = raft_log_entry(&r->log, index);
    if (!e) {
        return -ENOENT;
    }
    *out = *e;
    return 0;
}

uint64_t raft_get_term(const raft_t *r, uint64_t index) {
    return raft_log_term(&r->log, index);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(err, err_size, __VA_ARGS__);                                                  \
            return -EFAULT;                                                                        \
        }                                                                                          \
    } while (0)

static int check_log(const raft_t *r, char *err, size_t err_size) {
    const raft_log_t *log = &r->log;
    uint64_t last = raft_log_last(log);
    CHECK(log->first + log->count <= log->cap || log->count == 0, "log array overrun");
    CHECK(log->offset <= log->commit && log->commit <= last, "commit %llu outside [%llu, %llu]",
          (unsigned long long)log->commit, (unsigned long long)log->offset,
          (unsigned long long)last);
    CHECK(log->applied <= log->commit, "applied %llu > commit %llu",
          (unsigned long long)log->applied, (unsigned long long)log->commit);
    CHECK(log->stable <= last, "stable beyond the log");
    CHECK(r->base_index >= log->offset && r->base_index <= log->commit, "base index misplaced");
    uint64_t prev_term = log->offset_term, uncommitted = 0, bytes = 0;
    for (uint64_t i = log->offset + 1; i <= last; i++) {
        const raft_entry_t *e = raft_log_entry(log, i);
        CHECK(e->index == i, "entry at %llu says index %llu", (unsigned long long)i,
              (unsigned long long)e->index);
        CHECK(e->term >= prev_term && e->term <= r->term, "entry %llu has term %llu",
              (unsigned long long)i, (unsigned long long)e->term);
        prev_term = e->term;
        bytes += e->len;
        if (i > log->commit) {
            uncommitted += e->len;
        }
    }
    CHECK(uncommitted == log->uncommitted_bytes, "uncommitted bytes %llu, counted %llu",
          (unsigned long long)log->uncommitted_bytes, (unsigned long long)uncommitted);
    CHECK(bytes == log->bytes, "log bytes %llu, counted %llu", (unsigned long long)log->bytes,
          (unsigned long long)bytes);
    return 0;
}

static int check_roles(const raft_t *r, char *err, size_t err_size) {
    CHECK(r->conf.voters_count + r->conf.learners_count == r->peers_count,
          "progress count differs from the configuration");
    for (size_t i = 0; i < r->peers_count; i++) {
        const raft_progress_t *pr = &r->peers[i];
        CHECK(pr->learner == raft_conf_is_learner(&r->conf, pr->id), "learner flag of %llu",
              (unsigned long long)pr->id);
        CHECK(pr->inflight_count <= r->cfg.inflight_max, "inflight overrun");
        if (r->role == RAFT_LEADER && pr->id != r->id) {
            CHECK(pr->match < pr->next || pr->state == RAFT_PROGRESS_SNAPSHOT,
                  "progress of %llu: match %llu next %llu", (unsigned long long)pr->id,
                  (unsigned long long)pr->match, (unsigned long long)pr->next);
        }
    }
    if (r->role == RAFT_LEADER) {
        CHECK(r->leader == r->id && r->vote == r->id, "leader without its own vote");
    }
    if (r->role == RAFT_CANDIDATE) {
        CHECK(r->vote == r->id, "candidate without its own vote");
    }
    CHECK(r->reads_count <= RAFT_READS_MAX, "read queue overrun");
    return 0;
}

int raft_check(const raft_t *r, char *err, size_t err_size) {
    int rc = check_log(r, err, err_size);
    return rc ? rc : check_roles(r, err, err_size);
}

const char *raft_strerror(int code) {
    switch (code) {
    case 0:
        return "ok";
    case RAFT_ENOTLEADER:
        return "not the leader";
    case RAFT_ETRANSFER:
        return "leadership transfer in progress";
    case RAFT_ECONFPENDING:
        return "configuration change pending";
    default:
        return code < 0 ? strerror(-code) : "unknown";
    }
}

const char *raft_role_name(int role) {
    static const char *const names[] = {"follower", "pre-candidate", "candidate", "leader"};
    return role >= 0 && role <= RAFT_LEADER ? names[role] : "?";
}

const char *raft_msg_type_name(uint32_t type) {
    static const char *const names[] = {"?",          "APPEND",         "APPEND_RESP",
                                        "HEARTBEAT",  "HEARTBEAT_RESP", "VOTE",
                                        "VOTE_RESP",  "PRE_VOTE",       "PRE_VOTE_RESP",
                                        "SNAPSHOT",   "SNAPSHOT_RESP",  "TIMEOUT_NOW",
                                        "READ_INDEX", "READ_INDEX_RESP"};
    return type < RAFT_MSG_TYPE_END ? names[type] : "?";
}
