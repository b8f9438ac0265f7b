/* sim_check: Raft's safety properties, checked as the world runs (Raft paper, figure 3):
 *
 *   election safety      at most one leader per term (every node's role, after every event);
 *   log matching         an (index, term) pair names one entry content and one previous term,
 *                        everywhere and forever (every entry a Ready hands out to persist);
 *   leader completeness  a leader of term T holds every entry known committed in a term <= T
 *                        (checked when it wins; the commit's term is the term in which it was
 *                        first observed, never less than the term of the leader that made it);
 *   state machine safety every node applies the same entry at each index: the digest of the
 *                        applied history after index i is the same on every node (every apply
 *                        and every snapshot install);
 *   durability           when a leader commits an entry, a majority of its voters hold it on
 *                        disk (so no crash can lose it);
 * plus the core's own invariants (raft_check) and that no message was refused as malformed.
 * Async worlds (config.async_commit) may lose committed entries by design: they keep election
 * safety, log matching and the core's invariants, and instead of the commit and state machine
 * checks require convergence: every member that applied the final barrier applied the same
 * history up to it (a replica that diverged was reset and resynchronised). */
#include <assert.h>
#include <string.h>

#include "core/mem.h"
#include "sim.h"

typedef struct sim_entry_rec {
    uint64_t index; /* 0: empty slot */
    uint64_t term;
    uint64_t hash;
    uint64_t prev_term; /* 0 when not known */
} sim_entry_rec_t;

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static uint64_t content_hash(const raft_entry_t *e) {
    uint64_t h = 0xcbf29ce484222325ull ^ e->type;
    for (uint32_t i = 0; i < e->len; i++) {
        h = (h ^ (unsigned char)e->data[i]) * 0x100000001b3ull;
    }
    return h;
}

static void grow_by_index(sim_world_t *w, uint64_t index) {
    if (index < w->committed_cap) {
        return;
    }
    size_t cap = w->committed_cap ? w->committed_cap : 1024;
    while (cap <= index) {
        cap *= 2;
    }
    w->committed_term = mem_realloc(w->committed_term, cap * sizeof *w->committed_term);
    w->applied_digest = mem_realloc(w->applied_digest, cap * sizeof *w->applied_digest);
    w->committed_in = mem_realloc(w->committed_in, cap * sizeof *w->committed_in);
    memset(w->committed_in + w->committed_cap, 0,
           (cap - w->committed_cap) * sizeof *w->committed_in);
    memset(w->committed_term + w->committed_cap, 0,
           (cap - w->committed_cap) * sizeof *w->committed_term);
    memset(w->applied_digest + w->committed_cap, 0,
           (cap - w->committed_cap) * sizeof *w->applied_digest);
    w->committed_cap = cap;
}

static sim_entry_rec_t *entry_slot(sim_world_t *w, uint64_t index, uint64_t term) {
    if ((w->entries_count + 1) * 2 > w->entries_cap) {
        size_t cap = w->entries_cap ? w->entries_cap * 2 : 4096;
        sim_entry_rec_t *table = mem_calloc(cap, sizeof *table);
        for (size_t i = 0; i < w->entries_cap; i++) {
            sim_entry_rec_t *old = &w->entries[i];
            if (old->index) {
                size_t j = mix64(old->index * 31 + old->term) & (cap - 1);
                while (table[j].index) {
                    j = (j + 1) & (cap - 1);
                }
                table[j] = *old;
            }
        }
        mem_free(w->entries);
        w->entries = table;
        w->entries_cap = cap;
    }
    size_t j = mix64(index * 31 + term) & (w->entries_cap - 1);
    while (w->entries[j].index && (w->entries[j].index != index || w->entries[j].term != term)) {
        j = (j + 1) & (w->entries_cap - 1);
    }
    return &w->entries[j];
}

static void check_entry(sim_world_t *w, int n, const raft_entry_t *e, uint64_t prev_term) {
    sim_entry_rec_t *rec = entry_slot(w, e->index, e->term);
    uint64_t hash = content_hash(e);
    if (rec->index == 0) {
        *rec = (sim_entry_rec_t){e->index, e->term, hash, prev_term};
        w->entries_count++;
        return;
    }
    if (rec->hash != hash) {
        sim_failf(w, "log matching: n%d holds a different entry at (%llu, term %llu)", n + 1,
                  (unsigned long long)e->index, (unsigned long long)e->term);
    } else if (prev_term && rec->prev_term && prev_term != rec->prev_term) {
        sim_failf(w,
                  "log matching: n%d's entry (%llu, term %llu) follows term %llu, elsewhere %llu",
                  n + 1, (unsigned long long)e->index, (unsigned long long)e->term,
                  (unsigned long long)prev_term, (unsigned long long)rec->prev_term);
    } else if (!rec->prev_term) {
        rec->prev_term = prev_term;
    }
}

void sim_check_ready(sim_world_t *w, int n, const raft_ready_t *rd) {
    raft_t *r = w->nodes[n].raft;
    for (size_t i = 0; i < rd->entries_count && !w->failed; i++) {
        const raft_entry_t *e = &rd->entries[i];
        uint64_t prev = i ? rd->entries[i - 1].term : raft_get_term(r, e->index - 1);
        check_entry(w, n, e, prev);
    }
    if (rd->snapshot && !w->p.async_commit) {
        const raft_snapshot_meta_t *meta = &rd->snapshot->meta;
        grow_by_index(w, meta->index);
        uint64_t known = w->committed_term[meta->index];
        if (known && known != meta->term) {
            sim_failf(w, "n%d installs a snapshot at %llu with term %llu; committed term %llu",
                      n + 1, (unsigned long long)meta->index, (unsigned long long)meta->term,
                      (unsigned long long)known);
        }
    }
    for (size_t i = 0; i < rd->committed_count; i++) {
        if (rd->committed[i].index > rd->hard_state.commit) {
            sim_failf(w, "n%d hands out %llu to apply beyond commit %llu", n + 1,
                      (unsigned long long)rd->committed[i].index,
                      (unsigned long long)rd->hard_state.commit);
        }
    }
}

/* Does node v hold (index, term) on disk? A snapshot covering index holds it (what the
 * snapshot contains is checked through the state digests). */
static bool durable_holds(const sim_node_t *v, uint64_t index, uint64_t term) {
    if (v->has_snapshot && v->snap_meta.index >= index) {
        return true;
    }
    if (index < v->dlog_first || index >= v->dlog_first + v->dlog_count) {
        return false;
    }
    return v->dlog[index - v->dlog_first].term == term;
}

static void check_durable(sim_world_t *w, int n, const raft_status_t *st, uint64_t index,
                          uint64_t term) {
    uint32_t holders = 0;
    for (uint32_t i = 0; i < st->conf.voters_count; i++) {
        uint64_t id = st->conf.voters[i];
        holders += id >= 1 && id <= w->p.nodes && durable_holds(&w->nodes[id - 1], index, term);
    }
    if (holders < st->conf.voters_count / 2 + 1) {
        sim_failf(w,
                  "durability: leader n%d committed %llu (term %llu) held on disk by %u of %u "
                  "voters",
                  n + 1, (unsigned long long)index, (unsigned long long)term, holders,
                  st->conf.voters_count);
    }
}

static void check_commit(sim_world_t *w, int n, const raft_status_t *st) {
    sim_node_t *nd = &w->nodes[n];
    raft_t *r = nd->raft;
    if (w->p.async_commit) {
        /* A leader commits alone: what is committed may be lost at a failover, so neither
         * "committed once, committed everywhere" nor durability on a majority holds. */
        nd->last_commit = st->commit;
        return;
    }
    if (st->commit <= nd->last_commit) {
        return;
    }
    grow_by_index(w, st->commit);
    for (uint64_t i = nd->last_commit + 1; i <= st->commit && !w->failed; i++) {
        uint64_t term = raft_get_term(r, i);
        if (term == 0) {
            continue; /* compacted here: known through other nodes or the snapshot */
        }
        if (w->committed_term[i] && w->committed_term[i] != term) {
            sim_failf(w, "n%d commits %llu with term %llu, committed elsewhere with term %llu",
                      n + 1, (unsigned long long)i, (unsigned long long)term,
                      (unsigned long long)w->committed_term[i]);
        }
        if (!w->committed_term[i]) {
            w->committed_term[i] = term;
            w->committed_in[i] = st->term;
        }
        if (st->role == RAFT_LEADER) {
            check_durable(w, n, st, i, term);
        }
    }
    if (st->commit > w->max_committed) {
        w->max_committed = st->commit;
    }
    nd->last_commit = st->commit;
}

static void check_new_leader(sim_world_t *w, int n, const raft_status_t *st) {
    sim_node_t *nd = &w->nodes[n];
    if (st->term >= w->leader_of_term_cap) {
        size_t cap = w->leader_of_term_cap ? w->leader_of_term_cap : 64;
        while (cap <= st->term) {
            cap *= 2;
        }
        w->leader_of_term = mem_realloc(w->leader_of_term, cap * sizeof *w->leader_of_term);
        memset(w->leader_of_term + w->leader_of_term_cap, 0,
               (cap - w->leader_of_term_cap) * sizeof *w->leader_of_term);
        w->leader_of_term_cap = cap;
    }
    if (w->leader_of_term[st->term] && w->leader_of_term[st->term] != nd->id) {
        sim_failf(w, "election safety: n%llu and n%llu both lead term %llu",
                  (unsigned long long)w->leader_of_term[st->term], (unsigned long long)nd->id,
                  (unsigned long long)st->term);
        return;
    }
    w->leader_of_term[st->term] = nd->id;
    if (nd->checked_leader_term == st->term) {
        return;
    }
    nd->checked_leader_term = st->term;
    w->totals.leader_changes++;
    sim_tracef(w, "n%d becomes leader of term %llu (log %llu..%llu, commit %llu)", n + 1,
               (unsigned long long)st->term, (unsigned long long)st->first_index,
               (unsigned long long)st->last_index, (unsigned long long)st->commit);
    if (!w->healed && sim_chance(&w->rng, w->p.weight_membership * 30)) {
        /* Try a change before the new leader has committed anything of its term: the core
         * must refuse it (the single-server change pitfall). */
        sim_schedule(w, w->now + (int64_t)sim_range(&w->rng, 0, 3000), EV_MEMBERSHIP, 0, 0);
    }
    if (w->transfer_target == nd->id && st->term > w->transfer_term) {
        w->totals.transfers_completed++;
        w->transfer_target = 0;
    }
    for (uint64_t i = st->first_index;
         !w->p.async_commit && i <= w->max_committed && i < w->committed_cap; i++) {
        uint64_t want = w->committed_term[i];
        if (want && w->committed_in[i] <= st->term && raft_get_term(nd->raft, i) != want) {
            sim_failf(w,
                      "leader completeness: n%d leads term %llu without committed entry %llu "
                      "(term %llu)",
                      n + 1, (unsigned long long)st->term, (unsigned long long)i,
                      (unsigned long long)want);
            return;
        }
    }
}

void sim_check_node(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    if (!nd->up || w->failed) {
        return;
    }
    char err[256];
    if (raft_check(nd->raft, err, sizeof err) != 0) {
        sim_failf(w, "n%d: core invariant: %s", n + 1, err);
        return;
    }
    raft_status_t st;
    raft_get_status(nd->raft, &st);
    if (st.stats.messages_invalid != 0) {
        sim_failf(w, "n%d refused a message as malformed", n + 1);
        return;
    }
    if (st.role != nd->last_role || st.term != nd->last_term) {
        sim_tracef(w, "n%d is %s in term %llu", n + 1, raft_role_name(st.role),
                   (unsigned long long)st.term);
        nd->last_role = st.role;
        nd->last_term = st.term;
    }
    if (st.role == RAFT_LEADER) {
        check_new_leader(w, n, &st);
    }
    check_commit(w, n, &st);
}

void sim_check_apply(sim_world_t *w, int n, uint64_t index) {
    grow_by_index(w, index);
    if (w->p.async_commit) {
        return; /* a replica may apply what the group then loses: sim_check_convergence */
    }
    uint64_t digest = w->nodes[n].kv.digest | 1; /* never 0, which marks "unknown" */
    if (w->applied_digest[index] == 0) {
        w->applied_digest[index] = digest;
    } else if (w->applied_digest[index] != digest) {
        sim_failf(w,
                  "state machine safety: n%d's state after applying %llu differs from another "
                  "node's",
                  n + 1, (unsigned long long)index);
    }
}

void sim_check_convergence(sim_world_t *w) {
    if (!w->p.async_commit) {
        return;
    }
    const sim_node_t *first = NULL;
    for (uint32_t i = 0; i < w->p.nodes; i++) {
        const sim_node_t *nd = &w->nodes[i];
        if (!nd->up || nd->barrier_seq != w->barrier_seq) {
            continue; /* not a member, or it got the barrier inside a snapshot */
        }
        if (!first) {
            first = nd;
        } else if (nd->barrier_digest != first->barrier_digest) {
            sim_failf(w, "async convergence: n%llu and n%llu applied different histories up to "
                         "barrier %llu",
                      (unsigned long long)first->id, (unsigned long long)nd->id,
                      (unsigned long long)w->barrier_applied);
            return;
        }
    }
}

void sim_check_free(sim_world_t *w) {
    mem_free(w->leader_of_term);
    mem_free(w->committed_term);
    mem_free(w->committed_in);
    mem_free(w->applied_digest);
    mem_free(w->entries);
}
