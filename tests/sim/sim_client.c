/* sim_client: the replicated state machine (a few registers) and the clients that use it.
 *
 * A command entry is a fixed 32-byte record {op, key, client, seq, arg1, arg2}. Clients write,
 * compare-and-set and read (ReadIndex, on the leader or on a follower); every operation with
 * its outcome goes into the history that lincheck checks at the end. A write's outcome is ok
 * when the node it went to applies it, fail when that node applies another entry at its index
 * (an entry never moves, so it is lost for good), unknown when the node crashes, skips the index
 * through a snapshot, or the client times out. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "sim.h"

enum { CMD_WRITE = 1, CMD_CAS = 2, CMD_BARRIER = 3 };

typedef struct cmd {
    uint8_t op;
    uint8_t key;
    uint8_t pad[2];
    uint32_t client;
    uint64_t seq;
    int64_t arg1;
    int64_t arg2;
} cmd_t;

static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}

static uint64_t hash_entry(const raft_entry_t *e) {
    uint64_t h = mix(e->term, e->type);
    for (uint32_t i = 0; i < e->len; i++) {
        h = mix(h, (unsigned char)e->data[i]);
    }
    return h;
}

static bool decode_cmd(const raft_entry_t *e, cmd_t *c) {
    if (e->type != RAFT_ENTRY_NORMAL || e->len != sizeof *c) {
        return false;
    }
    memcpy(c, e->data, sizeof *c);
    return true;
}

static void count_conf(sim_world_t *w, const raft_entry_t *e) {
    raft_conf_change_t change;
    if (raft_conf_entry_decode(e, &change) != 0) {
        sim_failf(w, "conf entry %llu does not decode", (unsigned long long)e->index);
        return;
    }
    w->totals.conf_add_voter += change.type == RAFT_CONF_ADD_VOTER;
    w->totals.conf_add_learner += change.type == RAFT_CONF_ADD_LEARNER;
    w->totals.conf_remove += change.type == RAFT_CONF_REMOVE;
    sim_tracef(w, "conf change %u node %llu committed at %llu: %u voters, %u learners", change.type,
               (unsigned long long)change.node, (unsigned long long)e->index,
               change.conf.voters_count, change.conf.learners_count);
}

void sim_kv_apply(sim_world_t *w, int n, const raft_entry_t *e) {
    sim_kv_t *kv = &w->nodes[n].kv;
    if (e->index != kv->applied + 1) {
        sim_failf(w, "n%d applies %llu after %llu", n + 1, (unsigned long long)e->index,
                  (unsigned long long)kv->applied);
        return;
    }
    int64_t result = 0;
    cmd_t c;
    if (decode_cmd(e, &c) && c.key < SIM_KEYS) {
        if (c.op == CMD_WRITE) {
            kv->values[c.key] = c.arg1;
        } else if (c.op == CMD_CAS && kv->values[c.key] == c.arg1) {
            kv->values[c.key] = c.arg2;
            result = 1;
        } else if (c.op == CMD_BARRIER && c.seq == w->barrier_seq && !w->barrier_applied) {
            w->barrier_applied = e->index;
        }
    }
    kv->digest = mix(mix(kv->digest, e->index), hash_entry(e));
    kv->applied = e->index;
    if (decode_cmd(e, &c) && c.op == CMD_BARRIER) {
        w->nodes[n].barrier_seq = c.seq;
        w->nodes[n].barrier_digest = kv->digest;
    }
    bool first = e->index >= w->committed_cap || w->applied_digest[e->index] == 0;
    if (first && e->type == RAFT_ENTRY_CONF) {
        count_conf(w, e);
    }
    sim_check_apply(w, n, e->index);
    sim_clients_on_apply(w, n, e, result);
}

#define SNAPSHOT_MAGIC 0x534e4150u

void sim_kv_snapshot(const sim_world_t *w, const sim_kv_t *kv, buf_t *out) {
    uint32_t magic = SNAPSHOT_MAGIC, pad = w->p.snapshot_pad;
    buf_append(out, &magic, sizeof magic);
    buf_append(out, kv, sizeof *kv);
    buf_append(out, &pad, sizeof pad);
    uint64_t h = kv->digest;
    for (uint32_t i = 0; i < pad; i++) {
        h = mix(h, i);
        char byte = (char)h;
        buf_append(out, &byte, 1);
    }
}

int sim_kv_restore(sim_kv_t *kv, const char *data, uint64_t len) {
    uint32_t magic, pad;
    size_t fixed = sizeof magic + sizeof *kv + sizeof pad;
    if (len < fixed) {
        return -1;
    }
    memcpy(&magic, data, sizeof magic);
    memcpy(kv, data + sizeof magic, sizeof *kv);
    memcpy(&pad, data + sizeof magic + sizeof *kv, sizeof pad);
    uint64_t h = kv->digest;
    for (uint32_t i = 0; i < pad && fixed + i < len; i++) {
        h = mix(h, i);
        if (data[fixed + i] != (char)h) {
            return -1;
        }
    }
    return magic == SNAPSHOT_MAGIC && len == fixed + pad ? 0 : -1;
}

static void value_str(int64_t v, char *out, size_t size) {
    if (v == 0) {
        snprintf(out, size, "nil");
    } else {
        snprintf(out, size, "%lld", (long long)v);
    }
}

static void next_op_later(sim_world_t *w, int c, int64_t min_us, int64_t max_us) {
    sim_schedule(w, w->now + (int64_t)sim_range(&w->rng, (uint64_t)min_us, (uint64_t)max_us),
                 EV_CLIENT, (uint8_t)c, 0);
}

/* Records the operation and frees the client. Reads that got no answer are dropped: they had
 * no effect and returned nothing. */
static void finish(sim_world_t *w, int c, int outcome, int64_t result) {
    sim_client_t *cl = &w->clients[c];
    bool read = cl->kind == LINCHECK_READ;
    if (!(read && outcome != LINCHECK_OK)) {
        char process[16], key[8], a1[24], a2[24], res[24];
        snprintf(process, sizeof process, "c%u", cl->id);
        snprintf(key, sizeof key, "k%d", cl->key);
        value_str(cl->arg1, a1, sizeof a1);
        value_str(cl->arg2, a2, sizeof a2);
        if (read) {
            value_str(result, res, sizeof res);
        } else {
            snprintf(res, sizeof res, "%s", result ? "true" : "false");
        }
        lincheck_op_t op = {process, cl->kind, key, a1, a2, cl->invoke, w->now, outcome, res};
        char err[128];
        if (lincheck_add(w->history, &op, err, sizeof err) != 0) {
            sim_failf(w, "history: %s", err);
        }
    }
    w->totals.ops_ok += outcome == LINCHECK_OK;
    w->totals.ops_fail += outcome == LINCHECK_FAIL;
    w->totals.ops_unknown += outcome == LINCHECK_UNKNOWN;
    w->totals.reads_ok += read && outcome == LINCHECK_OK;
    w->totals.cas_ok += cl->kind == LINCHECK_CAS && outcome == LINCHECK_OK && result;
    if (outcome == LINCHECK_OK && cl->kind != LINCHECK_CAS) {
        cl->last_seen[cl->key] = read ? result : cl->arg1;
    } else if (outcome == LINCHECK_OK && result) {
        cl->last_seen[cl->key] = cl->arg2;
    }
    sim_tracef(w, "c%u %s k%d -> %s %lld", cl->id,
               cl->kind == LINCHECK_READ    ? "read"
               : cl->kind == LINCHECK_WRITE ? "write"
                                            : "cas",
               cl->key,
               outcome == LINCHECK_OK     ? "ok"
               : outcome == LINCHECK_FAIL ? "fail"
                                          : "unknown",
               (long long)result);
    cl->state = CL_IDLE;
    cl->op_number++;
    next_op_later(w, c, 0, 2000);
}

void sim_clients_start(sim_world_t *w) {
    for (uint32_t i = 0; i < w->p.clients; i++) {
        w->clients[i].id = i + 1;
        next_op_later(w, (int)i, 0, 20000);
    }
}

static int pick_node(sim_world_t *w) {
    if (sim_chance(&w->rng, 750)) {
        int leader = sim_find_leader(w);
        if (leader >= 0) {
            return leader;
        }
    }
    return (int)sim_range(&w->rng, 0, w->p.nodes - 1);
}

static int start_read(sim_world_t *w, sim_client_t *cl) {
    cl->ctx = ++w->next_ctx;
    int rc = raft_read_index(w->nodes[cl->node].raft, cl->ctx);
    cl->state = CL_WAIT_READ_STATE;
    return rc;
}

static int start_write(sim_world_t *w, sim_client_t *cl) {
    raft_t *r = w->nodes[cl->node].raft;
    cmd_t c = {.op = cl->kind == LINCHECK_CAS ? CMD_CAS : CMD_WRITE,
               .key = (uint8_t)cl->key,
               .client = cl->id,
               .seq = cl->seq,
               .arg1 = cl->arg1,
               .arg2 = cl->arg2};
    int rc = raft_propose(r, &c, sizeof c, &cl->index);
    raft_status_t st;
    raft_get_status(r, &st);
    cl->term = st.term;
    cl->state = CL_WAIT_APPLY;
    return rc;
}

void sim_client_event(sim_world_t *w, int c) {
    sim_client_t *cl = &w->clients[c];
    if (cl->state != CL_IDLE || w->done || w->stop_clients) {
        return;
    }
    cl->node = pick_node(w);
    if (!sim_node_ready_for_calls(w, cl->node)) {
        next_op_later(w, c, 500, 3000);
        return;
    }
    uint64_t roll = sim_range(&w->rng, 0, 99);
    cl->kind = roll < 45 ? LINCHECK_READ : roll < 80 ? LINCHECK_WRITE : LINCHECK_CAS;
    cl->key = (int)sim_range(&w->rng, 0, SIM_KEYS - 1);
    cl->seq++;
    cl->invoke = w->now;
    int64_t fresh = (int64_t)cl->id * 1000000000 + (int64_t)cl->seq;
    cl->arg1 = cl->kind == LINCHECK_CAS ? cl->last_seen[cl->key] : fresh;
    cl->arg2 = cl->kind == LINCHECK_CAS ? fresh : 0;
    int rc = cl->kind == LINCHECK_READ ? start_read(w, cl) : start_write(w, cl);
    if (rc != 0) {
        cl->state = CL_IDLE; /* refused at once: never invoked */
        next_op_later(w, c, 1000, 5000);
        return;
    }
    sim_schedule(w, w->now + SIM_OP_TIMEOUT_US, EV_CLIENT_TIMEOUT, (uint8_t)c, cl->op_number);
    sim_node_drive(w, cl->node);
}

void sim_client_timeout(sim_world_t *w, int c, uint32_t op_number) {
    sim_client_t *cl = &w->clients[c];
    if (cl->state == CL_IDLE || cl->op_number != op_number) {
        return;
    }
    finish(w, c, cl->kind == LINCHECK_READ ? LINCHECK_FAIL : LINCHECK_UNKNOWN, 0);
}

void sim_clients_on_apply(sim_world_t *w, int n, const raft_entry_t *e, int64_t result) {
    for (uint32_t i = 0; i < w->p.clients; i++) {
        sim_client_t *cl = &w->clients[i];
        if (cl->state != CL_WAIT_APPLY || cl->node != n || cl->index != e->index) {
            continue;
        }
        cmd_t c;
        bool mine = decode_cmd(e, &c) && c.client == cl->id && c.seq == cl->seq;
        if (mine && e->term != cl->term) {
            sim_failf(w, "c%u's command applied at %llu with term %llu, proposed in %llu", cl->id,
                      (unsigned long long)e->index, (unsigned long long)e->term,
                      (unsigned long long)cl->term);
        }
        finish(w, (int)i, mine ? LINCHECK_OK : LINCHECK_FAIL, result);
    }
}

static void complete_read(sim_world_t *w, int c) {
    sim_client_t *cl = &w->clients[c];
    const sim_node_t *nd = &w->nodes[cl->node];
    raft_status_t st;
    raft_get_status(nd->raft, &st);
    w->totals.follower_reads_ok += st.role != RAFT_LEADER;
    finish(w, c, LINCHECK_OK, nd->kv.values[cl->key]);
}

void sim_clients_on_read_state(sim_world_t *w, int n, const raft_read_state_t *rs) {
    for (uint32_t i = 0; i < w->p.clients; i++) {
        sim_client_t *cl = &w->clients[i];
        if (cl->state == CL_WAIT_READ_STATE && cl->node == n && cl->ctx == rs->ctx) {
            cl->index = rs->index;
            cl->state = CL_WAIT_READ_APPLY;
        }
    }
}

void sim_clients_on_applied(sim_world_t *w, int n) {
    const sim_kv_t *kv = &w->nodes[n].kv;
    for (uint32_t i = 0; i < w->p.clients && !w->failed; i++) {
        sim_client_t *cl = &w->clients[i];
        if (cl->node != n || cl->index > kv->applied) {
            continue;
        }
        if (cl->state == CL_WAIT_READ_APPLY) {
            complete_read(w, (int)i);
        } else if (cl->state == CL_WAIT_APPLY) {
            finish(w, (int)i, LINCHECK_UNKNOWN, 0); /* skipped through a snapshot */
        }
    }
}

void sim_clients_on_crash(sim_world_t *w, int n) {
    for (uint32_t i = 0; i < w->p.clients; i++) {
        sim_client_t *cl = &w->clients[i];
        if (cl->state != CL_IDLE && cl->node == n) {
            finish(w, (int)i, cl->kind == LINCHECK_READ ? LINCHECK_FAIL : LINCHECK_UNKNOWN, 0);
        }
    }
}

bool sim_clients_idle(const sim_world_t *w) {
    for (uint32_t i = 0; i < w->p.clients; i++) {
        if (w->clients[i].state != CL_IDLE) {
            return false;
        }
    }
    return true;
}

void sim_propose_barrier(sim_world_t *w, int n) {
    cmd_t c = {.op = CMD_BARRIER, .seq = w->barrier_seq + 1};
    uint64_t index;
    if (raft_propose(w->nodes[n].raft, &c, sizeof c, &index) == 0) {
        raft_status_t st;
        raft_get_status(w->nodes[n].raft, &st);
        w->barrier_index = index;
        w->barrier_term = st.term;
        w->barrier_seq++;
        w->barrier_time = w->now;
        sim_tracef(w, "barrier proposed at n%d index %llu", n + 1, (unsigned long long)index);
        sim_node_drive(w, n);
    }
}
