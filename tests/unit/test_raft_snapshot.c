/* Raft snapshots: compaction, InstallSnapshot in chunks to a far-behind follower, lost chunks,
 * stale snapshots, size limits, restart from a snapshot. */
#include <errno.h>

#include "test_raft_harness.h"

static void small_chunks(raft_config_t *cfg) {
    cfg->snapshot_chunk_bytes = 4;
}

static void fill(th_cluster_t *c, uint64_t leader, int count) {
    char text[16];
    for (int i = 0; i < count; i++) {
        snprintf(text, sizeof text, "w%d", i);
        th_propose(c, leader, text);
        th_deliver(c);
    }
}

static void test_compaction_drops_the_log_up_to_the_snapshot(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 1, 1, NULL);
    th_tick(&c, 1, 25);
    fill(&c, 1, 20);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.applied, 21);
    th_compact(&c, 1);
    st = th_status(&c, 1);
    assert_int_equal(st.snapshot_index, 21);
    assert_int_equal(st.first_index, 22);
    raft_entry_t e;
    assert_int_equal(raft_get_entry(th_r(&c, 1), 21, &e), -ENOENT);
    assert_int_equal(raft_get_term(th_r(&c, 1), 21), st.snapshot_term);
    th_free(&c);
}

static void test_compact_refuses_unapplied_or_old_indexes(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 1, 1, NULL);
    th_tick(&c, 1, 25);
    fill(&c, 1, 5);
    th_compact(&c, 1);
    raft_t *r = th_r(&c, 1);
    assert_int_equal(raft_compact(r, 3, "s", 1, NULL), -EALREADY);
    assert_int_equal(raft_compact(r, 50, "s", 1, NULL), -EINVAL);
    th_free(&c);
}

static void test_far_behind_follower_catches_up_through_a_chunked_snapshot(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, small_chunks);
    th_elect(&c, 1);
    th_isolate(&c, 3, true);
    fill(&c, 1, 30);
    th_compact(&c, 1);
    uint64_t snap = th_status(&c, 1).snapshot_index;
    fill(&c, 1, 3);
    th_isolate(&c, 3, false);
    size_t chunks_before = c.sent[RAFT_MSG_SNAPSHOT];
    th_tick_all(&c, 10);
    raft_status_t st = th_status(&c, 3);
    assert_int_equal(c.nodes[3].snapshots_installed, 1);
    assert_int_equal(st.snapshot_index, snap);
    assert_int_equal(st.commit, th_status(&c, 1).commit);
    assert_int_equal(c.nodes[3].applied_index, st.commit);
    /* "state@31" is 8 bytes: two chunks of 4. */
    assert_int_equal(c.sent[RAFT_MSG_SNAPSHOT] - chunks_before, 2);
    assert_memory_equal(c.nodes[3].snap_data.data, "state@31", 8);
    assert_string_equal(th_applied(&c, 3, st.commit), "w2");
    th_free(&c);
}

static void test_lost_snapshot_chunk_is_sent_again(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, small_chunks);
    th_elect(&c, 1);
    c.cut[1][2] = true;
    fill(&c, 1, 10);
    th_compact(&c, 1);
    th_propose(&c, 1, "after");
    c.cut[1][2] = false;
    /* Deliver everything, except that the first snapshot chunk is lost on the way. */
    bool dropped = false;
    for (int round = 0; round < 6; round++) {
        th_tick(&c, 1, 1);
        th_msg_t m;
        while (th_pop(&c, &m)) {
            if (m.type == RAFT_MSG_SNAPSHOT && !dropped) {
                dropped = true;
            } else if (!c.cut[m.from][m.to]) {
                assert_int_equal(th_step_bytes(&c, &m), 0);
                th_process(&c, m.to);
            }
            mem_free(m.bytes);
        }
    }
    assert_true(dropped);
    assert_int_equal(c.nodes[2].snapshots_installed, 1);
    assert_int_equal(th_status(&c, 2).commit, th_status(&c, 1).commit);
    th_free(&c);
}

static void test_snapshot_older_than_the_commit_index_is_ignored(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    fill(&c, 1, 5);
    uint64_t term = th_status(&c, 2).term;
    raft_msg_t m = {.type = RAFT_MSG_SNAPSHOT,
                    .from = 1,
                    .to = 2,
                    .term = term,
                    .snapshot = {.index = 3, .term = term},
                    .snapshot_size = 1,
                    .chunk = "x",
                    .chunk_len = 1};
    m.snapshot.conf.voters_count = 3;
    m.snapshot.conf.voters[0] = 1;
    m.snapshot.conf.voters[1] = 2;
    m.snapshot.conf.voters[2] = 3;
    assert_int_equal(raft_step(th_r(&c, 2), &m), 0);
    raft_ready_t rd;
    raft_ready(th_r(&c, 2), &rd);
    assert_null(rd.snapshot);
    assert_int_equal(rd.messages_count, 1);
    assert_int_equal(rd.messages[0].type, RAFT_MSG_APPEND_RESP);
    assert_int_equal(rd.messages[0].index, 6);
    raft_advance(th_r(&c, 2), &rd);
    th_drop_all(&c);
    th_free(&c);
}

static void tiny_snapshot_limit(raft_config_t *cfg) {
    cfg->snapshot_bytes_max = 4;
    cfg->snapshot_chunk_bytes = 4;
}

static void test_snapshot_larger_than_the_limit_is_refused(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, tiny_snapshot_limit);
    th_elect(&c, 1);
    c.cut[1][2] = true;
    fill(&c, 1, 5);
    th_compact(&c, 1); /* "state@6": 7 bytes */
    c.cut[1][2] = false;
    th_tick_all(&c, 5);
    assert_int_equal(c.nodes[2].snapshots_installed, 0);
    assert_int_equal(th_status(&c, 2).commit, 1);
    th_free(&c);
}

static void test_node_restarts_from_its_snapshot_and_the_log_after_it(void **state) {
    (void)state;
    th_cluster_t c;
    th_init(&c, 3, 3, NULL);
    th_elect(&c, 1);
    fill(&c, 1, 10);
    th_compact(&c, 2);
    fill(&c, 1, 3);
    raft_status_t before = th_status(&c, 2);
    th_restart(&c, 2);
    raft_status_t after = th_status(&c, 2);
    assert_int_equal(after.snapshot_index, before.snapshot_index);
    assert_int_equal(after.first_index, before.snapshot_index + 1);
    assert_int_equal(after.last_index, before.last_index);
    assert_int_equal(after.conf.voters_count, 3);
    th_tick_all(&c, 3);
    assert_int_equal(c.nodes[2].applied_index, th_status(&c, 1).commit);
    assert_string_equal(th_applied(&c, 2, th_status(&c, 1).commit), "w2");
    th_free(&c);
}

static void keep_five(raft_config_t *cfg) {
    cfg->log_keep_entries = 5;
}

static void keep_five_of_five_bytes(raft_config_t *cfg) {
    cfg->log_keep_entries = 5;
    cfg->log_keep_bytes = 5; /* two entries of "wN" */
}

/* Node 2 misses the last three of 13 writes, the leader compacts, then node 2 is heard again:
 * the leader must keep `kept` entries behind its snapshot, and node 2 catches up through a
 * snapshot exactly when it missed more than that. */
static void check_tail_kept_for_a_slow_follower(void (*configure)(raft_config_t *), uint64_t kept) {
    th_cluster_t c;
    th_init(&c, 3, 3, configure);
    th_elect(&c, 1);
    fill(&c, 1, 10);
    c.cut[1][2] = true;
    fill(&c, 1, 3);
    th_compact(&c, 1);
    raft_status_t st = th_status(&c, 1);
    assert_int_equal(st.first_index, st.snapshot_index - kept + 1);
    c.cut[1][2] = false;
    th_tick_all(&c, 5);
    assert_int_equal(c.nodes[2].snapshots_installed, kept < 3 ? 1 : 0);
    assert_int_equal(th_status(&c, 2).commit, st.commit);
    th_free(&c);
}

static void test_compaction_keeps_a_tail_for_slow_followers(void **state) {
    (void)state;
    check_tail_kept_for_a_slow_follower(keep_five, 5);
}

static void test_compaction_keeps_no_more_tail_bytes_than_allowed(void **state) {
    (void)state;
    check_tail_kept_for_a_slow_follower(keep_five_of_five_bytes, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compaction_drops_the_log_up_to_the_snapshot),
        cmocka_unit_test(test_compact_refuses_unapplied_or_old_indexes),
        cmocka_unit_test(test_far_behind_follower_catches_up_through_a_chunked_snapshot),
        cmocka_unit_test(test_lost_snapshot_chunk_is_sent_again),
        cmocka_unit_test(test_snapshot_older_than_the_commit_index_is_ignored),
        cmocka_unit_test(test_snapshot_larger_than_the_limit_is_refused),
        cmocka_unit_test(test_node_restarts_from_its_snapshot_and_the_log_after_it),
        cmocka_unit_test(test_compaction_keeps_a_tail_for_slow_followers),
        cmocka_unit_test(test_compaction_keeps_no_more_tail_bytes_than_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
