/* raft_conf: membership. A configuration is a set of voters and a set of learners; a change
 * adds, promotes, demotes or removes one member, so the voter set changes by at most one and
 * any majority of the old set overlaps any majority of the new one (the Raft dissertation's
 * single-server change). A configuration takes effect as soon as its entry is in a log; the
 * leader refuses a second change while one is uncommitted and before it has committed an entry
 * of its own term (the known pitfall of single-server changes across leader changes).
 *
 * Conf entry payload, little endian: u8 version (1), u8 change type, u64 node,
 * u8 voters_count, u64 voter..., u8 learners_count, u64 learner..., u32 context_len, context. */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

#define CONF_ENTRY_VERSION 1

static bool id_in(const uint64_t *ids, uint32_t count, uint64_t id) {
    for (uint32_t i = 0; i < count; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

bool raft_conf_is_voter(const raft_conf_t *conf, uint64_t id) {
    return id_in(conf->voters, conf->voters_count, id);
}

bool raft_conf_is_learner(const raft_conf_t *conf, uint64_t id) {
    return id_in(conf->learners, conf->learners_count, id);
}

int raft_conf_validate(const raft_conf_t *conf) {
    if (conf->voters_count > RAFT_MEMBERS_MAX || conf->learners_count > RAFT_MEMBERS_MAX ||
        conf->voters_count + conf->learners_count > RAFT_MEMBERS_MAX) {
        return -EINVAL;
    }
    for (uint32_t i = 0; i < conf->voters_count; i++) {
        uint64_t id = conf->voters[i];
        if (id == 0 || id_in(conf->voters, i, id)) {
            return -EINVAL;
        }
    }
    for (uint32_t i = 0; i < conf->learners_count; i++) {
        uint64_t id = conf->learners[i];
        if (id == 0 || id_in(conf->learners, i, id) || raft_conf_is_voter(conf, id)) {
            return -EINVAL;
        }
    }
    return 0;
}

int raft_conf_from_lists(raft_conf_t *conf, const uint64_t *voters, size_t voters_count,
                         const uint64_t *learners, size_t learners_count) {
    memset(conf, 0, sizeof *conf);
    if (voters_count > RAFT_MEMBERS_MAX || learners_count > RAFT_MEMBERS_MAX) {
        return -EINVAL;
    }
    if ((voters_count && !voters) || (learners_count && !learners)) {
        return -EINVAL;
    }
    conf->voters_count = (uint32_t)voters_count;
    conf->learners_count = (uint32_t)learners_count;
    if (voters_count) {
        memcpy(conf->voters, voters, voters_count * sizeof *voters);
    }
    if (learners_count) {
        memcpy(conf->learners, learners, learners_count * sizeof *learners);
    }
    return raft_conf_validate(conf);
}

static bool id_remove(uint64_t *ids, uint32_t *count, uint64_t id) {
    for (uint32_t i = 0; i < *count; i++) {
        if (ids[i] == id) {
            ids[i] = ids[*count - 1];
            (*count)--;
            return true;
        }
    }
    return false;
}

int raft_conf_apply_change(const raft_conf_t *from, int type, uint64_t node, raft_conf_t *to) {
    assert(from && to);
    if (node == 0) {
        return -EINVAL;
    }
    *to = *from;
    bool voter = raft_conf_is_voter(from, node);
    bool learner = raft_conf_is_learner(from, node);
    switch (type) {
    case RAFT_CONF_ADD_VOTER:
        if (voter) {
            return -EALREADY;
        }
        id_remove(to->learners, &to->learners_count, node);
        if (to->voters_count + to->learners_count >= RAFT_MEMBERS_MAX) {
            return -ENOSPC;
        }
        to->voters[to->voters_count++] = node;
        return 0;
    case RAFT_CONF_ADD_LEARNER:
        if (learner) {
            return -EALREADY;
        }
        id_remove(to->voters, &to->voters_count, node);
        if (voter && to->voters_count == 0) {
            return -EINVAL;
        }
        if (to->voters_count + to->learners_count >= RAFT_MEMBERS_MAX) {
            return -ENOSPC;
        }
        to->learners[to->learners_count++] = node;
        return 0;
    case RAFT_CONF_REMOVE:
        if (!voter && !learner) {
            return -ENOENT;
        }
        id_remove(to->voters, &to->voters_count, node);
        id_remove(to->learners, &to->learners_count, node);
        return to->voters_count == 0 ? -EINVAL : 0;
    default:
        return -EINVAL;
    }
}

size_t raft_conf_quorum(const raft_conf_t *conf) {
    return conf->voters_count / 2 + 1;
}

void raft_conf_entry_encode(buf_t *out, int type, uint64_t node, const raft_conf_t *conf,
                            const void *context, size_t context_len) {
    assert(context_len <= RAFT_CONF_CONTEXT_MAX);
    raft_put_u8(out, CONF_ENTRY_VERSION);
    raft_put_u8(out, (uint8_t)type);
    raft_put_u64(out, node);
    raft_put_u8(out, (uint8_t)conf->voters_count);
    for (uint32_t i = 0; i < conf->voters_count; i++) {
        raft_put_u64(out, conf->voters[i]);
    }
    raft_put_u8(out, (uint8_t)conf->learners_count);
    for (uint32_t i = 0; i < conf->learners_count; i++) {
        raft_put_u64(out, conf->learners[i]);
    }
    raft_put_u32(out, (uint32_t)context_len);
    if (context_len) {
        buf_append(out, context, context_len);
    }
}

int raft_conf_entry_decode(const raft_entry_t *entry, raft_conf_change_t *out) {
    memset(out, 0, sizeof *out);
    if (entry->type != RAFT_ENTRY_CONF) {
        return -EBADMSG;
    }
    raft_reader_t rd = {(const uint8_t *)entry->data, (const uint8_t *)entry->data + entry->len,
                        false};
    if (entry->len == 0 || raft_get_le(&rd, 1) != CONF_ENTRY_VERSION) {
        return -EBADMSG;
    }
    out->type = (uint32_t)raft_get_le(&rd, 1);
    out->node = raft_get_le(&rd, 8);
    out->conf.voters_count = (uint32_t)raft_get_le(&rd, 1);
    for (uint32_t i = 0; i < out->conf.voters_count && i < RAFT_MEMBERS_MAX; i++) {
        out->conf.voters[i] = raft_get_le(&rd, 8);
    }
    out->conf.learners_count = (uint32_t)raft_get_le(&rd, 1);
    for (uint32_t i = 0; i < out->conf.learners_count && i < RAFT_MEMBERS_MAX; i++) {
        out->conf.learners[i] = raft_get_le(&rd, 8);
    }
    out->context_len = (uint32_t)raft_get_le(&rd, 4);
    if (rd.bad || out->context_len > RAFT_CONF_CONTEXT_MAX) {
        return -EBADMSG;
    }
    out->context = raft_get_bytes(&rd, out->context_len);
    if (rd.bad || rd.p != rd.end || raft_conf_validate(&out->conf) != 0 ||
        out->type < RAFT_CONF_ADD_VOTER || out->type > RAFT_CONF_REMOVE) {
        return -EBADMSG;
    }
    return 0;
}

raft_progress_t *raft_peer(raft_t *r, uint64_t id) {
    for (size_t i = 0; i < r->peers_count; i++) {
        if (r->peers[i].id == id) {
            return &r->peers[i];
        }
    }
    return NULL;
}

bool raft_is_voter(const raft_t *r, uint64_t id) {
    return raft_conf_is_voter(&r->conf, id);
}

static void add_peer(raft_t *r, raft_progress_t *peers, size_t *n, uint64_t id, bool learner) {
    raft_progress_t *old = raft_peer(r, id);
    raft_progress_t *pr = &peers[(*n)++];
    if (old) {
        *pr = *old;
    } else {
        memset(pr, 0, sizeof *pr);
        pr->id = id;
        raft_repl_reset_progress(r, pr);
        /* A newcomer is probed from the last entry; its answer says where it really is. */
        uint64_t last = raft_log_last(&r->log);
        pr->next = last > 0 ? last : 1;
    }
    pr->learner = learner;
}

void raft_set_conf(raft_t *r, const raft_conf_t *conf, uint64_t index) {
    assert(raft_conf_validate(conf) == 0);
    size_t n = conf->voters_count + conf->learners_count;
    raft_progress_t *peers = mem_calloc(n ? n : 1, sizeof *peers);
    size_t count = 0;
    for (uint32_t i = 0; i < conf->voters_count; i++) {
        add_peer(r, peers, &count, conf->voters[i], false);
    }
    for (uint32_t i = 0; i < conf->learners_count; i++) {
        add_peer(r, peers, &count, conf->learners[i], true);
    }
    mem_free(r->peers);
    r->peers = peers;
    r->peers_count = count;
    r->conf = *conf;
    r->conf_index = index;
    if (r->transfer_target && !raft_conf_is_voter(conf, r->transfer_target)) {
        r->transfer_target = 0;
        r->stats.transfers_aborted++;
    }
}

/* The newest conf entry in (floor, index], or 0. Walks back through the log: used only when
 * the log is truncated, restored or compacted, never per message. */
static uint64_t find_conf_entry(const raft_t *r, uint64_t index, uint64_t floor,
                                raft_conf_change_t *out) {
    for (uint64_t i = index; i > floor; i--) {
        const raft_entry_t *e = raft_log_entry(&r->log, i);
        assert(e);
        if (e->type == RAFT_ENTRY_CONF && raft_conf_entry_decode(e, out) == 0) {
            return i;
        }
    }
    return 0;
}

void raft_conf_at(const raft_t *r, uint64_t index, raft_conf_t *out) {
    assert(index >= r->base_index);
    raft_conf_change_t change;
    if (find_conf_entry(r, index, r->base_index, &change)) {
        *out = change.conf;
    } else {
        *out = r->base_conf;
    }
}

static bool conf_equal(const raft_conf_t *a, const raft_conf_t *b) {
    return a->voters_count == b->voters_count && a->learners_count == b->learners_count &&
           memcmp(a->voters, b->voters, a->voters_count * sizeof a->voters[0]) == 0 &&
           memcmp(a->learners, b->learners, a->learners_count * sizeof a->learners[0]) == 0;
}

void raft_reload_conf(raft_t *r) {
    raft_conf_change_t change;
    uint64_t index = find_conf_entry(r, raft_log_last(&r->log), r->base_index, &change);
    const raft_conf_t *conf = index ? &change.conf : &r->base_conf;
    if (index == 0) {
        index = r->base_index;
    }
    if (index != r->conf_index || !conf_equal(conf, &r->conf)) {
        raft_set_conf(r, conf, index);
    }
}
