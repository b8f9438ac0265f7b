/* sim_world: the simulated world of one seed: its event queue, network, disks and the nodes
 * that drive their Raft cores exactly as a real node must (raft.h): persist a Ready, then send
 * its messages, then apply, then advance. A disk write takes simulated time; a crash meanwhile
 * keeps only a prefix of it (snapshot, entries, hard state, in that order) and sends nothing. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_codec.h"
#include "sim.h"

/* ---- event queue: a binary heap ordered by (time, seq) ---- */

static bool event_before(const sim_event_t *a, const sim_event_t *b) {
    return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void heap_push(sim_world_t *w, sim_event_t ev) {
    if (w->heap_count == w->heap_cap) {
        w->heap_cap = w->heap_cap ? w->heap_cap * 2 : 256;
        w->heap = mem_realloc(w->heap, w->heap_cap * sizeof *w->heap);
    }
    ev.seq = w->next_seq++;
    size_t i = w->heap_count++;
    while (i > 0 && event_before(&ev, &w->heap[(i - 1) / 2])) {
        w->heap[i] = w->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    w->heap[i] = ev;
}

static sim_event_t heap_pop(sim_world_t *w) {
    assert(w->heap_count > 0);
    sim_event_t top = w->heap[0];
    sim_event_t last = w->heap[--w->heap_count];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= w->heap_count) {
            break;
        }
        if (c + 1 < w->heap_count && event_before(&w->heap[c + 1], &w->heap[c])) {
            c++;
        }
        if (!event_before(&w->heap[c], &last)) {
            break;
        }
        w->heap[i] = w->heap[c];
        i = c;
    }
    if (w->heap_count > 0) {
        w->heap[i] = last;
    }
    return top;
}

void sim_schedule(sim_world_t *w, int64_t at, uint8_t kind, uint8_t node, uint32_t epoch) {
    heap_push(w, (sim_event_t){.time = at, .kind = kind, .node = node, .epoch = epoch});
}

/* ---- trace and failure ---- */

void sim_tracef(sim_world_t *w, const char *fmt, ...) {
    if (!w->trace) {
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w->trace_to_stdout) {
        printf("%10.6f %s\n", (double)w->now / 1e6, line);
    } else {
        buf_printf(&w->trace_buf, "%10.6f %s\n", (double)w->now / 1e6, line);
    }
}

void sim_failf(sim_world_t *w, const char *fmt, ...) {
    if (w->failed) {
        return;
    }
    w->failed = true;
    va_list ap;
    va_start(ap, fmt);
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_printf(&w->failure, "at t=%.6fs: %s", (double)w->now / 1e6, msg);
    sim_tracef(w, "FAILURE: %s", msg);
}

/* ---- the network ---- */

/* An external snapshot's chunk is filled by the sending node from the bytes it stored (what a
 * real node reads from its snapshot file). */
static bool fill_chunk(sim_world_t *w, int from, const raft_msg_t *m, raft_msg_t *out) {
    const sim_node_t *nd = &w->nodes[from];
    if (!nd->has_snapshot || nd->snap_meta.index != m->snapshot.index ||
        m->snapshot_size != nd->snap_data.len ||
        m->snapshot_offset + m->chunk_len > nd->snap_data.len) {
        sim_failf(w, "n%d sends chunks of snapshot %llu it does not hold", from + 1,
                  (unsigned long long)m->snapshot.index);
        return false;
    }
    *out = *m;
    out->chunk = nd->snap_data.data + m->snapshot_offset;
    w->totals.external_chunks++;
    return true;
}

static void net_send(sim_world_t *w, int from, const raft_msg_t *m) {
    int to = (int)m->to - 1;
    assert(to >= 0 && to < (int)w->p.nodes);
    raft_msg_t filled;
    if (m->type == RAFT_MSG_SNAPSHOT && !m->chunk && m->chunk_len > 0) {
        if (!fill_chunk(w, from, m, &filled)) {
            return;
        }
        m = &filled;
    }
    buf_t enc;
    buf_init(&enc);
    if (raft_msg_encode(m, &enc) != 0) {
        sim_failf(w, "n%d produced a message it cannot encode (%s)", from + 1,
                  raft_msg_type_name(m->type));
        buf_free(&enc);
        return;
    }
    w->totals.messages++;
    int copies = 1 + sim_chance(&w->rng, w->dup_permille);
    w->totals.duplicated += (uint64_t)(copies - 1);
    for (int i = 0; i < copies; i++) {
        if (w->blocked[from][to] || sim_chance(&w->rng, w->drop_permille)) {
            w->totals.dropped++;
            sim_tracef(w, "n%d -> n%d %s dropped", from + 1, to + 1, raft_msg_type_name(m->type));
            continue;
        }
        int64_t delay =
            (int64_t)sim_range(&w->rng, (uint64_t)w->p.delay_min_us, (uint64_t)w->p.delay_max_us);
        if (sim_chance(&w->rng, w->long_delay_permille)) {
            delay += (int64_t)sim_range(&w->rng, 20000, 300000);
        }
        char *bytes = mem_alloc(enc.len);
        memcpy(bytes, enc.data, enc.len);
        heap_push(w, (sim_event_t){.time = w->now + delay,
                                   .kind = EV_DELIVER,
                                   .node = (uint8_t)to,
                                   .epoch = (uint32_t)from,
                                   .bytes = bytes,
                                   .len = (uint32_t)enc.len});
    }
    buf_free(&enc);
}

static void trace_msg(sim_world_t *w, const raft_msg_t *m) {
    if (!w->trace) {
        return;
    }
    sim_tracef(w, "n%llu -> n%llu %s term=%llu idx=%llu/%llu commit=%llu n=%u ctx=%llu%s%s",
               (unsigned long long)m->from, (unsigned long long)m->to, raft_msg_type_name(m->type),
               (unsigned long long)m->term, (unsigned long long)m->index,
               (unsigned long long)m->log_term, (unsigned long long)m->commit, m->entries_count,
               (unsigned long long)m->context, (m->flags & RAFT_FLAG_REJECT) ? " REJECT" : "",
               (m->flags & RAFT_FLAG_TRANSFER) ? " TRANSFER" : "");
}

static void step_bytes(sim_world_t *w, int n, const char *bytes, uint32_t len) {
    raft_msg_t m;
    if (raft_msg_decode(bytes, len, &m) != 0) {
        sim_failf(w, "n%d received a message that does not decode", n + 1);
        return;
    }
    trace_msg(w, &m);
    int rc = raft_step(w->nodes[n].raft, &m);
    if (rc != 0) {
        sim_failf(w, "n%d refused %s from n%llu: %s", n + 1, raft_msg_type_name(m.type),
                  (unsigned long long)m.from, raft_strerror(rc));
    }
    raft_msg_release(&m);
}

/* ---- durable state ---- */

static void dlog_truncate(sim_node_t *nd, uint64_t index) {
    while (nd->dlog_count > 0 && nd->dlog_first + nd->dlog_count - 1 >= index) {
        mem_free(nd->dlog[--nd->dlog_count].data);
    }
}

static void dlog_drop_through(sim_node_t *nd, uint64_t index) {
    size_t drop = 0;
    while (drop < nd->dlog_count && nd->dlog[drop].index <= index) {
        mem_free(nd->dlog[drop++].data);
    }
    memmove(nd->dlog, nd->dlog + drop, (nd->dlog_count - drop) * sizeof *nd->dlog);
    nd->dlog_count -= drop;
    if (nd->dlog_first <= index) {
        nd->dlog_first = index + 1;
    }
}

static void dlog_put(sim_world_t *w, sim_node_t *nd, const raft_entry_t *e) {
    dlog_truncate(nd, e->index);
    if (e->index != nd->dlog_first + nd->dlog_count) {
        sim_failf(w, "n%llu: Ready entry %llu does not follow the durable log (first %llu, %zu)",
                  (unsigned long long)nd->id, (unsigned long long)e->index,
                  (unsigned long long)nd->dlog_first, nd->dlog_count);
        return;
    }
    if (nd->dlog_count == nd->dlog_cap) {
        nd->dlog_cap = nd->dlog_cap ? nd->dlog_cap * 2 : 64;
        nd->dlog = mem_realloc(nd->dlog, nd->dlog_cap * sizeof *nd->dlog);
    }
    raft_entry_t *copy = &nd->dlog[nd->dlog_count++];
    *copy = *e;
    copy->data = NULL;
    if (e->len) {
        copy->data = mem_alloc(e->len);
        memcpy(copy->data, e->data, e->len);
    }
}

static void store_snapshot(sim_node_t *nd, const raft_snapshot_meta_t *meta, const char *data,
                           uint64_t len) {
    nd->has_snapshot = true;
    nd->snap_meta = *meta;
    buf_clear(&nd->snap_data);
    buf_append(&nd->snap_data, data, len);
}

static size_t ready_units(const raft_ready_t *rd) {
    return (rd->snapshot ? 1 : 0) + rd->entries_count + (rd->hard_state_changed ? 1 : 0);
}

/* Writes the first `units` pieces of rd's durable work: snapshot, entries, hard state. */
static void persist(sim_world_t *w, sim_node_t *nd, const raft_ready_t *rd, size_t units) {
    size_t done = 0;
    if (rd->snapshot) {
        if (done++ >= units) {
            return;
        }
        store_snapshot(nd, &rd->snapshot->meta, rd->snapshot->data, rd->snapshot->len);
        dlog_truncate(nd, 0);
        nd->dlog_first = rd->snapshot->meta.index + 1;
    }
    for (size_t i = 0; i < rd->entries_count; i++) {
        if (done++ >= units) {
            return;
        }
        dlog_put(w, nd, &rd->entries[i]);
    }
    if (rd->hard_state_changed && done++ < units) {
        nd->hs = rd->hard_state;
    }
}

/* ---- nodes ---- */

bool sim_node_ready_for_calls(const sim_world_t *w, int n) {
    return n >= 0 && w->nodes[n].up && !w->nodes[n].persisting &&
           w->nodes[n].paused_until <= w->now;
}

/* A paused node handles nothing: its events wait until it resumes. */
static bool defer_if_paused(sim_world_t *w, sim_event_t *ev) {
    const sim_node_t *nd = &w->nodes[ev->node];
    if (nd->paused_until <= w->now) {
        return false;
    }
    sim_event_t later = *ev;
    later.time = nd->paused_until + (int64_t)sim_range(&w->rng, 0, 100);
    heap_push(w, later);
    return true;
}

int sim_find_leader(const sim_world_t *w) {
    int best = -1;
    uint64_t best_term = 0;
    for (int i = 0; i < (int)w->p.nodes; i++) {
        const sim_node_t *nd = &w->nodes[i];
        if (!nd->up) {
            continue;
        }
        raft_status_t st;
        raft_get_status(nd->raft, &st);
        if (st.role == RAFT_LEADER && st.term >= best_term) {
            best = i;
            best_term = st.term;
        }
    }
    return best;
}

static void node_config(const sim_world_t *w, int n, raft_config_t *cfg, uint64_t *voters) {
    const sim_node_t *nd = &w->nodes[n];
    raft_config_default(cfg, nd->id);
    for (uint32_t i = 0; i < w->p.voters; i++) {
        voters[i] = i + 1;
    }
    if (nd->founding) {
        cfg->voters = voters;
        cfg->voters_count = w->p.voters;
    }
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = w->p.heartbeat_ticks;
    cfg->seed = w->seed * 1000003 + (uint64_t)n * 7919 + nd->lives;
    cfg->pre_vote = w->p.pre_vote;
    cfg->check_quorum = w->p.check_quorum;
    cfg->msg_bytes_max = w->p.msg_bytes_max;
    cfg->inflight_max = w->p.inflight_max;
    cfg->snapshot_chunk_bytes = w->p.chunk_bytes;
    cfg->snapshot_bytes_max = 1u << 20;
    cfg->apply_bytes_max = w->p.apply_bytes_max;
    cfg->uncommitted_bytes_max = w->p.uncommitted_bytes_max;
    cfg->log_keep_entries = w->p.log_keep;
    cfg->log_keep_bytes = w->p.log_keep_bytes;
    cfg->snapshot_external = w->p.snapshot_external;
    cfg->async_commit = w->p.async_commit;
}

void sim_node_restart(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    assert(!nd->up);
    raft_config_t cfg;
    uint64_t voters[SIM_NODES_MAX];
    node_config(w, n, &cfg, voters);
    int rc = raft_create(&cfg, &nd->raft);
    if (rc != 0) {
        sim_failf(w, "n%d: raft_create: %s", n + 1, raft_strerror(rc));
        return;
    }
    raft_snapshot_t snap = {nd->snap_meta, w->p.snapshot_external ? NULL : nd->snap_data.data,
                            nd->snap_data.len};
    rc = raft_restore(nd->raft, &nd->hs, nd->has_snapshot ? &snap : NULL, nd->dlog, nd->dlog_count);
    if (rc != 0) {
        sim_failf(w, "n%d: raft_restore refused the durable state: %s", n + 1, raft_strerror(rc));
        return;
    }
    raft_set_vote_floor(nd->raft, nd->vote_floor); /* no effect once its log holds entries */
    memset(&nd->kv, 0, sizeof nd->kv);
    if (nd->has_snapshot && sim_kv_restore(&nd->kv, nd->snap_data.data, nd->snap_data.len)) {
        sim_failf(w, "n%d: durable snapshot does not decode", n + 1);
        return;
    }
    nd->up = true;
    nd->lives++;
    nd->paused_until = 0;
    nd->tick_us = SIM_TICK_US + (int64_t)sim_range(&w->rng, 0, SIM_TICK_US / 5) - SIM_TICK_US / 10;
    raft_status_t st;
    raft_get_status(nd->raft, &st);
    nd->last_commit = st.commit;
    nd->last_role = st.role;
    nd->last_term = st.term;
    sim_tracef(w, "n%d starts: term %llu commit %llu log %llu..%llu snapshot %llu", n + 1,
               (unsigned long long)st.term, (unsigned long long)st.commit,
               (unsigned long long)st.first_index, (unsigned long long)st.last_index,
               (unsigned long long)st.snapshot_index);
    sim_schedule(w, w->now + (int64_t)sim_range(&w->rng, 1, SIM_TICK_US), EV_TICK, (uint8_t)n,
                 nd->epoch);
    if (w->nodes[n].lives > 1) {
        w->totals.restarts++;
    }
}

static void add_stats(raft_stats_t *to, const raft_stats_t *from) {
    const uint64_t *f = (const uint64_t *)from;
    uint64_t *t = (uint64_t *)to;
    for (size_t i = 0; i < sizeof *to / sizeof(uint64_t); i++) {
        t[i] += f[i];
    }
}

static void node_stop(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    raft_status_t st;
    raft_get_status(nd->raft, &st);
    add_stats(&w->totals.raft, &st.stats);
    raft_destroy(nd->raft);
    nd->raft = NULL;
    for (size_t i = 0; i < nd->inbox_count; i++) {
        mem_free(nd->inbox[i].bytes);
    }
    nd->inbox_count = 0;
    nd->up = false;
    nd->persisting = false;
    nd->pending_ticks = 0;
    nd->epoch++;
}

void sim_node_crash(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    assert(nd->up);
    if (nd->persisting) {
        size_t units = ready_units(&nd->rd);
        size_t kept = (size_t)sim_range(&w->rng, 0, units);
        persist(w, nd, &nd->rd, kept);
        w->totals.torn_writes += kept < units;
        sim_tracef(w, "n%d crashes while persisting: %zu of %zu writes survive", n + 1, kept,
                   units);
    } else {
        sim_tracef(w, "n%d crashes", n + 1);
    }
    w->totals.crashes++;
    node_stop(w, n);
    sim_clients_on_crash(w, n);
}

/* The node takes a snapshot of its state machine every snapshot_every applied entries. */
static void maybe_compact(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    raft_status_t st;
    raft_get_status(nd->raft, &st);
    if (st.applied < st.snapshot_index + w->p.snapshot_every || st.applied <= st.snapshot_index) {
        return;
    }
    assert(nd->kv.applied == st.applied);
    buf_t data;
    buf_init(&data);
    sim_kv_snapshot(w, &nd->kv, &data);
    raft_snapshot_meta_t meta;
    int rc = raft_compact(nd->raft, st.applied, w->p.snapshot_external ? NULL : data.data,
                          data.len, &meta);
    if (rc != 0) {
        sim_failf(w, "n%d: raft_compact(%llu): %s", n + 1, (unsigned long long)st.applied,
                  raft_strerror(rc));
        buf_free(&data);
        return;
    }
    store_snapshot(nd, &meta, data.data, data.len);
    dlog_drop_through(nd, st.applied);
    w->totals.snapshots_taken++;
    sim_tracef(w, "n%d snapshot at %llu (%zu bytes)", n + 1, (unsigned long long)st.applied,
               data.len);
    buf_free(&data);
}

static void complete_ready(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    raft_ready_t *rd = &nd->rd;
    persist(w, nd, rd, SIZE_MAX);
    for (size_t i = 0; i < rd->messages_count && !nd->sent_early; i++) {
        net_send(w, n, &rd->messages[i]);
    }
    if (rd->snapshot) {
        if (sim_kv_restore(&nd->kv, rd->snapshot->data, rd->snapshot->len) != 0) {
            sim_failf(w, "n%d: received snapshot does not decode", n + 1);
        }
        sim_tracef(w, "n%d installs snapshot at %llu", n + 1,
                   (unsigned long long)rd->snapshot->meta.index);
        sim_check_apply(w, n, rd->snapshot->meta.index);
    }
    for (size_t i = 0; i < rd->committed_count && !w->failed; i++) {
        sim_kv_apply(w, n, &rd->committed[i]);
    }
    for (size_t i = 0; i < rd->read_states_count; i++) {
        sim_clients_on_read_state(w, n, &rd->read_states[i]);
    }
    raft_advance(nd->raft, rd);
    nd->persisting = false;
    sim_clients_on_applied(w, n);
    maybe_compact(w, n);
}

/* Events that arrived while the disk was busy: ticks, then messages, in arrival order. */
static void drain_deferred(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    for (; nd->pending_ticks > 0; nd->pending_ticks--) {
        raft_tick(nd->raft);
    }
    for (size_t i = 0; i < nd->inbox_count && !w->failed; i++) {
        step_bytes(w, n, nd->inbox[i].bytes, nd->inbox[i].len);
        mem_free(nd->inbox[i].bytes);
        nd->inbox[i].bytes = NULL;
    }
    nd->inbox_count = 0;
}

/* An async replica that applied entries the group lost (raft_needs_reset): its disk is wiped
 * but for its term and vote, its state machine emptied, and a new core starts with an empty
 * log, as the node's driver does. */
static void node_reset(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    raft_status_t st;
    raft_get_status(nd->raft, &st);
    sim_tracef(w, "n%d resets: its state diverged below commit %llu", n + 1,
               (unsigned long long)st.commit);
    node_stop(w, n);
    sim_clients_on_crash(w, n);
    dlog_truncate(nd, 0);
    nd->dlog_first = 1;
    nd->has_snapshot = false;
    buf_clear(&nd->snap_data);
    nd->hs = (raft_hard_state_t){st.term, st.vote, 0};
    nd->vote_floor = st.term;
    nd->barrier_seq = 0;
    uint64_t restarts = w->totals.restarts;
    sim_node_restart(w, n);
    w->totals.restarts = restarts; /* a reset, not a crash and restart */
    w->totals.resets++;
}

void sim_node_drive(sim_world_t *w, int n) {
    sim_node_t *nd = &w->nodes[n];
    for (int round = 0; round < 100000; round++) {
        if (!nd->up || nd->persisting || w->failed) {
            return;
        }
        if (nd->pending_ticks > 0 || nd->inbox_count > 0) {
            drain_deferred(w, n);
        }
        if (raft_needs_reset(nd->raft)) {
            node_reset(w, n);
            continue;
        }
        if (!raft_has_ready(nd->raft)) {
            sim_check_node(w, n);
            return;
        }
        raft_ready(nd->raft, &nd->rd);
        sim_check_ready(w, n, &nd->rd);
        /* A leader may send before its disk write (rd.send_early); half the time it does, so
         * crashes find followers holding entries their leader lost. */
        nd->sent_early = nd->rd.send_early && nd->rd.messages_count > 0 &&
                         sim_chance(&w->rng, 500);
        for (size_t i = 0; i < nd->rd.messages_count && nd->sent_early; i++) {
            net_send(w, n, &nd->rd.messages[i]);
        }
        w->totals.early_sends += nd->sent_early;
        if (ready_units(&nd->rd) > 0 && w->p.disk_max_us > 0 && !sim_chance(&w->rng, 300)) {
            nd->persisting = true;
            sim_schedule(w, w->now + (int64_t)sim_range(&w->rng, 1, (uint64_t)w->p.disk_max_us),
                         EV_DISK_DONE, (uint8_t)n, nd->epoch);
            return;
        }
        complete_ready(w, n);
        sim_check_node(w, n);
    }
    sim_failf(w, "n%d: the Ready loop does not settle", n + 1);
}

static void on_deliver(sim_world_t *w, sim_event_t *ev) {
    int n = ev->node;
    sim_node_t *nd = &w->nodes[n];
    if (!nd->up || w->blocked[ev->epoch][n]) {
        mem_free(ev->bytes);
        return;
    }
    if (defer_if_paused(w, ev)) {
        return;
    }
    if (nd->persisting) {
        if (nd->inbox_count == SIM_INBOX_MAX) {
            mem_free(ev->bytes);
            return;
        }
        if (!nd->inbox) {
            nd->inbox = mem_alloc(SIM_INBOX_MAX * sizeof *nd->inbox);
        }
        nd->inbox[nd->inbox_count++] = *ev;
        return;
    }
    step_bytes(w, n, ev->bytes, ev->len);
    mem_free(ev->bytes);
    sim_node_drive(w, n);
}

static void on_tick(sim_world_t *w, sim_event_t *ev) {
    sim_node_t *nd = &w->nodes[ev->node];
    if (!nd->up || ev->epoch != nd->epoch || defer_if_paused(w, ev)) {
        return;
    }
    sim_schedule(w, w->now + nd->tick_us, EV_TICK, ev->node, nd->epoch);
    if (nd->persisting) {
        nd->pending_ticks++;
        return;
    }
    raft_tick(nd->raft);
    sim_node_drive(w, ev->node);
}

static void dispatch(sim_world_t *w, sim_event_t *ev) {
    switch (ev->kind) {
    case EV_TICK:
        on_tick(w, ev);
        break;
    case EV_DELIVER:
        on_deliver(w, ev);
        break;
    case EV_DISK_DONE:
        if (w->nodes[ev->node].up && ev->epoch == w->nodes[ev->node].epoch &&
            !defer_if_paused(w, ev)) {
            complete_ready(w, ev->node);
            sim_node_drive(w, ev->node);
        }
        break;
    case EV_CLIENT:
        sim_client_event(w, ev->node);
        break;
    case EV_CLIENT_TIMEOUT:
        sim_client_timeout(w, ev->node, ev->epoch);
        break;
    case EV_FAULT:
        sim_fault_event(w);
        break;
    case EV_HEAL:
        sim_heal(w);
        break;
    case EV_CHECK_DONE:
        sim_liveness_check(w);
        break;
    case EV_MEMBERSHIP:
        if (!w->healed) {
            sim_membership_event(w);
        }
        break;
    case EV_CRASH:
        if (!w->healed && w->nodes[ev->node].up && ev->epoch == w->nodes[ev->node].epoch) {
            sim_node_crash(w, ev->node);
        }
        break;
    default:
        assert(0);
    }
}

void sim_world_init(sim_world_t *w, uint64_t seed, bool trace, bool trace_to_stdout) {
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->rng.state = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
    w->trace = trace;
    w->trace_to_stdout = trace_to_stdout;
    buf_init(&w->failure);
    buf_init(&w->trace_buf);
    w->history = lincheck_create();
    sim_params_choose(w);
    for (uint32_t i = 0; i < w->p.nodes; i++) {
        w->nodes[i].id = i + 1;
        w->nodes[i].founding = i < w->p.voters;
        w->nodes[i].dlog_first = 1;
        buf_init(&w->nodes[i].snap_data);
    }
}

void sim_world_free(sim_world_t *w) {
    for (uint32_t i = 0; i < w->p.nodes; i++) {
        sim_node_t *nd = &w->nodes[i];
        if (nd->up) {
            node_stop(w, (int)i);
        }
        dlog_truncate(nd, 0);
        mem_free(nd->dlog);
        mem_free(nd->inbox);
        buf_free(&nd->snap_data);
    }
    for (size_t i = 0; i < w->heap_count; i++) {
        mem_free(w->heap[i].bytes);
    }
    mem_free(w->heap);
    lincheck_destroy(w->history);
    sim_check_free(w);
    buf_free(&w->failure);
    buf_free(&w->trace_buf);
}

static void check_history(sim_world_t *w) {
    buf_t report;
    buf_init(&report);
    int verdict = lincheck_run(w->history, &report);
    if (verdict != LINCHECK_LINEARIZABLE) {
        sim_failf(w, "client history is %s:\n%.*s",
                  verdict == LINCHECK_VIOLATION ? "not linearizable" : "undecided", (int)report.len,
                  report.data);
    }
    buf_free(&report);
}

int sim_world_run(sim_world_t *w) {
    sim_tracef(w, "seed %llu: %u voters + %u spare, %u clients, chaos %.2fs%s%s",
               (unsigned long long)w->seed, w->p.voters, w->p.nodes - w->p.voters, w->p.clients,
               (double)w->p.chaos_us / 1e6, w->p.async_commit ? ", async commit" : "",
               w->p.snapshot_external ? ", external snapshots" : "");
    for (uint32_t i = 0; i < w->p.nodes; i++) {
        sim_node_restart(w, (int)i);
    }
    sim_clients_start(w);
    sim_schedule(w, (int64_t)sim_range(&w->rng, 1, (uint64_t)w->p.fault_every_us), EV_FAULT, 0, 0);
    sim_schedule(w, w->p.chaos_us, EV_HEAL, 0, 0);
    while (!w->failed && !w->done && w->heap_count > 0) {
        sim_event_t ev = heap_pop(w);
        w->now = ev.time;
        w->totals.events++;
        if (w->healed && w->now > w->heal_time + SIM_LIVENESS_US) {
            mem_free(ev.bytes);
            sim_failf(w,
                      "liveness: no convergence %.1fs after the faults stopped "
                      "(barrier %llu)",
                      SIM_LIVENESS_US / 1e6, (unsigned long long)w->barrier_index);
            break;
        }
        dispatch(w, &ev);
    }
    if (!w->failed && !w->done) {
        sim_failf(w, "the event queue ran dry");
    }
    if (!w->failed && !w->p.async_commit) {
        check_history(w); /* async replication may lose acknowledged writes by design */
    }
    w->totals.sim_us = (uint64_t)w->now;
    return w->failed ? -1 : 0;
}
