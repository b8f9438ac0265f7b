/* Raft membership: learners, promotion, removal (of a follower and of the leader), one change
 * at a time, a new leader's own-term commit before any change, truncated conf entries. */
#include <errno.h>

#include "test_raft_harness.h"

static uint64_t change(th_cluster_t *c, uint64_t leader, int type, uint64_t node) {
    uint64_t index = 0;
    assert_int_equal(raft_propose_conf_change(th_r(c, leader), type, node, "addr", 4, &index), 0);
    th_process(c, leader);
    th_deliver(c);
    return index;
}

static void test_learner_receives_the_log_but_is_not_counted_in_quorums(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 4, 3, NULL); /* node 4 starts outside the group */
    th_elect(&c, 1);
    uint64_t index = change(&c, 1, RAFT_CONF_ADD_LEARNER, 4);
    th_tick_all(&c, 3);
    raft_status_t st4 = th_status(&c, 4);
    assert_true(raft_conf_is_learner(&st4.conf, 4));
    assert_int_equal(st4.commit, th_status(&c, 1).commit);
    assert_true(st4.commit >= index);
    /* With two of three voters cut off, leader plus learner are no quorum. */
    uint64_t commit = th_status(&c, 1).commit;
    c.cut[1][2] = c.cut[1][3] = true;
    uint64_t w = th_propose(&c, 1, "needs a voter");
    th_deliver(&c);
    assert_int_equal(th_status(&c, 1).commit, commit);
    assert_int_equal(th_status(&c, 4).last_index, w);
    th_free(&c);
}

static void test_learner_promoted_to_voter_counts_toward_commit(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 4, 3, NULL);
    th_elect(&c, 1);
    change(&c, 1, RAFT_CONF_ADD_LEARNER, 4);
    change(&c, 1, RAFT_CONF_ADD_VOTER, 4);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.conf.voters_count, 4);
    assert_true(raft_conf_is_voter(&st.conf, 4));
    /* Four voters: the leader needs two others. With 3 cut off, nodes 2 and 4 suffice. */
    c.cut[1][3] = true;
    uint64_t w = th_propose(&c, 1, "w");
    th_deliver(&c);
    assert_int_equal(th_status(&c, 1).commit, w);
    th_free(&c);
}

static void test_removed_follower_stops_counting_and_receiving(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    change(&c, 1, RAFT_CONF_REMOVE, 3);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.conf.voters_count, 2);
    size_t before = c.sent[RAFT_MSG_HEARTBEAT];
    c.cut[1][2] = false;
    th_isolate(&c, 3, true);
    uint64_t w = th_propose(&c, 1, "two voters now");
    th_tick_all(&c, 3);
    assert_int_equal(th_status(&c, 1).commit, w);
    assert_int_equal(c.sent[RAFT_MSG_HEARTBEAT] - before, 3); /* to node 2 only */
    th_free(&c);
}

static void test_one_conf_change_at_a_time(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 5, 3, NULL);
    th_elect(&c, 1);
    c.cut[1][2] = c.cut[1][3] = true; /* keep the first change uncommitted */
    assert_int_equal(raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_LEARNER, 4, NULL, 0, NULL),
                     0);
    assert_int_equal(raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_LEARNER, 5, NULL, 0, NULL),
                     RAFT_ECONFPENDING);
    c.cut[1][2] = c.cut[1][3] = false;
    th_tick_all(&c, 3);
    assert_int_equal(raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_LEARNER, 5, NULL, 0, NULL),
                     0);
    th_process(&c, 1);
    th_deliver(&c);
    th_free(&c);
}

/* Only the campaigning node's clock runs in these scenarios: without check-quorum, the others
 * hold no lease that would make them ignore it. */
static void no_lease(raft_config_t *cfg) {
    cfg->check_quorum = false;
}

static void test_new_leader_changes_membership_only_after_committing_in_its_term(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 4, 3, no_lease);
    th_elect(&c, 1);
    /* Node 2 wins while its no-op cannot reach anyone. */
    th_isolate(&c, 1, true);
    for (int i = 0; i < 40 && th_status(&c, 2).role != RAFT_LEADER; i++) {
        th_tick(&c, 2, 1);
        th_msg_t m;
        while (th_pop(&c, &m)) {
            bool to_leader = th_status(&c, 2).role == RAFT_LEADER && m.from == 2;
            if (!c.cut[m.from][m.to] && !to_leader) {
                assert_int_equal(th_step_bytes(&c, &m), 0);
                th_process(&c, m.to);
            }
            mem_free(m.bytes);
        }
    }
    assert_int_equal(th_status(&c, 2).role, RAFT_LEADER);
    assert_int_equal(raft_propose_conf_change(th_r(&c, 2), RAFT_CONF_ADD_LEARNER, 4, NULL, 0, NULL),
                     RAFT_ECONFPENDING);
    th_tick(&c, 2, 1);
    th_deliver(&c); /* the no-op reaches node 3 and commits */
    assert_int_equal(raft_get_term(th_r(&c, 2), th_status(&c, 2).commit), th_status(&c, 2).term);
    assert_int_equal(raft_propose_conf_change(th_r(&c, 2), RAFT_CONF_ADD_LEARNER, 4, NULL, 0, NULL),
                     0);
    th_process(&c, 2);
    th_drop_all(&c);
    th_free(&c);
}

static void test_leader_removing_itself_steps_down_once_committed(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    change(&c, 1, RAFT_CONF_REMOVE, 1);
    assert_int_equal(th_status(&c, 1).role, RAFT_FOLLOWER);
    th_isolate(&c, 1, true);
    th_tick_all(&c, 40);
    uint64_t leader = th_status(&c, 2).leader;
    assert_true(leader == 2 || leader == 3);
    assert_int_equal(th_status(&c, leader).role, RAFT_LEADER);
    assert_int_equal(th_status(&c, leader).conf.voters_count, 2);
    assert_int_equal(th_status(&c, 1).role, RAFT_FOLLOWER); /* not a voter: never campaigns */
    th_free(&c);
}

static void test_conf_change_arguments_are_checked(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 1, 1, NULL);
    th_tick(&c, 1, 25);
    raft_t *r = th_r(&c, 1);
    assert_int_equal(raft_propose_conf_change(r, RAFT_CONF_ADD_VOTER, 1, NULL, 0, NULL), -EALREADY);
    assert_int_equal(raft_propose_conf_change(r, RAFT_CONF_REMOVE, 9, NULL, 0, NULL), -ENOENT);
    assert_int_equal(raft_propose_conf_change(r, RAFT_CONF_REMOVE, 1, NULL, 0, NULL), -EINVAL);
    assert_int_equal(raft_propose_conf_change(r, 77, 2, NULL, 0, NULL), -EINVAL);
    static char ctx[RAFT_CONF_CONTEXT_MAX + 1];
    assert_int_equal(raft_propose_conf_change(r, RAFT_CONF_ADD_VOTER, 2, ctx, sizeof ctx, NULL),
                     -EINVAL);
    th_free(&c);
}

static void test_conf_entry_carries_the_change_its_result_and_the_context(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 2, 1, NULL);
    th_tick(&c, 1, 25);
    uint64_t index = change(&c, 1, RAFT_CONF_ADD_LEARNER, 2);
    raft_entry_t e;
    assert_int_equal(raft_get_entry(th_r(&c, 1), index, &e), 0);
    assert_int_equal(e.type, RAFT_ENTRY_CONF);
    raft_conf_change_t cc;
    assert_int_equal(raft_conf_entry_decode(&e, &cc), 0);
    assert_int_equal(cc.type, RAFT_CONF_ADD_LEARNER);
    assert_int_equal(cc.node, 2);
    assert_int_equal(cc.conf.voters_count, 1);
    assert_int_equal(cc.conf.learners_count, 1);
    assert_int_equal(cc.context_len, 4);
    assert_memory_equal(cc.context, "addr", 4);
    e.len -= 1;
    assert_int_equal(raft_conf_entry_decode(&e, &cc), -EBADMSG);
    th_free(&c);
}

static void test_truncated_conf_entry_restores_the_previous_configuration(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 4, 3, no_lease);
    th_elect(&c, 1);
    th_isolate(&c, 1, true);
    assert_int_equal(raft_propose_conf_change(th_r(&c, 1), RAFT_CONF_ADD_VOTER, 4, NULL, 0, NULL),
                     0);
    th_process(&c, 1);
    assert_int_equal(th_status(&c, 1).conf.voters_count, 4); /* in force once in the log */
    th_drop_all(&c);
    th_elect(&c, 2);
    th_propose(&c, 2, "overwrites the conf entry");
    th_deliver(&c);
    th_isolate(&c, 1, false);
    th_tick_all(&c, 5);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.leader, 2);
    assert_int_equal(st.conf.voters_count, 3);
    assert_false(raft_conf_is_voter(&st.conf, 4));
    th_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learner_receives_the_log_but_is_not_counted_in_quorums),
        cmocka_unit_test(test_learner_promoted_to_voter_counts_toward_commit),
        cmocka_unit_test(test_removed_follower_stops_counting_and_receiving),
        cmocka_unit_test(test_one_conf_change_at_a_time),
        cmocka_unit_test(test_new_leader_changes_membership_only_after_committing_in_its_term),
        cmocka_unit_test(test_leader_removing_itself_steps_down_once_committed),
        cmocka_unit_test(test_conf_change_arguments_are_checked),
        cmocka_unit_test(test_conf_entry_carries_the_change_its_result_and_the_context),
        cmocka_unit_test(test_truncated_conf_entry_restores_the_previous_configuration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
