/* test_raft_harness: a small in-process cluster for the Raft unit tests (test_raft_*.c).
 *
 * Nodes 1..n drive their cores as a real node must (persist, then send, then apply, then
 * advance) with instant disks; messages travel encoded through a FIFO queue (so every test also
 * exercises the codec), and a test may cut links, drop or inspect messages, restart a node from
 * what it persisted, and tick nodes one at a time to decide who campaigns. */
#ifndef POLIS_TEST_RAFT_HARNESS_H
#define POLIS_TEST_RAFT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "raft/raft.h"
#include "raft/raft_codec.h"

#define TH_NODES_MAX 7
#define TH_QUEUE_MAX 100000
#define TH_APPLIED_MAX 4096

typedef struct th_msg {
    uint64_t from;
    uint64_t to;
    uint32_t type;
    char *bytes;
    size_t len;
} th_msg_t;

typedef struct th_node {
    uint64_t id;
    raft_t *r;
    raft_config_t cfg;
    uint64_t voters[TH_NODES_MAX];
    /* durable state */
    raft_hard_state_t hs;
    raft_entry_t *dlog;
    size_t dlog_count;
    bool has_snapshot;
    raft_snapshot_meta_t snap_meta;
    buf_t snap_data;
    /* applied state: the payloads applied, in order (index -> payload) */
    char *applied[TH_APPLIED_MAX];
    uint64_t applied_index;
    raft_read_state_t reads[64];
    size_t reads_count;
    uint64_t snapshots_installed;
    size_t ready_count;
} th_node_t;

typedef struct th_cluster {
    th_node_t nodes[TH_NODES_MAX + 1]; /* by id, 1..n */
    size_t n;
    th_msg_t *queue;
    size_t head;
    size_t count;
    bool cut[TH_NODES_MAX + 1][TH_NODES_MAX + 1]; /* cut[a][b]: a's messages to b are lost */
    size_t sent[RAFT_MSG_TYPE_END];               /* messages sent, by type */
} th_cluster_t;

static inline void th_default_config(th_cluster_t *c, uint64_t id, raft_config_t *cfg) {
    raft_config_default(cfg, id);
    cfg->election_ticks = 10;
    cfg->heartbeat_ticks = 1;
    cfg->seed = id * 7;
    cfg->msg_bytes_max = 4096;
    cfg->inflight_max = 8;
    cfg->snapshot_chunk_bytes = 64;
    (void)c;
}

/* A lone core outside any cluster, stepped by hand: node id of the founding voters {1, 2, 3},
 * raft_config_default's settings changed by configure (may be NULL). */
static inline raft_t *th_lone_core(uint64_t id, void (*configure)(raft_config_t *cfg)) {
    static const uint64_t voters[] = {1, 2, 3};
    raft_config_t cfg;
    raft_config_default(&cfg, id);
    cfg.voters = voters;
    cfg.voters_count = 3;
    if (configure) {
        configure(&cfg);
    }
    raft_t *r = NULL;
    assert_int_equal(raft_create(&cfg, &r), 0);
    return r;
}

/* Creates nodes 1..n; the first `voters` are the founding voters, the rest start outside the
 * group (a test adds them). configure (may be NULL) adjusts each node's config. */
static inline void th_init(th_cluster_t *c, size_t n, size_t voters,
                           void (*configure)(raft_config_t *cfg)) {
    memset(c, 0, sizeof *c);
    assert_true(n <= TH_NODES_MAX);
    c->n = n;
    c->queue = mem_calloc(TH_QUEUE_MAX, sizeof *c->queue);
    for (uint64_t id = 1; id <= n; id++) {
        th_node_t *nd = &c->nodes[id];
        nd->id = id;
        buf_init(&nd->snap_data);
        th_default_config(c, id, &nd->cfg);
        for (size_t v = 0; v < voters; v++) {
            nd->voters[v] = v + 1;
        }
        if (id <= voters) {
            nd->cfg.voters = nd->voters;
            nd->cfg.voters_count = voters;
        }
        if (configure) {
            configure(&nd->cfg);
        }
        assert_int_equal(raft_create(&nd->cfg, &nd->r), 0);
    }
}

static inline void th_free_applied(th_node_t *nd) {
    for (size_t i = 0; i < TH_APPLIED_MAX; i++) {
        mem_free(nd->applied[i]);
        nd->applied[i] = NULL;
    }
}

static inline void th_free(th_cluster_t *c) {
    for (uint64_t id = 1; id <= c->n; id++) {
        th_node_t *nd = &c->nodes[id];
        raft_destroy(nd->r);
        for (size_t i = 0; i < nd->dlog_count; i++) {
            mem_free(nd->dlog[i].data);
        }
        mem_free(nd->dlog);
        buf_free(&nd->snap_data);
        th_free_applied(nd);
    }
    for (size_t i = 0; i < c->count; i++) {
        mem_free(c->queue[(c->head + i) % TH_QUEUE_MAX].bytes);
    }
    mem_free(c->queue);
}

static inline raft_t *th_r(th_cluster_t *c, uint64_t id) {
    return c->nodes[id].r;
}

static inline raft_status_t th_status(th_cluster_t *c, uint64_t id) {
    raft_status_t st;
    raft_get_status(c->nodes[id].r, &st);
    return st;
}

static inline void th_dlog_put(th_node_t *nd, const raft_entry_t *e) {
    while (nd->dlog_count > 0 && nd->dlog[nd->dlog_count - 1].index >= e->index) {
        mem_free(nd->dlog[--nd->dlog_count].data);
    }
    nd->dlog = mem_realloc(nd->dlog, (nd->dlog_count + 1) * sizeof *nd->dlog);
    raft_entry_t *copy = &nd->dlog[nd->dlog_count++];
    *copy = *e;
    copy->data = NULL;
    if (e->len) {
        copy->data = mem_alloc(e->len);
        memcpy(copy->data, e->data, e->len);
    }
}

static inline void th_enqueue(th_cluster_t *c, const raft_msg_t *m) {
    buf_t b;
    buf_init(&b);
    assert_int_equal(raft_msg_encode(m, &b), 0);
    assert_true(c->count < TH_QUEUE_MAX);
    c->queue[(c->head + c->count++) % TH_QUEUE_MAX] =
        (th_msg_t){m->from, m->to, m->type, b.data, b.len};
    c->sent[m->type]++;
}

static inline void th_apply(th_node_t *nd, const raft_entry_t *e) {
    assert_int_equal(e->index, nd->applied_index + 1);
    assert_true(e->index < TH_APPLIED_MAX);
    mem_free(nd->applied[e->index]);
    nd->applied[e->index] = mem_strndup(e->data ? e->data : "", e->len);
    nd->applied_index = e->index;
}

/* Step 1 of a Ready: the snapshot, the entries and the hard state reach the node's disk. */
static inline void th_persist(th_node_t *nd, const raft_ready_t *rd) {
    if (rd->snapshot) {
        nd->has_snapshot = true;
        nd->snap_meta = rd->snapshot->meta;
        buf_clear(&nd->snap_data);
        buf_append(&nd->snap_data, rd->snapshot->data, rd->snapshot->len);
        while (nd->dlog_count > 0) {
            mem_free(nd->dlog[--nd->dlog_count].data);
        }
        nd->applied_index = rd->snapshot->meta.index;
        nd->snapshots_installed++;
    }
    for (size_t i = 0; i < rd->entries_count; i++) {
        th_dlog_put(nd, &rd->entries[i]);
    }
    if (rd->hard_state_changed) {
        nd->hs = rd->hard_state;
    }
}

/* Handles every Ready of node id: persist, send, apply, advance. */
static inline void th_process(th_cluster_t *c, uint64_t id) {
    th_node_t *nd = &c->nodes[id];
    char err[256];
    for (int guard = 0; guard < 10000 && raft_has_ready(nd->r); guard++) {
        raft_ready_t rd;
        raft_ready(nd->r, &rd);
        nd->ready_count++;
        th_persist(nd, &rd);
        for (size_t i = 0; i < rd.messages_count; i++) {
            th_enqueue(c, &rd.messages[i]);
        }
        for (size_t i = 0; i < rd.committed_count; i++) {
            th_apply(nd, &rd.committed[i]);
        }
        for (size_t i = 0; i < rd.read_states_count && nd->reads_count < 64; i++) {
            nd->reads[nd->reads_count++] = rd.read_states[i];
        }
        raft_advance(nd->r, &rd);
        if (raft_check(nd->r, err, sizeof err) != 0) {
            fail_msg("node %llu: %s", (unsigned long long)id, err);
        }
    }
}

static inline void th_process_all(th_cluster_t *c) {
    for (uint64_t id = 1; id <= c->n; id++) {
        th_process(c, id);
    }
}

/* Takes the oldest queued message. false when none. */
static inline bool th_pop(th_cluster_t *c, th_msg_t *out) {
    if (c->count == 0) {
        return false;
    }
    *out = c->queue[c->head];
    c->head = (c->head + 1) % TH_QUEUE_MAX;
    c->count--;
    return true;
}

static inline int th_step_bytes(th_cluster_t *c, const th_msg_t *m) {
    raft_msg_t msg;
    assert_int_equal(raft_msg_decode(m->bytes, m->len, &msg), 0);
    int rc = raft_step(c->nodes[m->to].r, &msg);
    raft_msg_release(&msg);
    return rc;
}

/* Delivers queued messages (and whatever they cause) until the network is quiet. */
static inline void th_deliver(th_cluster_t *c) {
    th_process_all(c);
    th_msg_t m;
    for (int guard = 0; guard < 1000000 && th_pop(c, &m); guard++) {
        if (!c->cut[m.from][m.to] && c->nodes[m.to].r) {
            assert_int_equal(th_step_bytes(c, &m), 0);
            th_process(c, m.to);
        }
        mem_free(m.bytes);
    }
}

/* Drops every queued message. */
static inline void th_drop_all(th_cluster_t *c) {
    th_msg_t m;
    while (th_pop(c, &m)) {
        mem_free(m.bytes);
    }
}

static inline void th_tick(th_cluster_t *c, uint64_t id, int ticks) {
    for (int i = 0; i < ticks; i++) {
        raft_tick(c->nodes[id].r);
    }
    th_process(c, id);
}

/* Ticks every node once, then delivers. */
static inline void th_tick_all(th_cluster_t *c, int rounds) {
    for (int i = 0; i < rounds; i++) {
        for (uint64_t id = 1; id <= c->n; id++) {
            raft_tick(c->nodes[id].r);
        }
        th_deliver(c);
    }
}

/* Makes id campaign (ticking it alone past its election timeout) and delivers. */
static inline void th_campaign(th_cluster_t *c, uint64_t id) {
    for (int i = 0; i < 40 && th_status(c, id).role == RAFT_FOLLOWER; i++) {
        th_tick(c, id, 1);
    }
    th_deliver(c);
}

static inline void th_elect(th_cluster_t *c, uint64_t id) {
    th_campaign(c, id);
    assert_int_equal(th_status(c, id).role, RAFT_LEADER);
    th_deliver(c);
}

static inline void th_isolate(th_cluster_t *c, uint64_t id, bool isolated) {
    for (uint64_t o = 1; o <= c->n; o++) {
        if (o != id) {
            c->cut[id][o] = isolated;
            c->cut[o][id] = isolated;
        }
    }
}

/* Makes id campaign until it wins, then cuts it off before its first appends (its no-op)
 * leave. */
static inline void th_elect_then_isolate(th_cluster_t *c, uint64_t id) {
    for (int attempt = 0; attempt < 5 && th_status(c, id).role != RAFT_LEADER; attempt++) {
        for (int i = 0; i < 40 && th_status(c, id).role == RAFT_FOLLOWER; i++) {
            th_tick(c, id, 1);
        }
        th_msg_t m;
        while (th_status(c, id).role != RAFT_LEADER && th_pop(c, &m)) {
            if (!c->cut[m.from][m.to]) {
                assert_int_equal(th_step_bytes(c, &m), 0);
                th_process(c, m.to);
            }
            mem_free(m.bytes);
        }
        if (th_status(c, id).role == RAFT_CANDIDATE) {
            th_tick(c, id, 40); /* lost this term's election: time out into the next */
        }
    }
    assert_int_equal(th_status(c, id).role, RAFT_LEADER);
    th_isolate(c, id, true);
    th_drop_all(c);
}

static inline uint64_t th_propose(th_cluster_t *c, uint64_t id, const char *text) {
    uint64_t index = 0;
    assert_int_equal(raft_propose(c->nodes[id].r, text, strlen(text), &index), 0);
    th_process(c, id);
    return index;
}

/* Restarts node id from what it persisted (its volatile state is lost). */
static inline void th_restart(th_cluster_t *c, uint64_t id) {
    th_node_t *nd = &c->nodes[id];
    raft_destroy(nd->r);
    assert_int_equal(raft_create(&nd->cfg, &nd->r), 0);
    raft_snapshot_t snap = {nd->snap_meta, nd->snap_data.data, nd->snap_data.len};
    assert_int_equal(
        raft_restore(nd->r, &nd->hs, nd->has_snapshot ? &snap : NULL, nd->dlog, nd->dlog_count), 0);
    nd->applied_index = nd->has_snapshot ? nd->snap_meta.index : 0;
}

/* Snapshots node id at its applied index (the payload is the applied index as text). */
static inline void th_compact(th_cluster_t *c, uint64_t id) {
    th_node_t *nd = &c->nodes[id];
    char data[32];
    int len = snprintf(data, sizeof data, "state@%llu", (unsigned long long)nd->applied_index);
    raft_snapshot_meta_t meta;
    assert_int_equal(raft_compact(nd->r, nd->applied_index, data, (size_t)len, &meta), 0);
    nd->has_snapshot = true;
    nd->snap_meta = meta;
    buf_clear(&nd->snap_data);
    buf_append(&nd->snap_data, data, (size_t)len);
    size_t keep = 0;
    for (size_t i = 0; i < nd->dlog_count; i++) {
        if (nd->dlog[i].index <= meta.index) {
            mem_free(nd->dlog[i].data);
        } else {
            nd->dlog[keep++] = nd->dlog[i];
        }
    }
    nd->dlog_count = keep;
}

static inline const char *th_applied(th_cluster_t *c, uint64_t id, uint64_t index) {
    const char *s = c->nodes[id].applied[index];
    return s ? s : "";
}

#endif
