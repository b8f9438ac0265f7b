/* group_peer: who the members are and how to reach them. Addresses come from the command line
 * (--peers: static, they win) and from the log (the context of each membership change, and the
 * metadata of snapshots); the bus peers follow the configuration; the leader promotes a learner
 * added with ADD (not ADD ... LEARNER) once it has caught up. Design: docs/ARCHITECTURE.md,
 * "Replication". */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "repl/group_int.h"

repl_member_t *repl_peer_find(repl_group_t *g, uint64_t id) {
    for (size_t i = 0; i < g->members_count; i++) {
        if (g->members[i].id == id) {
            return &g->members[i];
        }
    }
    return NULL;
}

const repl_member_t *repl_group_member(const repl_group_t *g, uint64_t id) {
    return repl_peer_find((repl_group_t *)g, id);
}

void repl_peer_learn(repl_group_t *g, const repl_member_t *m, bool is_static) {
    assert(m->id != 0);
    repl_member_t *have = repl_peer_find(g, m->id);
    if (!have) {
        if (g->members_count == REPL_ADDRESSES_MAX) {
            log_warning("repl", "group %u: no room for the address of node %llu", g->o.group_id,
                        (unsigned long long)m->id);
            return;
        }
        size_t i = g->members_count++;
        g->members[i] = *m;
        g->member_static[i] = is_static;
        g->member_on_bus[i] = false;
        return;
    }
    size_t i = (size_t)(have - g->members);
    uint8_t flags = is_static && !g->member_static[i] ? have->flags : m->flags;
    if (is_static || !g->member_static[i]) {
        snprintf(have->host, sizeof have->host, "%s", m->host);
        have->bus_port = m->bus_port;
    }
    have->flags = flags; /* the log says whether a learner waits for promotion */
    g->member_static[i] |= is_static;
}

void repl_peer_learn_entry(repl_group_t *g, const raft_entry_t *e) {
    raft_conf_change_t cc;
    if (raft_conf_entry_decode(e, &cc) != 0 || cc.type == RAFT_CONF_REMOVE ||
        cc.context_len == 0) {
        return;
    }
    repl_member_t m = {.id = cc.node};
    if (repl_member_decode(cc.context, cc.context_len, &m) == 0) {
        repl_peer_learn(g, &m, false);
    }
}

static bool in_conf(const raft_conf_t *conf, uint64_t id) {
    return raft_conf_is_voter(conf, id) || raft_conf_is_learner(conf, id);
}

static void bus_add(repl_group_t *g, size_t i) {
    const repl_member_t *m = &g->members[i];
    bus_peer_stats_t st;
    if (bus_stats(g->bus, (uint32_t)m->id, &st) == 0) {
        g->member_on_bus[i] = true;
        return;
    }
    int rc = bus_add_peer(g->bus, (uint32_t)m->id, m->host, m->bus_port);
    if (rc == 0) {
        g->member_on_bus[i] = true;
        log_notice("repl", "group %u: talking to node %llu at %s:%u", g->o.group_id,
                   (unsigned long long)m->id, m->host, m->bus_port);
    } else if (rc != -EEXIST) {
        log_warning("repl", "group %u: cannot reach node %llu at %s:%u: %s", g->o.group_id,
                    (unsigned long long)m->id, m->host, m->bus_port,
                    rc == -EPERM ? "not on loopback and no cluster secret is set" : strerror(-rc));
    }
}

/* The bus peers this group added follow its configuration; static peers always stay. A member
 * being removed stays reachable until its removal is applied, so the answer to the command that
 * removed it (it may have come from that member) still reaches it. */
void repl_peer_sync_bus(repl_group_t *g) {
    if (!g->bus) {
        return;
    }
    raft_conf_t conf;
    repl_group_conf(g, &conf);
    for (size_t i = 0; i < g->members_count; i++) {
        uint64_t id = g->members[i].id;
        if (id == g->o.id) {
            continue;
        }
        bool wanted =
            g->member_static[i] || in_conf(&conf, id) || in_conf(&g->applied_conf, id);
        if (wanted && !g->member_on_bus[i]) {
            bus_add(g, i);
        } else if (!wanted && g->member_on_bus[i]) {
            bus_remove_peer(g->bus, (uint32_t)id);
            g->member_on_bus[i] = false;
            log_notice("repl", "group %u: node %llu left the group", g->o.group_id,
                       (unsigned long long)id);
        }
    }
}

void repl_peer_promote(repl_group_t *g) {
    raft_status_t st;
    raft_get_status(g->raft, &st);
    if (st.role != RAFT_LEADER) {
        return;
    }
    for (uint32_t i = 0; i < st.conf.learners_count; i++) {
        uint64_t id = st.conf.learners[i];
        repl_member_t *m = repl_peer_find(g, id);
        raft_progress_info_t pr;
        if (!m || !(m->flags & REPL_MEMBER_PROMOTE) || raft_get_progress(g->raft, id, &pr) != 0 ||
            pr.match + REPL_PROMOTE_LAG < st.last_index) {
            continue;
        }
        repl_member_t voter = *m;
        uint64_t index = 0, term = 0;
        if (repl_group_propose_member(g, RAFT_CONF_ADD_VOTER, &voter, false, &index, &term) == 0) {
            log_notice("repl", "group %u: node %llu caught up (index %llu): making it a voter",
                       g->o.group_id, (unsigned long long)id, (unsigned long long)pr.match);
        }
        return; /* one membership change at a time */
    }
}
