/* The Raft core's extensions for the replicated node (raft.h, docs/ARCHITECTURE.md "Raft
 * core"): external snapshots, early sends of a leader, forgetting a single member's log, async
 * commit and the reset it may require. */
#include <errno.h>

#include "test_raft_harness.h"

/* ---- a harness variant that fills external snapshot chunks, as the node does ---- */

/* Fills m's chunk from the sender's stored snapshot (as the node reads its file). */
static void fill_chunk(th_cluster_t *c, const raft_msg_t *m, raft_msg_t *out) {
    const th_node_t *from = &c->nodes[m->from];
    assert_true(from->has_snapshot);
    assert_int_equal(from->snap_meta.index, m->snapshot.index);
    assert_true(m->snapshot_offset + m->chunk_len <= from->snap_data.len);
    *out = *m;
    out->chunk = from->snap_data.data + m->snapshot_offset;
}

static void ext_process(th_cluster_t *c, uint64_t id) {
    th_node_t *nd = &c->nodes[id];
    for (int guard = 0; guard < 10000 && raft_has_ready(nd->r); guard++) {
        raft_ready_t rd;
        raft_ready(nd->r, &rd);
        if (rd.snapshot) {
            assert_non_null(rd.snapshot->data); /* a received snapshot's bytes are handed out */
        }
        th_persist(nd, &rd);
        for (size_t i = 0; i < rd.messages_count; i++) {
            const raft_msg_t *m = &rd.messages[i];
            raft_msg_t filled;
            if (m->type == RAFT_MSG_SNAPSHOT && m->chunk_len > 0) {
                assert_null(m->chunk); /* external: the node fills it */
                fill_chunk(c, m, &filled);
                m = &filled;
            }
            th_enqueue(c, m);
        }
        for (size_t i = 0; i < rd.committed_count; i++) {
            th_apply(nd, &rd.committed[i]);
        }
        raft_advance(nd->r, &rd);
        char err[256];
        if (raft_check(nd->r, err, sizeof err) != 0) {
            fail_msg("node %llu: %s", (unsigned long long)id, err);
        }
    }
}

static void ext_deliver(th_cluster_t *c) {
    for (uint64_t id = 1; id <= c->n; id++) {
        ext_process(c, id);
    }
    th_msg_t m;
    for (int guard = 0; guard < 1000000 && th_pop(c, &m); guard++) {
        if (!c->cut[m.from][m.to] && c->nodes[m.to].r) {
            assert_int_equal(th_step_bytes(c, &m), 0);
            ext_process(c, m.to);
        }
        mem_free(m.bytes);
    }
}

static void ext_tick_all(th_cluster_t *c, int rounds) {
    for (int i = 0; i < rounds; i++) {
        for (uint64_t id = 1; id <= c->n; id++) {
            raft_tick(c->nodes[id].r);
        }
        ext_deliver(c);
    }
}

static void external(raft_config_t *cfg) {
    cfg->snapshot_external = true;
    cfg->snapshot_chunk_bytes = 5;
}

static void propose_n(th_cluster_t *c, uint64_t leader, int n, const char *prefix) {
    char text[32];
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof text, "%s%d", prefix, i);
        th_propose(c, leader, text);
        ext_deliver(c);
    }
}

/* The node compacts with the snapshot's length only; it keeps the bytes itself. */
static void ext_compact(th_cluster_t *c, uint64_t id) {
    th_node_t *nd = &c->nodes[id];
    char data[64];
    int len = snprintf(data, sizeof data, "external-state@%llu",
                       (unsigned long long)nd->applied_index);
    raft_snapshot_meta_t meta;
    assert_int_equal(raft_compact(nd->r, nd->applied_index, data, (size_t)len, NULL), -EINVAL);
    assert_int_equal(raft_compact(nd->r, nd->applied_index, NULL, (size_t)len, &meta), 0);
    nd->has_snapshot = true;
    nd->snap_meta = meta;
    buf_clear(&nd->snap_data);
    buf_append(&nd->snap_data, data, (size_t)len);
}

static void test_external_snapshot_is_streamed_from_the_nodes_bytes(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, external);
    th_campaign(&c, 1);
    ext_deliver(&c);
    th_isolate(&c, 3, true);
    propose_n(&c, 1, 20, "e");
    ext_compact(&c, 1);
    th_isolate(&c, 3, false);
    ext_tick_all(&c, 5);
    th_node_t *n3 = &c.nodes[3];
    assert_int_equal(n3->snapshots_installed, 1);
    assert_int_equal(n3->snap_data.len, c.nodes[1].snap_data.len);
    assert_memory_equal(n3->snap_data.data, c.nodes[1].snap_data.data, n3->snap_data.len);
    assert_true(c.sent[RAFT_MSG_SNAPSHOT] >= 4); /* several 5-byte chunks */
    /* Restarting from an external snapshot needs only its length. */
    raft_destroy(n3->r);
    assert_int_equal(raft_create(&n3->cfg, &n3->r), 0);
    raft_snapshot_t snap = {n3->snap_meta, NULL, n3->snap_data.len};
    assert_int_equal(raft_restore(n3->r, &n3->hs, &snap, n3->dlog, n3->dlog_count), 0);
    assert_int_equal(th_status(&c, 3).snapshot_index, n3->snap_meta.index);
    th_free(&c);
}

static void test_leader_may_send_before_persisting_unless_term_or_vote_changed(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    for (int i = 0; i < 40 && th_status(&c, 1).role == RAFT_FOLLOWER; i++) {
        raft_tick(th_r(&c, 1));
    }
    raft_ready_t rd;
    raft_ready(th_r(&c, 1), &rd); /* a candidate's vote requests: term and vote changed */
    assert_false(rd.send_early);
    raft_advance(th_r(&c, 1), &rd);
    th_drop_all(&c);
    th_free(&c);

    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    assert_int_equal(raft_propose(th_r(&c, 1), "x", 1, NULL), 0);
    raft_ready(th_r(&c, 1), &rd);
    assert_true(rd.entries_count > 0 && rd.messages_count > 0);
    assert_true(rd.send_early);
    raft_advance(th_r(&c, 1), &rd);
    /* A follower's acknowledgements never leave early. */
    th_deliver(&c);
    assert_int_equal(raft_propose(th_r(&c, 1), "y", 1, NULL), 0);
    th_process(&c, 1);
    th_msg_t m = {0};
    assert_true(th_pop(&c, &m));
    assert_int_equal(th_step_bytes(&c, &m), 0);
    mem_free(m.bytes);
    raft_ready(th_r(&c, m.to), &rd);
    assert_false(rd.send_early);
    raft_advance(th_r(&c, m.to), &rd);
    th_drop_all(&c);
    th_free(&c);
}

static void test_single_member_forgets_applied_entries_until_a_member_is_added(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 2, 1, external);
    th_tick(&c, 1, 25);
    propose_n(&c, 1, 10, "f");
    raft_t *r = th_r(&c, 1);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(raft_forget(r, st.applied + 1), -EINVAL);
    assert_int_equal(raft_forget(r, st.applied), 0);
    st = th_status(&c, 1);
    assert_int_equal(st.first_index, st.applied + 1);
    assert_int_equal(st.log_bytes, 0);
    assert_int_equal(st.snapshot_index, 0);
    /* A new member could need what was forgotten: refused until a snapshot covers it. */
    assert_int_equal(raft_propose_conf_change(r, RAFT_CONF_ADD_LEARNER, 2, NULL, 0, NULL),
                     RAFT_ESNAPSHOT);
    ext_compact(&c, 1);
    assert_int_equal(raft_propose_conf_change(r, RAFT_CONF_ADD_LEARNER, 2, NULL, 0, NULL), 0);
    ext_deliver(&c);
    ext_tick_all(&c, 5);
    assert_int_equal(c.nodes[2].snapshots_installed, 1);
    assert_int_equal(th_status(&c, 2).applied, th_status(&c, 1).commit);
    assert_int_equal(raft_forget(r, th_status(&c, 1).applied), -EPERM);
    th_free(&c);
}

static void async(raft_config_t *cfg) {
    cfg->async_commit = true;
    cfg->check_quorum = false; /* no lease: node 2 wins at once while node 1 is cut off */
}

/* Node 1 leads and commits "lost" alone while cut off; nodes 2 and 3 elect node 2 and append
 * their own entries; the link heals. */
static void diverge(th_cluster_t *c) {
    th_elect(c, 1);
    propose_n(c, 1, 3, "shared");
    th_isolate(c, 1, true);
    uint64_t index = th_propose(c, 1, "lost");
    th_deliver(c);
    assert_int_equal(th_status(c, 1).commit, index); /* committed on the leader alone */
    assert_string_equal(th_applied(c, 1, index), "lost");
    th_campaign(c, 2);
    assert_int_equal(th_status(c, 2).role, RAFT_LEADER);
    th_propose(c, 2, "kept");
    th_deliver(c);
    th_isolate(c, 1, false);
}

/* What a node does on a reset: a new core with the same term and vote, an empty log, and its
 * vote floor at that term. */
static void wipe(th_cluster_t *c, uint64_t id) {
    th_node_t *nd = &c->nodes[id];
    raft_status_t st = th_status(c, id);
    raft_destroy(nd->r);
    while (nd->dlog_count > 0) {
        mem_free(nd->dlog[--nd->dlog_count].data);
    }
    nd->hs = (raft_hard_state_t){st.term, st.vote, 0};
    nd->applied_index = 0;
    th_free_applied(nd);
    assert_int_equal(raft_create(&nd->cfg, &nd->r), 0);
    assert_int_equal(raft_restore(nd->r, &nd->hs, NULL, NULL, 0), 0);
    raft_set_vote_floor(nd->r, st.term);
}

/* Node 1, reset in term 2 with an empty log, refuses node 2, whose log stopped in term 1 (it
 * would have granted any higher term), and still votes for a candidate of term 2's log. */
static void test_async_reset_node_votes_only_for_logs_of_its_reset_term(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, async);
    th_elect(&c, 1);
    propose_n(&c, 1, 2, "t1");
    th_isolate(&c, 2, true);
    th_campaign(&c, 3);
    assert_int_equal(th_status(&c, 3).role, RAFT_LEADER);
    assert_int_equal(th_status(&c, 3).term, 2);
    wipe(&c, 1);
    c.nodes[2].hs = (raft_hard_state_t){2, 0, 0}; /* it heard of term 2, got none of its log */
    th_restart(&c, 2);
    th_isolate(&c, 2, false);
    th_isolate(&c, 3, true);
    th_campaign(&c, 2);
    assert_int_not_equal(th_status(&c, 2).role, RAFT_LEADER);
    th_drop_all(&c);
    th_restart(&c, 3); /* a follower again, its log ending in term 2 */
    th_isolate(&c, 3, false);
    th_isolate(&c, 2, true);
    th_campaign(&c, 3);
    assert_int_equal(th_status(&c, 3).role, RAFT_LEADER); /* with node 1's vote */
    th_free(&c);
}

static void test_async_leader_commits_alone_and_a_diverged_member_asks_for_reset(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, async);
    diverge(&c);
    th_tick(&c, 2, 1); /* a heartbeat and appends from the new leader */
    th_msg_t m = {0};
    bool reset = false;
    for (int guard = 0; guard < 1000 && th_pop(&c, &m); guard++) {
        if (m.to == 1) {
            assert_int_equal(th_step_bytes(&c, &m), 0);
            reset |= raft_needs_reset(th_r(&c, 1));
        } else if (!reset) {
            assert_int_equal(th_step_bytes(&c, &m), 0);
        }
        mem_free(m.bytes);
        th_process(&c, 2);
        if (!reset) {
            th_process(&c, 1);
        }
    }
    assert_true(reset);
    raft_status_t st = th_status(&c, 1);
    assert_true(st.reset_needed && st.stats.resets_needed == 1);
    assert_false(raft_has_ready(th_r(&c, 1)));
    /* The node resets: same term and vote, an empty log; the leader notices it lost what it
     * acknowledged and sends everything again. */
    wipe(&c, 1);
    th_tick_all(&c, 5);
    uint64_t commit = th_status(&c, 2).commit;
    assert_int_equal(th_status(&c, 1).applied, commit);
    for (uint64_t i = 1; i <= commit; i++) {
        assert_string_equal(th_applied(&c, 1, i), th_applied(&c, 2, i));
        assert_string_not_equal(th_applied(&c, 1, i), "lost");
    }
    th_free(&c);
}

static void test_async_membership_change_still_waits_for_a_quorum(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 4, 3, async);
    th_elect(&c, 1);
    propose_n(&c, 1, 2, "a");
    th_isolate(&c, 1, true);
    uint64_t commit = th_status(&c, 1).commit;
    uint64_t index = 0;
    assert_int_equal(
        raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_LEARNER, 4, NULL, 0, &index), 0);
    uint64_t after = th_propose(&c, 1, "after");
    th_deliver(&c);
    assert_int_equal(th_status(&c, 1).commit, commit); /* neither the change nor what follows */
    th_isolate(&c, 1, false);
    for (int i = 0; i < 5; i++) { /* heartbeats: the stalled pipelines restart */
        th_tick(&c, 1, 1);
        th_deliver(&c);
    }
    assert_true(th_status(&c, 1).commit >= after); /* a quorum holds it: committed */
    assert_true(index < after);
    th_free(&c);
}

static void test_async_membership_change_waits_until_the_term_is_on_a_quorum(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 4, 3, async);
    th_elect_then_isolate(&c, 1);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.commit, st.last_index); /* its no-op, committed by the leader alone */
    /* Other voters may hold an uncommitted change of an older term: until one of them holds
     * an entry of this term, a change could make configurations that elect two leaders. */
    assert_int_equal(
        raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_LEARNER, 4, NULL, 0, NULL),
        RAFT_ECONFPENDING);
    th_isolate(&c, 1, false);
    th_tick(&c, 1, 1); /* a heartbeat: the followers take the no-op */
    th_deliver(&c);
    assert_int_equal(
        raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_LEARNER, 4, NULL, 0, NULL), 0);
    th_free(&c);
}

static void test_sync_leader_alone_commits_nothing(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t commit = th_status(&c, 1).commit;
    th_isolate(&c, 1, true);
    th_propose(&c, 1, "never");
    th_deliver(&c);
    assert_int_equal(th_status(&c, 1).commit, commit);
    assert_false(raft_needs_reset(th_r(&c, 1)));
    th_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_external_snapshot_is_streamed_from_the_nodes_bytes),
        cmocka_unit_test(test_leader_may_send_before_persisting_unless_term_or_vote_changed),
        cmocka_unit_test(test_single_member_forgets_applied_entries_until_a_member_is_added),
        cmocka_unit_test(test_async_leader_commits_alone_and_a_diverged_member_asks_for_reset),
        cmocka_unit_test(test_async_membership_change_still_waits_for_a_quorum),
        cmocka_unit_test(test_async_membership_change_waits_until_the_term_is_on_a_quorum),
        cmocka_unit_test(test_async_reset_node_votes_only_for_logs_of_its_reset_term),
        cmocka_unit_test(test_sync_leader_alone_commits_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
