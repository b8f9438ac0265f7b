/* Tests of the balancing policies (src/lb/policy*.c) on views of real lb_server_t objects:
 * round robin evenness, smooth weighted order and proportions, weight-aware least connections,
 * consistent hashing (sticky; adding a 5th server to 4 moves about a fifth of clients, all to
 * the new one; a down server's clients move, no one else's), power of two choices avoiding a
 * loaded server, and the shared usability rules (health, drain, passive cooldown, exclusion). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lb/policy.h"
#include "lb/stats.h"

#define N_MAX 8

typedef struct fixture {
    lb_member_t members[N_MAX];
    lb_view_t view;
    void *state;
    const lb_policy_t *policy;
    uint64_t rng;
} fixture_t;

static void view_make(fixture_t *f, const char *policy, const uint32_t *weights, size_t n) {
    memset(f, 0, sizeof *f);
    f->policy = lb_policy_find(policy);
    assert_non_null(f->policy);
    for (size_t i = 0; i < n; i++) {
        lb_server_conf_t conf = {.weight = weights[i]};
        snprintf(conf.name, sizeof conf.name, "s%zu", i);
        snprintf(conf.address, sizeof conf.address, "127.0.0.1:%zu", 9000 + i);
        f->members[i] = (lb_member_t){lb_server_new("app", &conf, 1), weights[i]};
        f->view.total_weight += weights[i];
    }
    f->view.members = f->members;
    f->view.count = n;
    f->rng = 0x9e3779b97f4a7c15ull;
    assert_int_equal(f->policy->init(&f->view, &f->state), 0);
}

static void view_free(fixture_t *f) {
    f->policy->free(f->state);
    for (size_t i = 0; i < f->view.count; i++) {
        lb_server_unref(f->members[i].server);
    }
}

static int pick(fixture_t *f, uint64_t client) {
    lb_pick_t ctx = {.client_hash = client, .now_ms = 1000, .rng = &f->rng};
    return f->policy->pick(&f->view, f->state, &ctx);
}

static void test_roundrobin_spreads_evenly(void **state) {
    (void)state;
    fixture_t f;
    uint32_t w[4] = {1, 1, 1, 1};
    view_make(&f, "roundrobin", w, 4);
    int count[4] = {0};
    for (int i = 0; i < 4000; i++) {
        count[pick(&f, 0)]++;
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(count[i], 1000);
    }
    view_free(&f);
}

static void test_weighted_is_smooth_and_proportional(void **state) {
    (void)state;
    fixture_t f;
    uint32_t w[3] = {5, 1, 1};
    view_make(&f, "weighted", w, 3);
    char order[8] = {0};
    for (int i = 0; i < 7; i++) {
        order[i] = (char)('a' + pick(&f, 0));
    }
    assert_string_equal(order, "aabacaa"); /* the heavy server's turns are spread out */
    view_free(&f);
    uint32_t w2[3] = {3, 2, 1};
    view_make(&f, "weighted", w2, 3);
    int count[3] = {0};
    for (int i = 0; i < 6000; i++) {
        count[pick(&f, 0)]++;
    }
    assert_int_equal(count[0], 3000);
    assert_int_equal(count[1], 2000);
    assert_int_equal(count[2], 1000);
    view_free(&f);
}

static void test_leastconn_prefers_fewer_active_per_weight(void **state) {
    (void)state;
    fixture_t f;
    uint32_t w[3] = {1, 1, 2};
    view_make(&f, "leastconn", w, 3);
    atomic_store(&f.members[0].server->active, 5);
    atomic_store(&f.members[1].server->active, 2);
    atomic_store(&f.members[2].server->active, 6); /* 6/2 = 3 per unit of weight */
    assert_int_equal(pick(&f, 0), 1);
    atomic_store(&f.members[2].server->active, 2); /* 2/2 = 1: now the least loaded */
    assert_int_equal(pick(&f, 0), 2);
    /* Equal load: ties rotate rather than always hitting the first. */
    for (int i = 0; i < 3; i++) {
        atomic_store(&f.members[i].server->active, 0);
    }
    int seen[3] = {0};
    for (int i = 0; i < 30; i++) {
        seen[pick(&f, 0)]++;
    }
    assert_true(seen[0] > 0 && seen[1] > 0 && seen[2] > 0);
    view_free(&f);
}

static void test_iphash_is_sticky_and_moves_a_fifth_when_a_fifth_server_joins(void **state) {
    (void)state;
    fixture_t four, five;
    uint32_t w[5] = {1, 1, 1, 1, 1};
    view_make(&four, "iphash", w, 4);
    view_make(&five, "iphash", w, 5);
    int moved = 0, moved_elsewhere = 0;
    for (uint32_t ip = 0; ip < 1000; ip++) {
        uint32_t addr = 0x7f000000u | (ip * 2654435761u >> 8); /* spread over 127.0.0.0/8 */
        uint64_t h = lb_hash64(&addr, sizeof addr);
        int a = pick(&four, h);
        assert_int_equal(pick(&four, h), a); /* sticky */
        int b = pick(&five, h);
        if (a != b) {
            moved++;
            moved_elsewhere += b != 4; /* every mover must go to the new server */
        }
    }
    assert_int_equal(moved_elsewhere, 0);
    assert_in_range(moved, 120, 290); /* about 1000/5 */
    view_free(&four);
    view_free(&five);
}

static void test_iphash_down_server_moves_only_its_clients(void **state) {
    (void)state;
    fixture_t f;
    uint32_t w[4] = {1, 1, 1, 1};
    view_make(&f, "iphash", w, 4);
    int before[500];
    for (int i = 0; i < 500; i++) {
        before[i] = pick(&f, lb_mix64((uint64_t)i));
    }
    atomic_store(&f.members[2].server->check_up, 0);
    for (int i = 0; i < 500; i++) {
        int now = pick(&f, lb_mix64((uint64_t)i));
        assert_int_not_equal(now, 2);
        if (before[i] != 2) {
            assert_int_equal(now, before[i]);
        }
    }
    view_free(&f);
}

static void test_random2_avoids_a_loaded_server(void **state) {
    (void)state;
    fixture_t f;
    uint32_t w[4] = {1, 1, 1, 1};
    view_make(&f, "random2", w, 4);
    atomic_store(&f.members[1].server->active, 50);
    int count[4] = {0};
    for (int i = 0; i < 2000; i++) {
        count[pick(&f, 0)]++;
    }
    assert_int_equal(count[1], 0); /* two distinct draws: the loaded one always loses */
    assert_true(count[0] > 300 && count[2] > 300 && count[3] > 300);
    view_free(&f);
}

static void test_no_policy_picks_an_unusable_server(void **state) {
    (void)state;
    static const char *const names[] = {"roundrobin", "weighted", "leastconn", "iphash",
                                        "random2"};
    for (size_t p = 0; p < 5; p++) {
        fixture_t f;
        uint32_t w[4] = {1, 1, 1, 0};
        view_make(&f, names[p], w, 4);
        atomic_store(&f.members[0].server->check_up, 0);        /* down */
        atomic_store(&f.members[1].server->admin, LB_SERVER_DRAIN); /* draining */
        for (int i = 0; i < 50; i++) {
            assert_int_equal(pick(&f, lb_mix64((uint64_t)i)), 2); /* weight 0 gets nothing */
        }
        lb_server_t *tried[1] = {f.members[2].server};
        lb_pick_t ctx = {.client_hash = 7, .exclude = tried, .exclude_count = 1, .now_ms = 1000,
                         .rng = &f.rng};
        assert_int_equal(f.policy->pick(&f.view, f.state, &ctx), -1);
        view_free(&f);
    }
}

static void test_passive_failures_cool_a_server_down(void **state) {
    (void)state;
    lb_server_conf_t conf = {.name = "s", .address = "127.0.0.1:1", .weight = 1};
    lb_server_t *s = lb_server_new("app", &conf, 1);
    lb_health_conf_t h = {.passive_fails = 3, .passive_cooldown_ms = 500};
    assert_false(lb_server_failed(s, &h, 1000));
    lb_server_succeeded(s); /* a success in between resets the count */
    assert_false(lb_server_failed(s, &h, 1000));
    assert_false(lb_server_failed(s, &h, 1000));
    assert_true(lb_server_usable(s, 1000));
    assert_true(lb_server_failed(s, &h, 1000));
    assert_false(lb_server_usable(s, 1200));
    assert_string_equal(lb_server_state_name(s, 1200), "cooldown");
    assert_true(lb_server_usable(s, 1500));
    lb_server_unref(s);
}

static void test_histogram_quantiles_are_within_a_bucket(void **state) {
    (void)state;
    lb_histogram_t *h = calloc(1, sizeof *h);
    for (uint64_t us = 1; us <= 10000; us++) {
        lb_histogram_record(h, us);
    }
    lb_histogram_sum_t *sum = calloc(1, sizeof *sum);
    lb_histogram_merge(sum, h);
    assert_int_equal(sum->count, 10000);
    uint64_t p50 = lb_histogram_quantile(sum, 0.5), p99 = lb_histogram_quantile(sum, 0.99);
    assert_in_range(p50, 5000, 5000 * 1125 / 1000);
    assert_in_range(p99, 9900, 9900 * 1125 / 1000);
    for (uint64_t v = 0; v < 100000; v = v * 3 + 1) {
        assert_true(lb_histogram_bucket_max(lb_histogram_bucket(v)) >= v);
    }
    free(h);
    free(sum);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundrobin_spreads_evenly),
        cmocka_unit_test(test_weighted_is_smooth_and_proportional),
        cmocka_unit_test(test_leastconn_prefers_fewer_active_per_weight),
        cmocka_unit_test(test_iphash_is_sticky_and_moves_a_fifth_when_a_fifth_server_joins),
        cmocka_unit_test(test_iphash_down_server_moves_only_its_clients),
        cmocka_unit_test(test_random2_avoids_a_loaded_server),
        cmocka_unit_test(test_no_policy_picks_an_unusable_server),
        cmocka_unit_test(test_passive_failures_cool_a_server_down),
        cmocka_unit_test(test_histogram_quantiles_are_within_a_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
