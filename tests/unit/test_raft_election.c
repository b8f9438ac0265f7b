/* Raft elections: timeouts, votes and their persistence, pre-vote, check-quorum, leases,
 * learners, stale leaders, leadership transfer. */
#include <errno.h>

#include "test_raft_harness.h"

static void test_single_node_elects_itself_and_commits_its_noop(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 1, 1, NULL);
    th_tick(&c, 1, 25);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.role, RAFT_LEADER);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.commit, 1);
    assert_int_equal(c.nodes[1].applied_index, 1);
    th_free(&c);
}

static void test_three_nodes_elect_exactly_one_leader_known_to_all(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_tick_all(&c, 40);
    int leaders = 0;
    uint64_t leader = 0;
    for (uint64_t id = 1; id <= 3; id++) {
        if (th_status(&c, id).role == RAFT_LEADER) {
            leaders++;
            leader = id;
        }
    }
    assert_int_equal(leaders, 1);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(th_status(&c, id).leader, leader);
        assert_int_equal(th_status(&c, id).commit, 1);
    }
    th_free(&c);
}

static void test_election_timeout_is_randomized_within_one_to_two_timeouts(void **state) {
    (void)state;
    for (uint64_t seed = 1; seed <= 50; seed++) {
        raft_config_t cfg;
        raft_config_default(&cfg, 1);
        uint64_t voters[] = {1, 2, 3};
        cfg.voters = voters;
        cfg.voters_count = 3;
        cfg.seed = seed;
        raft_t *r;
        assert_int_equal(raft_create(&cfg, &r), 0);
        int ticks = 0;
        raft_status_t st;
        do {
            raft_tick(r);
            ticks++;
            raft_get_status(r, &st);
        } while (st.role == RAFT_FOLLOWER && ticks < 100);
        assert_true(ticks >= 10 && ticks < 20);
        raft_destroy(r);
    }
}

static void test_vote_grant_shares_a_ready_with_the_vote_to_persist(void **state) {
    (void)state;
    raft_t *r = th_lone_core(2, NULL);
    raft_msg_t vote = {.type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 5, .index = 0};
    assert_int_equal(raft_step(r, &vote), 0);
    raft_ready_t rd;
    raft_ready(r, &rd);
    assert_true(rd.hard_state_changed);
    assert_true(rd.must_sync);
    assert_int_equal(rd.hard_state.term, 5);
    assert_int_equal(rd.hard_state.vote, 1);
    assert_int_equal(rd.messages_count, 1);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_VOTE_RESP);
    assert_false(rd.messages[0].flags & RAFT_FLAG_REJECT);
    raft_advance(r, &rd);
    raft_destroy(r);
}

static void test_one_vote_per_term(void **state) {
    (void)state;
    raft_t *r = th_lone_core(3, NULL);
    raft_msg_t v1 = {.type = RAFT_MSG_VOTE, .from = 1, .to = 3, .term = 2};
    raft_msg_t v2 = {.type = RAFT_MSG_VOTE, .from = 2, .to = 3, .term = 2};
    assert_int_equal(raft_step(r, &v1), 0);
    assert_int_equal(raft_step(r, &v2), 0);
    raft_ready_t rd;
    raft_ready(r, &rd);
    assert_int_equal(rd.messages_count, 2);
    assert_false(rd.messages[0].flags & RAFT_FLAG_REJECT);
    assert_true(rd.messages[1].flags & RAFT_FLAG_REJECT);
    raft_advance(r, &rd);
    raft_destroy(r);
}

static void test_vote_refused_to_candidate_with_older_log(void **state) {
    (void)state;
    raft_t *r = th_lone_core(2, NULL);
    raft_entry_t entries[2] = {{.term = 1, .index = 1}, {.term = 3, .index = 2}};
    raft_hard_state_t hs = {.term = 3};
    assert_int_equal(raft_restore(r, &hs, NULL, entries, 2), 0);
    /* Same last term, shorter log; then older last term, longer log: both refused. */
    raft_msg_t a = {
        .type = RAFT_MSG_VOTE, .from = 1, .to = 2, .term = 4, .index = 1, .log_term = 3};
    raft_msg_t b = {
        .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 5, .index = 9, .log_term = 2};
    assert_int_equal(raft_step(r, &a), 0);
    assert_int_equal(raft_step(r, &b), 0);
    raft_ready_t rd;
    raft_ready(r, &rd);
    assert_int_equal(rd.messages_count, 2);
    assert_true(rd.messages[0].flags & RAFT_FLAG_REJECT);
    assert_true(rd.messages[1].flags & RAFT_FLAG_REJECT);
    assert_int_equal(rd.hard_state.vote, 0);
    raft_advance(r, &rd);
    raft_destroy(r);
}

static void pre_vote_off(raft_config_t *cfg) {
    cfg->pre_vote = false;
}

static void test_candidate_behind_in_term_learns_the_term_from_the_refusal(void **state) {
    (void)state;
    raft_t *r = th_lone_core(2, pre_vote_off);
    raft_hard_state_t hs = {.term = 9};
    assert_int_equal(raft_restore(r, &hs, NULL, NULL, 0), 0);
    raft_msg_t v = {.type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = 4, .index = 50,
                    .log_term = 4};
    assert_int_equal(raft_step(r, &v), 0);
    raft_ready_t rd;
    raft_ready(r, &rd);
    assert_int_equal(rd.messages_count, 1);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_VOTE_RESP);
    assert_true(rd.messages[0].flags & RAFT_FLAG_REJECT);
    assert_int_equal(rd.messages[0].term, 9);
    raft_advance(r, &rd);
    raft_destroy(r);
}

static void test_restarted_node_keeps_its_vote(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t term = th_status(&c, 1).term;
    assert_int_equal(c.nodes[2].hs.vote, 1);
    th_restart(&c, 2);
    raft_msg_t v = {
        .type = RAFT_MSG_VOTE, .from = 3, .to = 2, .term = term, .index = 100, .log_term = term};
    assert_int_equal(raft_step(th_r(&c, 2), &v), 0);
    raft_ready_t rd;
    raft_ready(th_r(&c, 2), &rd);
    assert_int_equal(rd.messages_count, 1);
    assert_true(rd.messages[0].flags & RAFT_FLAG_REJECT);
    raft_advance(th_r(&c, 2), &rd);
    th_free(&c);
}

static void no_pre_vote(raft_config_t *cfg) {
    cfg->pre_vote = false;
    cfg->check_quorum = false;
}

static void test_partitioned_node_without_pre_vote_inflates_its_term(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, no_pre_vote);
    th_elect(&c, 1);
    th_isolate(&c, 3, true);
    th_tick(&c, 3, 100);
    th_drop_all(&c);
    assert_true(th_status(&c, 3).term > th_status(&c, 1).term);
    th_free(&c);
}

static void test_pre_vote_keeps_a_partitioned_node_from_disrupting_the_leader(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t term = th_status(&c, 1).term;
    th_isolate(&c, 3, true);
    th_tick(&c, 3, 100);
    th_deliver(&c);
    assert_int_equal(th_status(&c, 3).term, term);
    assert_true(th_status(&c, 3).stats.pre_votes_started > 0);
    th_isolate(&c, 3, false);
    th_tick_all(&c, 30);
    assert_int_equal(th_status(&c, 1).role, RAFT_LEADER);
    assert_int_equal(th_status(&c, 1).term, term);
    assert_int_equal(th_status(&c, 3).leader, 1);
    th_free(&c);
}

static void test_follower_in_lease_ignores_vote_requests(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    uint64_t term = th_status(&c, 2).term;
    raft_msg_t v = {.type = RAFT_MSG_VOTE,
                    .from = 3,
                    .to = 2,
                    .term = term + 5,
                    .index = 100,
                    .log_term = term};
    assert_int_equal(raft_step(th_r(&c, 2), &v), 0);
    assert_int_equal(th_status(&c, 2).term, term);
    assert_int_equal(th_status(&c, 2).stats.votes_ignored_in_lease, 1);
    th_free(&c);
}

static void test_check_quorum_steps_down_a_leader_cut_from_its_majority(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    th_isolate(&c, 1, true);
    for (int i = 0; i < 25; i++) {
        th_tick(&c, 1, 1);
        th_deliver(&c);
    }
    assert_int_equal(th_status(&c, 1).role, RAFT_FOLLOWER);
    assert_int_equal(th_status(&c, 1).stats.check_quorum_stepdowns, 1);
    th_free(&c);
}

static void test_stale_leader_rejoining_steps_down_and_loses_its_uncommitted_entries(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, no_pre_vote);
    th_elect(&c, 1);
    th_isolate(&c, 1, true);
    uint64_t lost = th_propose(&c, 1, "lost write");
    th_deliver(&c);
    th_elect(&c, 2);
    uint64_t kept = th_propose(&c, 2, "kept write");
    th_deliver(&c);
    assert_true(kept >= lost);
    th_isolate(&c, 1, false);
    th_tick_all(&c, 5);
    assert_int_equal(th_status(&c, 1).role, RAFT_FOLLOWER);
    assert_int_equal(th_status(&c, 1).leader, 2);
    assert_string_equal(th_applied(&c, 1, kept), "kept write");
    assert_string_equal(th_applied(&c, 1, lost), ""); /* node 2's no-op took the index */
    assert_true(th_status(&c, 1).stats.entries_truncated >= 1);
    th_free(&c);
}

static void test_learner_never_campaigns(void **state) {
    (void)state;
    raft_config_t cfg;
    raft_config_default(&cfg, 4);
    uint64_t voters[] = {1, 2, 3}, learners[] = {4};
    cfg.voters = voters;
    cfg.voters_count = 3;
    cfg.learners = learners;
    cfg.learners_count = 1;
    raft_t *r;
    assert_int_equal(raft_create(&cfg, &r), 0);
    for (int i = 0; i < 200; i++) {
        raft_tick(r);
    }
    raft_status_t st;
    raft_get_status(r, &st);
    assert_int_equal(st.role, RAFT_FOLLOWER);
    assert_int_equal(st.term, 0);
    assert_false(raft_has_ready(r));
    raft_destroy(r);
}

static void test_transfer_hands_leadership_to_an_up_to_date_voter(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    assert_int_equal(raft_transfer_leader(th_r(&c, 1), 3), 0);
    th_deliver(&c);
    assert_int_equal(th_status(&c, 3).role, RAFT_LEADER);
    assert_int_equal(th_status(&c, 1).role, RAFT_FOLLOWER);
    assert_int_equal(th_status(&c, 1).leader, 3);
    th_free(&c);
}

static void test_transfer_catches_a_lagging_target_up_first_and_refuses_proposals(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    c.cut[1][3] = true;
    uint64_t last = 0;
    for (int i = 0; i < 5; i++) {
        last = th_propose(&c, 1, "x");
    }
    th_deliver(&c);
    c.cut[1][3] = false;
    assert_int_equal(raft_transfer_leader(th_r(&c, 1), 3), 0);
    assert_int_equal(raft_propose(th_r(&c, 1), "y", 1, NULL), RAFT_ETRANSFER);
    assert_int_equal(raft_transfer_leader(th_r(&c, 1), 2), RAFT_ETRANSFER);
    th_tick_all(&c, 3);
    assert_int_equal(th_status(&c, 3).role, RAFT_LEADER);
    assert_true(th_status(&c, 3).commit > last);
    assert_string_equal(th_applied(&c, 3, last), "x");
    th_free(&c);
}

static void test_transfer_to_an_unreachable_target_is_aborted(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    th_isolate(&c, 3, true);
    th_propose(&c, 1, "x");
    th_deliver(&c);
    assert_int_equal(raft_transfer_leader(th_r(&c, 1), 3), 0);
    for (int i = 0; i < 12; i++) {
        th_tick(&c, 1, 1);
        th_tick(&c, 2, 1);
        th_deliver(&c);
    }
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.role, RAFT_LEADER);
    assert_int_equal(st.transfer_target, 0);
    assert_int_equal(st.stats.transfers_aborted, 1);
    assert_int_equal(raft_propose(th_r(&c, 1), "y", 1, NULL), 0);
    th_free(&c);
}

static void test_transfer_refuses_non_voters_and_followers(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    assert_int_equal(raft_transfer_leader(th_r(&c, 1), 9), -EINVAL);
    assert_int_equal(raft_transfer_leader(th_r(&c, 1), 1), -EINVAL);
    assert_int_equal(raft_transfer_leader(th_r(&c, 2), 3), RAFT_ENOTLEADER);
    th_free(&c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_node_elects_itself_and_commits_its_noop),
        cmocka_unit_test(test_three_nodes_elect_exactly_one_leader_known_to_all),
        cmocka_unit_test(test_election_timeout_is_randomized_within_one_to_two_timeouts),
        cmocka_unit_test(test_vote_grant_shares_a_ready_with_the_vote_to_persist),
        cmocka_unit_test(test_one_vote_per_term),
        cmocka_unit_test(test_vote_refused_to_candidate_with_older_log),
        cmocka_unit_test(test_candidate_behind_in_term_learns_the_term_from_the_refusal),
        cmocka_unit_test(test_restarted_node_keeps_its_vote),
        cmocka_unit_test(test_partitioned_node_without_pre_vote_inflates_its_term),
        cmocka_unit_test(test_pre_vote_keeps_a_partitioned_node_from_disrupting_the_leader),
        cmocka_unit_test(test_follower_in_lease_ignores_vote_requests),
        cmocka_unit_test(test_check_quorum_steps_down_a_leader_cut_from_its_majority),
        cmocka_unit_test(test_stale_leader_rejoining_steps_down_and_loses_its_uncommitted_entries),
        cmocka_unit_test(test_learner_never_campaigns),
        cmocka_unit_test(test_transfer_hands_leadership_to_an_up_to_date_voter),
        cmocka_unit_test(test_transfer_catches_a_lagging_target_up_first_and_refuses_proposals),
        cmocka_unit_test(test_transfer_to_an_unreachable_target_is_aborted),
        cmocka_unit_test(test_transfer_refuses_non_voters_and_followers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
