/* ReadIndex: answered after a heartbeat quorum and not before, after the leader's first commit
 * in its term, forwarded from followers, never answered by a leader cut from its majority. */
#include <errno.h>

#include "test_raft_harness.h"

static void test_single_node_answers_a_read_at_once(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 1, 1, NULL);
    th_tick(&c, 1, 25);
    assert_int_equal(raft_read_index(th_r(&c, 1), 42), 0);
    th_process(&c, 1);
    assert_int_equal(c.nodes[1].reads_count, 1);
    assert_int_equal(c.nodes[1].reads[0].ctx, 42);
    assert_int_equal(c.nodes[1].reads[0].index, th_status(&c, 1).commit);
    th_free(&c);
}

static void test_leader_answers_a_read_only_after_a_heartbeat_quorum(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t w = th_propose(&c, 1, "w");
    th_deliver(&c);
    assert_int_equal(raft_read_index(th_r(&c, 1), 7), 0);
    th_process(&c, 1);
    assert_int_equal(c.nodes[1].reads_count, 0); /* the heartbeats are out, no answer yet */
    th_deliver(&c);
    assert_int_equal(c.nodes[1].reads_count, 1);
    assert_int_equal(c.nodes[1].reads[0].ctx, 7);
    assert_int_equal(c.nodes[1].reads[0].index, w);
    th_free(&c);
}

static void test_leader_cut_from_its_majority_never_answers(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    th_isolate(&c, 1, true);
    assert_int_equal(raft_read_index(th_r(&c, 1), 7), 0);
    for (int i = 0; i < 5; i++) {
        th_tick(&c, 1, 1);
        th_deliver(&c);
    }
    assert_int_equal(c.nodes[1].reads_count, 0);
    th_free(&c);
}

static void test_new_leader_waits_for_its_first_commit_before_answering(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    /* Node 1 wins, but its no-op is held back. */
    for (int i = 0; i < 40 && th_status(&c, 1).role != RAFT_LEADER; i++) {
        th_tick(&c, 1, 1);
        th_msg_t m;
        while (th_status(&c, 1).role != RAFT_LEADER && th_pop(&c, &m)) {
            assert_int_equal(th_step_bytes(&c, &m), 0);
            th_process(&c, m.to);
            mem_free(m.bytes);
        }
    }
    assert_int_equal(th_status(&c, 1).role, RAFT_LEADER);
    th_drop_all(&c);
    assert_int_equal(raft_read_index(th_r(&c, 1), 9), 0);
    /* Heartbeats alone confirm leadership, but the commit index is not yet this term's. */
    raft_t *r = th_r(&c, 1);
    for (uint64_t from = 2; from <= 3; from++) {
        raft_msg_t hb = {.type = RAFT_MSG_HEARTBEAT_RESP,
                         .from = from,
                         .to = 1,
                         .term = th_status(&c, 1).term,
                         .context = 1};
        assert_int_equal(raft_step(r, &hb), 0);
    }
    th_process(&c, 1);
    assert_int_equal(c.nodes[1].reads_count, 0);
    th_tick_all(&c, 3);
    assert_int_equal(c.nodes[1].reads_count, 1);
    assert_int_equal(c.nodes[1].reads[0].index, th_status(&c, 1).commit);
    th_free(&c);
}

static void test_follower_read_is_forwarded_and_answered_with_the_leaders_index(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t w = th_propose(&c, 1, "w");
    th_deliver(&c);
    assert_int_equal(raft_read_index(th_r(&c, 2), 11), 0);
    th_deliver(&c);
    assert_int_equal(c.nodes[2].reads_count, 1);
    assert_int_equal(c.nodes[2].reads[0].ctx, 11);
    assert_int_equal(c.nodes[2].reads[0].index, w);
    assert_int_equal(th_status(&c, 1).stats.reads_served_remote, 1);
    th_free(&c);
}

static void test_read_without_a_known_leader_is_refused(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    assert_int_equal(raft_read_index(th_r(&c, 2), 1), RAFT_ENOTLEADER);
    th_free(&c);
}

static void test_reads_of_one_turn_share_one_heartbeat_round(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    size_t before = c.sent[RAFT_MSG_HEARTBEAT];
    for (uint64_t ctx = 1; ctx <= 50; ctx++) {
        assert_int_equal(raft_read_index(th_r(&c, 1), ctx), 0);
    }
    th_deliver(&c);
    assert_int_equal(c.nodes[1].reads_count, 50);
    assert_int_equal(c.sent[RAFT_MSG_HEARTBEAT] - before, 2);
    for (size_t i = 0; i < 50; i++) {
        assert_int_equal(c.nodes[1].reads[i].ctx, i + 1); /* answered in order */
    }
    th_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node_answers_a_read_at_once),
        cmocka_unit_test(test_leader_answers_a_read_only_after_a_heartbeat_quorum),
        cmocka_unit_test(test_leader_cut_from_its_majority_never_answers),
        cmocka_unit_test(test_new_leader_waits_for_its_first_commit_before_answering),
        cmocka_unit_test(test_follower_read_is_forwarded_and_answered_with_the_leaders_index),
        cmocka_unit_test(test_read_without_a_known_leader_is_refused),
        cmocka_unit_test(test_reads_of_one_turn_share_one_heartbeat_round),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
