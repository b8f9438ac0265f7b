/* Raft log replication: commit rules (majority, persistence, figure 8), divergent followers and
 * fast back-tracking, batching and pipelining bounds, retransmission, proposal limits,
 * restoring a restarted node. */
#include <errno.h>

#include "test_raft_harness.h"

static void test_proposals_commit_on_a_majority_and_apply_in_order_everywhere(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    c.cut[1][3] = true;
    uint64_t a = th_propose(&c, 1, "a");
    uint64_t b = th_propose(&c, 1, "b");
    th_deliver(&c);
    assert_int_equal(th_status(&c, 1).commit, b);
    assert_string_equal(th_applied(&c, 1, a), "a");
    assert_string_equal(th_applied(&c, 2, b), "b");
    assert_int_equal(c.nodes[3].applied_index, 1);
    c.cut[1][3] = false;
    th_tick_all(&c, 3);
    assert_string_equal(th_applied(&c, 3, a), "a");
    assert_string_equal(th_applied(&c, 3, b), "b");
    th_free(&c);
}

static void test_minority_cannot_commit(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 5, 5, NULL);
    th_elect(&c, 1);
    uint64_t before = th_status(&c, 1).commit;
    c.cut[1][3] = c.cut[1][4] = c.cut[1][5] = true;
    th_propose(&c, 1, "only two copies");
    th_deliver(&c);
    assert_int_equal(th_status(&c, 1).commit, before);
    th_free(&c);
}

static void test_leader_counts_its_own_entry_only_once_persisted(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 1, 1, NULL);
    th_tick(&c, 1, 25);
    raft_t *r = th_r(&c, 1);
    uint64_t index;
    assert_int_equal(raft_propose(r, "w", 1, &index), 0);
    raft_ready_t rd;
    raft_ready(r, &rd);
    assert_int_equal(rd.entries_count, 1);
    assert_true(rd.must_sync);
    assert_int_equal(rd.committed_count, 0); /* not before the caller persisted it */
    raft_advance(r, &rd);
    assert_int_equal(th_status(&c, 1).commit, index);
    raft_ready(r, &rd);
    assert_int_equal(rd.committed_count, 1);
    assert_false(rd.must_sync); /* only the commit index changed */
    raft_advance(r, &rd);
    th_free(&c);
}

static void test_follower_ack_shares_a_ready_with_the_entries_it_acknowledges(void **state) {
    (void)state;
    raft_t *r = th_lone_core(2, NULL);
    raft_entry_t e = {.term = 1, .index = 1, .data = "x", .len = 1};
    raft_msg_t m = {
        .type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1, .entries = &e, .entries_count = 1};
    assert_int_equal(raft_step(r, &m), 0);
    raft_ready_t rd;
    raft_ready(r, &rd);
    assert_int_equal(rd.entries_count, 1);
    assert_true(rd.must_sync);
    assert_int_equal(rd.messages_count, 1);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_APPEND_RESP);
    assert_int_equal(rd.messages[0].index, 1);
    raft_advance(r, &rd);
    raft_destroy(r);
}

static void no_pre_vote_config(raft_config_t *cfg) {
    cfg->pre_vote = false;
    cfg->check_quorum = false;
}

/* Figure 8 of the Raft paper: an entry of an older term stored on a majority is not committed
 * by counting replicas, because a later leader may still overwrite it. */
static void test_figure8_entry_of_an_older_term_is_not_committed_by_counting(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 5, 5, no_pre_vote_config);
    th_elect(&c, 1); /* term 1, its no-op at index 1 committed everywhere */
    c.cut[1][3] = c.cut[1][4] = c.cut[1][5] = true;
    uint64_t a = th_propose(&c, 1, "A"); /* index 2, term 1: on nodes 1 and 2 only */
    th_deliver(&c);
    th_isolate(&c, 1, true);
    th_isolate(&c, 2, true);
    th_elect_then_isolate(&c, 5); /* term 2 (votes of 3, 4): its no-op at index 2 stays on 5 */
    th_restart(&c, 1);         /* the old leader of term 1 crashes and comes back a follower */
    th_isolate(&c, 1, false);
    th_isolate(&c, 2, false);
    th_elect_then_isolate(&c, 1); /* term 3; its no-op at index 3 goes nowhere */
    uint64_t term = th_status(&c, 1).term;
    /* Nodes 2 and 3 acknowledge index 2: A is on a majority (1, 2, 3), yet not committed. */
    for (uint64_t from = 2; from <= 3; from++) {
        raft_msg_t ack = {
            .type = RAFT_MSG_APPEND_RESP, .from = from, .to = 1, .term = term, .index = a};
        assert_int_equal(raft_step(th_r(&c, 1), &ack), 0);
    }
    assert_true(th_status(&c, 1).commit < a);
    th_drop_all(&c);
    /* Rightly so: node 5 (last term 2) can still win with 3 and 4 and overwrite index 2. */
    th_isolate(&c, 5, false);
    th_elect_then_isolate(&c, 5);
    th_isolate(&c, 5, false);
    th_isolate(&c, 1, false);
    th_tick_all(&c, 5);
    for (uint64_t id = 1; id <= 5; id++) {
        assert_int_equal(raft_get_term(th_r(&c, id), a), 2);
        assert_string_not_equal(th_applied(&c, id, a), "A");
    }
    th_free(&c);
}

static void restore_log(raft_t *r, uint64_t term, const uint64_t *terms, size_t n) {
    raft_entry_t entries[32];
    for (size_t i = 0; i < n; i++) {
        entries[i] = (raft_entry_t){.term = terms[i], .index = i + 1};
    }
    raft_hard_state_t hs = {.term = term};
    assert_int_equal(raft_restore(r, &hs, NULL, entries, n), 0);
}

/* Figure 7: followers missing entries, with extra uncommitted entries, or both, all end with
 * the leader's log; back-tracking takes about one round trip per divergent term. */
static void test_followers_with_divergent_logs_converge_to_the_leaders_log(void **state) {
    (void)state;
    const uint64_t leader[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6};
    const uint64_t lagging[] = {1, 1, 1, 4};
    const uint64_t extra[] = {1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7};
    const uint64_t diverged[] = {1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3};
    th_cluster_t c;
    th_init(&c, 4, 4, no_pre_vote_config);
    restore_log(th_r(&c, 1), 8, leader, 10);
    restore_log(th_r(&c, 2), 7, lagging, 4);
    restore_log(th_r(&c, 3), 7, extra, 13);
    restore_log(th_r(&c, 4), 7, diverged, 11);
    c.cut[3][1] = c.cut[3][2] = c.cut[3][4] = true; /* 3's log is longer: keep it from winning */
    th_elect(&c, 1);
    c.cut[3][1] = c.cut[3][2] = c.cut[3][4] = false;
    th_tick_all(&c, 5);
    raft_status_t st = th_status(&c, 1);
    for (uint64_t id = 2; id <= 4; id++) {
        raft_status_t f = th_status(&c, id);
        assert_int_equal(f.last_index, st.last_index);
        assert_int_equal(f.commit, st.commit);
        for (uint64_t i = 1; i <= st.last_index; i++) {
            assert_int_equal(raft_get_term(th_r(&c, id), i), raft_get_term(th_r(&c, 1), i));
        }
    }
    assert_true(th_status(&c, 4).stats.appends_rejected <= 3);
    assert_int_equal(th_status(&c, 3).stats.entries_truncated, 3);
    th_free(&c);
}

static void small_batches(raft_config_t *cfg) {
    cfg->msg_bytes_max = 100;
    cfg->inflight_max = 3;
}

static void test_appends_batch_many_entries_within_the_byte_bound(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 2, 2, NULL);
    th_elect(&c, 1);
    size_t before = c.sent[RAFT_MSG_APPEND];
    for (int i = 0; i < 200; i++) { /* one loop turn: no Ready taken in between */
        assert_int_equal(raft_propose(th_r(&c, 1), "0123456789", 10, NULL), 0);
    }
    th_deliver(&c);
    assert_true(c.sent[RAFT_MSG_APPEND] - before <= 2); /* 2000 bytes fit one 4 KiB batch */
    assert_int_equal(th_status(&c, 2).commit, 201);
    th_free(&c);
}

static void test_pipeline_keeps_at_most_inflight_max_appends_per_follower(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 2, 2, small_batches);
    th_elect(&c, 1);
    raft_t *r = th_r(&c, 1);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(raft_propose(r, "0123456789", 10, NULL), 0);
    }
    raft_ready_t rd;
    raft_ready(r, &rd);
    size_t appends = 0;
    for (size_t i = 0; i < rd.messages_count; i++) {
        if (rd.messages[i].type == RAFT_MSG_APPEND) {
            appends++;
            uint64_t bytes = 0;
            for (uint32_t k = 0; k < rd.messages[i].entries_count; k++) {
                bytes += rd.messages[i].entries[k].len;
            }
            assert_true(bytes <= 100);
        }
    }
    assert_int_equal(appends, 3);
    raft_advance(r, &rd);
    raft_progress_info_t info;
    assert_int_equal(raft_get_progress(r, 2, &info), 0);
    assert_int_equal(info.state, RAFT_PROGRESS_REPLICATE);
    assert_int_equal(info.inflight, 3);
    th_drop_all(&c);
    th_free(&c);
}

static void test_lost_appends_are_retransmitted_after_a_stall(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 2, 2, NULL);
    th_elect(&c, 1);
    uint64_t index = th_propose(&c, 1, "lost once");
    th_drop_all(&c);
    for (int i = 0; i < 5; i++) {
        th_tick(&c, 1, 1);
        th_deliver(&c);
    }
    assert_int_equal(th_status(&c, 2).commit, index);
    assert_true(th_status(&c, 1).stats.retransmits >= 1);
    th_free(&c);
}

static void test_follower_refuses_to_commit_beyond_what_it_matched(void **state) {
    (void)state;
    raft_t *r = th_lone_core(2, NULL);
    raft_entry_t e = {.term = 1, .index = 1};
    raft_msg_t m = {.type = RAFT_MSG_APPEND,
                    .from = 1,
                    .to = 2,
                    .term = 1,
                    .commit = 50,
                    .entries = &e,
                    .entries_count = 1};
    assert_int_equal(raft_step(r, &m), 0);
    raft_status_t st;
    raft_get_status(r, &st);
    assert_int_equal(st.commit, 1);
    raft_destroy(r);
}

static void small_uncommitted_bound(raft_config_t *cfg) {
    cfg->uncommitted_bytes_max = 4u << 20;
}

static void test_proposal_limits(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, small_uncommitted_bound);
    th_elect(&c, 1);
    assert_int_equal(raft_propose(th_r(&c, 2), "x", 1, NULL), RAFT_ENOTLEADER);
    static char big[RAFT_ENTRY_BYTES_MAX + 1];
    assert_int_equal(raft_propose(th_r(&c, 1), big, sizeof big, NULL), -EMSGSIZE);
    th_isolate(&c, 1, true);
    int rc = 0, accepted = 0;
    for (; accepted < 100 && rc == 0; accepted++) {
        rc = raft_propose(th_r(&c, 1), big, 1u << 20, NULL);
    }
    assert_int_equal(rc, -ENOBUFS);
    assert_int_equal(accepted, 5); /* four of 1 MiB fit under 4 MiB; the fifth is refused */
    th_process(&c, 1);
    th_drop_all(&c);
    th_free(&c);
}

static void test_restarted_follower_resumes_from_its_durable_log(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t a = th_propose(&c, 1, "a");
    th_deliver(&c);
    th_restart(&c, 2);
    raft_status_t st = th_status(&c, 2);
    assert_int_equal(st.last_index, a);
    assert_int_equal(st.term, th_status(&c, 1).term);
    uint64_t b = th_propose(&c, 1, "b");
    th_tick_all(&c, 3);
    assert_string_equal(th_applied(&c, 2, a), "a");
    assert_string_equal(th_applied(&c, 2, b), "b");
    th_free(&c);
}

static void test_restore_refuses_a_commit_beyond_the_log(void **state) {
    (void)state;
    raft_config_t cfg;
    raft_config_default(&cfg, 1);
    raft_t *r;
    assert_int_equal(raft_create(&cfg, &r), 0);
    raft_entry_t e = {.term = 1, .index = 1};
    raft_hard_state_t hs = {.term = 1, .commit = 2};
    assert_int_equal(raft_restore(r, &hs, NULL, &e, 1), -EINVAL);
    raft_entry_t gap[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 3}};
    hs.commit = 1;
    assert_int_equal(raft_restore(r, &hs, NULL, gap, 2), -EINVAL);
    raft_destroy(r);
}

static void test_restore_adopts_a_log_newer_than_the_hard_state(void **state) {
    (void)state;
    raft_config_t cfg;
    raft_config_default(&cfg, 1);
    raft_t *r;
    assert_int_equal(raft_create(&cfg, &r), 0);
    raft_entry_t e[2] = {{.term = 2, .index = 1}, {.term = 5, .index = 2}};
    raft_hard_state_t hs = {.term = 3, .vote = 2};
    assert_int_equal(raft_restore(r, &hs, NULL, e, 2), 0);
    raft_status_t st;
    raft_get_status(r, &st);
    assert_int_equal(st.term, 5);
    assert_int_equal(st.vote, 0);
    raft_destroy(r);
}

static void test_malformed_messages_are_refused_without_effect(void **state) {
    (void)state;
    raft_t *r = th_lone_core(2, NULL);
    raft_entry_t gap[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 3}};
    raft_entry_t future = {.term = 9, .index = 1};
    raft_msg_t bad[] = {
        {.type = RAFT_MSG_APPEND,
         .from = 1,
         .to = 2,
         .term = 1,
         .entries = gap,
         .entries_count = 2},
        {.type = RAFT_MSG_APPEND,
         .from = 1,
         .to = 2,
         .term = 1,
         .entries = &future,
         .entries_count = 1},
        {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 7, .term = 1},
        {.type = RAFT_MSG_HEARTBEAT, .from = 2, .to = 2, .term = 1},
        {.type = 99, .from = 1, .to = 2, .term = 1},
        {.type = RAFT_MSG_SNAPSHOT,
         .from = 1,
         .to = 2,
         .term = 1,
         .snapshot_size = 4,
         .snapshot_offset = 2,
         .chunk_len = 3,
         .chunk = "abc",
         .snapshot = {.index = 1, .term = 1}},
        {.type = RAFT_MSG_SNAPSHOT,
         .from = 1,
         .to = 2,
         .term = 1,
         .snapshot_size = 1,
         .chunk_len = 1,
         .chunk = "a",
         .snapshot = {.index = UINT64_MAX, .term = 1}},
        {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = UINT64_MAX},
        {.type = RAFT_MSG_APPEND, .from = 1, .to = 2, .term = 1, .index = UINT64_MAX - 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(raft_step(r, &bad[i]), -EINVAL);
    }
    raft_status_t st;
    raft_get_status(r, &st);
    assert_int_equal(st.term, 0);
    assert_int_equal(st.last_index, 0);
    assert_int_equal(st.stats.messages_invalid, sizeof bad / sizeof bad[0]);
    assert_false(raft_has_ready(r));
    raft_destroy(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proposals_commit_on_a_majority_and_apply_in_order_everywhere),
        cmocka_unit_test(test_minority_cannot_commit),
        cmocka_unit_test(test_leader_counts_its_own_entry_only_once_persisted),
        cmocka_unit_test(test_follower_ack_shares_a_ready_with_the_entries_it_acknowledges),
        cmocka_unit_test(test_figure8_entry_of_an_older_term_is_not_committed_by_counting),
        cmocka_unit_test(test_followers_with_divergent_logs_converge_to_the_leaders_log),
        cmocka_unit_test(test_appends_batch_many_entries_within_the_byte_bound),
        cmocka_unit_test(test_pipeline_keeps_at_most_inflight_max_appends_per_follower),
        cmocka_unit_test(test_lost_appends_are_retransmitted_after_a_stall),
        cmocka_unit_test(test_follower_refuses_to_commit_beyond_what_it_matched),
        cmocka_unit_test(test_proposal_limits),
        cmocka_unit_test(test_restarted_follower_resumes_from_its_durable_log),
        cmocka_unit_test(test_restore_refuses_a_commit_beyond_the_log),
        cmocka_unit_test(test_restore_adopts_a_log_newer_than_the_hard_state),
        cmocka_unit_test(test_malformed_messages_are_refused_without_effect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
