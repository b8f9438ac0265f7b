/* sim_fault: what a seed does to its world. The parameters (sizes, limits, network weather)
 * come from the seed; during the chaos phase fault events arrive at random: partitions
 * (symmetric, and one-way), healing, crashes (of any node, the leader more often), restarts,
 * membership changes (add a learner, promote, demote, remove, the leader included), leadership
 * transfers, and changes of loss, duplication and delay. Then everything heals and the world
 * must converge: a leader commits a barrier entry that every member applies. */
#include <assert.h>
#include <string.h>

#include "sim.h"

void sim_params_choose(sim_world_t *w) {
    sim_rng_t *g = &w->rng;
    sim_params_t *p = &w->p;
    p->voters = sim_chance(g, 600) ? 3 : 5;
    p->nodes = p->voters + 1;
    p->clients = (uint32_t)sim_range(g, 2, SIM_CLIENTS_MAX);
    p->heartbeat_ticks = (uint32_t)sim_range(g, 1, 3);
    p->pre_vote = sim_chance(g, 850);
    p->check_quorum = sim_chance(g, 850);
    p->msg_bytes_max = (uint32_t)sim_range(g, 40, 2048);
    p->inflight_max = (uint32_t)sim_range(g, 1, 16);
    p->chunk_bytes = (uint32_t)sim_range(g, 16, 512);
    p->apply_bytes_max = (uint32_t)sim_range(g, 32, 4096);
    p->uncommitted_bytes_max = (uint32_t)sim_range(g, 256, 1u << 16);
    p->log_keep = (uint32_t)(sim_chance(g, 500) ? 0 : sim_range(g, 1, 10));
    /* Derived, not drawn, so every seed's other draws (and the regression seeds) stay. */
    p->log_keep_bytes = p->log_keep % 3 == 2 ? p->log_keep * 8 : 0;
    p->snapshot_every = (uint32_t)sim_range(g, 5, 80);
    p->snapshot_pad = (uint32_t)sim_range(g, 0, 600);
    p->delay_min_us = (int64_t)sim_range(g, 50, 1000);
    p->delay_max_us = p->delay_min_us + (int64_t)sim_range(g, 0, 5000);
    p->long_delay_permille = (uint32_t)sim_range(g, 0, 30);
    p->drop_permille = (uint32_t)(sim_chance(g, 300) ? 0 : sim_range(g, 1, 100));
    p->dup_permille = (uint32_t)(sim_chance(g, 500) ? 0 : sim_range(g, 1, 50));
    p->disk_max_us = (int64_t)(sim_chance(g, 150) ? 0 : sim_range(g, 50, 8000));
    p->chaos_us = (int64_t)sim_range(g, 2000000, 20000000);
    p->fault_every_us = (int64_t)sim_range(g, 15000, 200000);
    /* How this seed hurts the cluster: each weight is the share of fault events of one kind. */
    p->weight_partition = (uint32_t)sim_range(g, 0, 20);
    p->weight_crash = (uint32_t)sim_range(g, 0, 30);
    p->weight_membership = (uint32_t)sim_range(g, 0, 15);
    p->weight_transfer = (uint32_t)sim_range(g, 0, 10);
    p->crash_leader_permille = (uint32_t)sim_range(g, 200, 900);
    p->weight_pause = (uint32_t)sim_range(g, 0, 10);
    p->snapshot_external = sim_chance(g, 500);
    p->async_commit = sim_chance(g, 200);
    w->totals.async_worlds += p->async_commit;
    w->drop_permille = p->drop_permille;
    w->dup_permille = p->dup_permille;
    w->long_delay_permille = p->long_delay_permille;
}

static int random_node(sim_world_t *w, bool want_up) {
    int candidates[SIM_NODES_MAX], n = 0;
    for (int i = 0; i < (int)w->p.nodes; i++) {
        if (w->nodes[i].up == want_up) {
            candidates[n++] = i;
        }
    }
    return n ? candidates[sim_range(&w->rng, 0, (uint64_t)n - 1)] : -1;
}

static void heal_links(sim_world_t *w) {
    memset(w->blocked, 0, sizeof w->blocked);
    sim_tracef(w, "network healed");
}

/* Splits the nodes into two random non-empty sides that cannot talk. */
static void partition(sim_world_t *w) {
    uint32_t n = w->p.nodes;
    uint64_t mask = sim_range(&w->rng, 1, (1ull << n) - 2);
    heal_links(w);
    for (uint32_t a = 0; a < n; a++) {
        for (uint32_t b = 0; b < n; b++) {
            w->blocked[a][b] = ((mask >> a) & 1) != ((mask >> b) & 1);
        }
    }
    w->totals.partitions++;
    sim_tracef(w, "partition: side mask %llx", (unsigned long long)mask);
}

/* Cuts one direction of a node's links: it can hear but not speak, or speak but not hear. */
static void one_way(sim_world_t *w) {
    int x = sim_chance(&w->rng, 500) ? sim_find_leader(w) : -1;
    if (x < 0) {
        x = (int)sim_range(&w->rng, 0, w->p.nodes - 1);
    }
    bool outgoing = sim_chance(&w->rng, 500);
    for (uint32_t o = 0; o < w->p.nodes; o++) {
        if ((int)o != x && sim_chance(&w->rng, 800)) {
            if (outgoing) {
                w->blocked[x][o] = true;
            } else {
                w->blocked[o][x] = true;
            }
        }
    }
    w->totals.one_way_partitions++;
    sim_tracef(w, "one-way partition: n%d cannot %s", x + 1, outgoing ? "send" : "receive");
}

static void isolate(sim_world_t *w) {
    int x = sim_chance(&w->rng, 600) ? sim_find_leader(w) : -1;
    if (x < 0) {
        x = (int)sim_range(&w->rng, 0, w->p.nodes - 1);
    }
    for (uint32_t o = 0; o < w->p.nodes; o++) {
        w->blocked[x][o] = w->blocked[o][x] = (int)o != x;
    }
    w->totals.partitions++;
    sim_tracef(w, "n%d isolated", x + 1);
}

static void crash(sim_world_t *w) {
    int x = sim_chance(&w->rng, w->p.crash_leader_permille) ? sim_find_leader(w) : -1;
    if (x < 0) {
        x = random_node(w, true);
    }
    if (x >= 0) {
        sim_node_crash(w, x);
    }
}

/* Freezes a process (as SIGSTOP would) with all its state; it wakes up believing what it
 * believed, possibly that it still leads. */
static void pause_node(sim_world_t *w) {
    int x = sim_chance(&w->rng, 500) ? sim_find_leader(w) : -1;
    if (x < 0) {
        x = random_node(w, true);
    }
    if (x < 0) {
        return;
    }
    int64_t length = (int64_t)sim_range(&w->rng, 20000, 1500000);
    w->nodes[x].paused_until = w->now + length;
    w->totals.pauses++;
    sim_tracef(w, "n%d paused for %.3fs", x + 1, (double)length / 1e6);
}

static void restart(sim_world_t *w) {
    int x = random_node(w, false);
    if (x >= 0) {
        sim_node_restart(w, x);
    }
}

/* One membership change through the leader: bring a non-member in as a learner (or straight as
 * a voter), promote a learner, or demote or remove a voter (possibly the leader itself). */
void sim_membership_event(sim_world_t *w) {
    int l = sim_find_leader(w);
    if (!sim_node_ready_for_calls(w, l)) {
        return;
    }
    raft_status_t st;
    raft_get_status(w->nodes[l].raft, &st);
    uint64_t id = sim_range(&w->rng, 1, w->p.nodes);
    int type;
    if (raft_conf_is_learner(&st.conf, id)) {
        type = RAFT_CONF_ADD_VOTER;
    } else if (!raft_conf_is_voter(&st.conf, id)) {
        type = sim_chance(&w->rng, 700) ? RAFT_CONF_ADD_LEARNER : RAFT_CONF_ADD_VOTER;
    } else if (st.conf.voters_count > 2) {
        type = sim_chance(&w->rng, 700) ? RAFT_CONF_REMOVE : RAFT_CONF_ADD_LEARNER;
    } else {
        return;
    }
    int rc = raft_propose_conf_change(w->nodes[l].raft, type, id, "sim", 3, NULL);
    sim_tracef(w, "n%d proposes conf change %d for n%llu: %s", l + 1, type, (unsigned long long)id,
               raft_strerror(rc));
    if (rc == 0 && sim_chance(&w->rng, 300)) {
        /* Leave the change on a minority: the next leader must cope with it. */
        sim_schedule(w, w->now + (int64_t)sim_range(&w->rng, 100, 20000), EV_CRASH, (uint8_t)l,
                     w->nodes[l].epoch);
    }
    sim_node_drive(w, l);
}

static void transfer(sim_world_t *w) {
    int l = sim_find_leader(w);
    if (!sim_node_ready_for_calls(w, l)) {
        return;
    }
    uint64_t target = sim_range(&w->rng, 1, w->p.nodes);
    raft_status_t st;
    raft_get_status(w->nodes[l].raft, &st);
    int rc = raft_transfer_leader(w->nodes[l].raft, target);
    sim_tracef(w, "n%d transfers leadership to n%llu: %s", l + 1, (unsigned long long)target,
               raft_strerror(rc));
    if (rc == 0) {
        w->transfer_target = target;
        w->transfer_term = st.term;
    }
    sim_node_drive(w, l);
}

static void weather(sim_world_t *w) {
    w->drop_permille = (uint32_t)(sim_chance(&w->rng, 400) ? 0 : sim_range(&w->rng, 1, 300));
    w->dup_permille = (uint32_t)sim_range(&w->rng, 0, 100);
    w->long_delay_permille = (uint32_t)sim_range(&w->rng, 0, 100);
    sim_tracef(w, "weather: drop %u dup %u long delays %u (per mille)", w->drop_permille,
               w->dup_permille, w->long_delay_permille);
}

void sim_fault_event(sim_world_t *w) {
    if (w->healed) {
        return;
    }
    const sim_params_t *p = &w->p;
    uint64_t total = 3ull * p->weight_partition + 2ull * p->weight_crash + p->weight_membership +
                     p->weight_transfer + p->weight_pause + 12;
    uint64_t roll = sim_range(&w->rng, 0, total - 1);
    if (roll < p->weight_partition) {
        partition(w);
    } else if ((roll -= p->weight_partition) < p->weight_partition) {
        isolate(w);
    } else if ((roll -= p->weight_partition) < p->weight_partition) {
        one_way(w);
    } else if ((roll -= p->weight_partition) < p->weight_crash) {
        crash(w);
    } else if ((roll -= p->weight_crash) < p->weight_crash) {
        restart(w);
    } else if ((roll -= p->weight_crash) < p->weight_membership) {
        sim_membership_event(w);
    } else if ((roll -= p->weight_membership) < p->weight_transfer) {
        transfer(w);
    } else if ((roll -= p->weight_transfer) < p->weight_pause) {
        pause_node(w);
    } else if ((roll -= p->weight_pause) < 8) {
        heal_links(w);
    } else {
        weather(w);
    }
    int64_t gap = p->fault_every_us;
    sim_schedule(w, w->now + (int64_t)sim_range(&w->rng, (uint64_t)gap / 2, (uint64_t)gap * 3 / 2),
                 EV_FAULT, 0, 0);
}

void sim_heal(sim_world_t *w) {
    w->healed = true;
    w->heal_time = w->now;
    heal_links(w);
    w->drop_permille = 0;
    w->dup_permille = 0;
    w->long_delay_permille = 0;
    for (int i = 0; i < (int)w->p.nodes; i++) {
        if (!w->nodes[i].up) {
            sim_node_restart(w, i);
        }
        w->nodes[i].paused_until = 0;
    }
    sim_tracef(w, "faults stop: all links healed, all nodes up");
    sim_schedule(w, w->now + 50000, EV_CHECK_DONE, 0, 0);
}

/* Every member of the leader's configuration has applied the barrier. */
static bool barrier_applied(const sim_world_t *w, const raft_status_t *st) {
    for (int i = 0; i < (int)w->p.nodes; i++) {
        const sim_node_t *nd = &w->nodes[i];
        bool member =
            raft_conf_is_voter(&st->conf, nd->id) || raft_conf_is_learner(&st->conf, nd->id);
        if (member && (!nd->up || nd->kv.applied < w->barrier_applied)) {
            return false;
        }
    }
    return true;
}

void sim_liveness_check(sim_world_t *w) {
    sim_schedule(w, w->now + 50000, EV_CHECK_DONE, 0, 0);
    int l = sim_find_leader(w);
    if (!sim_node_ready_for_calls(w, l)) {
        return;
    }
    raft_t *r = w->nodes[l].raft;
    raft_status_t st;
    raft_get_status(r, &st);
    if (!w->barrier_applied) {
        if (w->barrier_index == 0 || st.term != w->barrier_term ||
            w->now - w->barrier_time > 500000) {
            sim_propose_barrier(w, l);
        }
        return;
    }
    if (!barrier_applied(w, &st)) {
        return;
    }
    w->stop_clients = true;
    if (sim_clients_idle(w)) {
        sim_check_convergence(w);
        w->done = true;
        sim_tracef(w, "converged: barrier %llu applied by every member",
                   (unsigned long long)w->barrier_applied);
    }
}
