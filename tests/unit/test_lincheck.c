/* The linearizability checker (tests/sim/lincheck.c): histories known to be linearizable are
 * accepted, histories known not to be are rejected with an explanation, and the file format's
 * errors name their line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "lincheck.h"

/* Checks a history given in the file format; returns the verdict, the report in *report. */
static int check(const char *history, buf_t *report) {
    lincheck_t *lc = lincheck_create();
    char err[256];
    int rc = lincheck_parse(lc, history, strlen(history), err, sizeof err);
    if (rc != 0) {
        fail_msg("parse: %s", err);
    }
    buf_init(report);
    int verdict = lincheck_run(lc, report);
    buf_append(report, "", 1);
    lincheck_destroy(lc);
    return verdict;
}

static void assert_linearizable(const char *history) {
    buf_t report;
    int verdict = check(history, &report);
    if (verdict != LINCHECK_LINEARIZABLE) {
        fail_msg("expected linearizable:\n%s", report.data);
    }
    buf_free(&report);
}

static void assert_not_linearizable(const char *history, const char *mentions) {
    buf_t report;
    int verdict = check(history, &report);
    if (verdict != LINCHECK_VIOLATION) {
        fail_msg("expected a violation, got verdict %d:\n%s", verdict, report.data);
    }
    assert_non_null(strstr(report.data, "not linearizable"));
    assert_non_null(strstr(report.data, mentions));
    buf_free(&report);
}

static void test_sequential_history_is_linearizable(void **state) {
    (void)state;
    assert_linearizable("# a comment, then a blank line\n"
                        "\n"
                        "p1 read x - - 0 1 ok nil\n"
                        "p1 write x 1 - 2 3 ok -\n"
                        "p1 read x - - 4 5 ok 1\n"
                        "p1 cas x 1 2 6 7 ok true\n"
                        "p1 cas x 1 3 8 9 ok false\n"
                        "p1 read x - - 10 11 ok 2\n");
}

static void test_concurrent_write_may_be_seen_or_not(void **state) {
    (void)state;
    /* The read overlaps the write: either value is fine. */
    assert_linearizable("p1 write x 1 - 0 10 ok -\n"
                        "p2 read x - - 5 6 ok nil\n"
                        "p3 read x - - 5 7 ok 1\n");
}

static void test_reads_may_order_concurrent_writes_either_way_but_consistently(void **state) {
    (void)state;
    assert_linearizable("p1 write x 1 - 0 10 ok -\n"
                        "p2 write x 2 - 0 10 ok -\n"
                        "p3 read x - - 11 12 ok 1\n"
                        "p3 read x - - 13 14 ok 1\n");
    assert_not_linearizable("p1 write x 1 - 0 10 ok -\n"
                            "p2 write x 2 - 0 10 ok -\n"
                            "p3 read x - - 11 12 ok 2\n"
                            "p4 read x - - 13 14 ok 1\n",
                            "p4 read x - - 13 14 ok 1");
}

static void test_stale_read_after_a_completed_write_is_rejected(void **state) {
    (void)state;
    assert_not_linearizable("p1 write x 1 - 0 1 ok -\n"
                            "p2 read x - - 2 3 ok nil\n",
                            "key x");
}

static void test_read_of_a_value_never_written_is_rejected(void **state) {
    (void)state;
    assert_not_linearizable("p1 write x 1 - 0 1 ok -\n"
                            "p2 read x - - 2 3 ok 7\n",
                            "ok 7");
}

static void test_two_cas_from_the_same_value_cannot_both_succeed(void **state) {
    (void)state;
    assert_not_linearizable("p1 write x 0 - 0 1 ok -\n"
                            "p2 cas x 0 1 2 10 ok true\n"
                            "p3 cas x 0 2 2 10 ok true\n",
                            "cas");
    assert_linearizable("p1 write x 0 - 0 1 ok -\n"
                        "p2 cas x 0 1 2 10 ok true\n"
                        "p3 cas x 0 2 2 10 ok false\n"
                        "p1 read x - - 11 12 ok 1\n");
}

static void test_failed_cas_must_have_seen_another_value(void **state) {
    (void)state;
    assert_not_linearizable("p1 write x 5 - 0 1 ok -\n"
                            "p2 cas x 5 6 2 3 ok false\n",
                            "cas x 5 6");
}

static void test_unknown_write_may_take_effect_later(void **state) {
    (void)state;
    /* Its client gave up at 2; it still took effect before the read at 50. */
    assert_linearizable("p1 write x 1 - 0 - unknown -\n"
                        "p2 read x - - 10 11 ok nil\n"
                        "p2 read x - - 50 51 ok 1\n");
}

static void test_unknown_write_may_never_take_effect(void **state) {
    (void)state;
    assert_linearizable("p1 write x 1 - 0 - unknown -\n"
                        "p2 read x - - 10 11 ok nil\n"
                        "p2 read x - - 50 51 ok nil\n");
}

static void test_unknown_write_takes_effect_at_most_once(void **state) {
    (void)state;
    assert_not_linearizable("p1 write x 1 - 0 - unknown -\n"
                            "p2 write x 2 - 5 6 ok -\n"
                            "p2 read x - - 10 11 ok 1\n"
                            "p2 read x - - 20 21 ok 2\n"
                            "p2 read x - - 30 31 ok 1\n",
                            "key x");
}

static void test_unknown_write_cannot_take_effect_before_its_invocation(void **state) {
    (void)state;
    assert_not_linearizable("p2 read x - - 0 1 ok 1\n"
                            "p1 write x 1 - 5 - unknown -\n",
                            "read x");
}

static void test_failed_operations_are_ignored(void **state) {
    (void)state;
    assert_linearizable("p1 write x 1 - 0 1 fail -\n"
                        "p2 read x - - 2 3 ok nil\n");
}

static void test_keys_are_independent(void **state) {
    (void)state;
    assert_linearizable("p1 write x 1 - 0 1 ok -\n"
                        "p2 write y 1 - 0 1 ok -\n"
                        "p1 read y - - 2 3 ok 1\n"
                        "p2 read x - - 2 3 ok 1\n");
    assert_not_linearizable("p1 write x 1 - 0 1 ok -\n"
                            "p2 write y 1 - 0 1 ok -\n"
                            "p1 read y - - 2 3 ok 1\n"
                            "p2 read x - - 2 3 ok nil\n",
                            "key x");
}

static void test_touching_intervals_count_as_concurrent(void **state) {
    (void)state;
    assert_linearizable("p1 write x 1 - 0 5 ok -\n"
                        "p2 read x - - 5 6 ok nil\n");
}

/* Many concurrent writers of distinct values and readers: a large history the search must
 * still decide quickly thanks to the memo of (linearized set, value). */
static void test_large_concurrent_history_is_decided(void **state) {
    (void)state;
    buf_t h;
    buf_init(&h);
    for (int round = 0; round < 200; round++) {
        int t = round * 10;
        for (int p = 0; p < 4; p++) {
            buf_printf(&h, "w%d write k %d - %d %d ok -\n", p, round * 4 + p + 1, t, t + 8);
        }
        buf_printf(&h, "r read k - - %d %d ok %d\n", t + 9, t + 9, round * 4 + 3);
    }
    buf_append(&h, "", 1);
    assert_linearizable(h.data);
    buf_free(&h);
}

static void test_parse_errors_name_the_line(void **state) {
    (void)state;
    const char *bad[] = {
        "p1 write x 1 - 0 1 ok -\np1 jump x 1 - 0 1 ok -\n",
        "p1 write x 1 - 0 1 ok -\np1 write x 1 - 0 1 maybe -\n",
        "p1 write x 1 - 0 1 ok -\np1 write x 1 - 5 1 ok -\n",
        "p1 write x 1 - 0 1 ok -\np1 read x - - 0 1 ok\n",
        "p1 write x 1 - 0 1 ok -\np1 cas x 1 - 0 1 ok true\n",
        "p1 write x 1 - 0 1 ok -\np1 cas x 1 2 0 1 ok yes\n",
        "p1 write x 1 - 0 1 ok -\np1 read x - - 0 soon ok nil\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lincheck_t *lc = lincheck_create();
        char err[256];
        assert_int_equal(lincheck_parse(lc, bad[i], strlen(bad[i]), err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "line 2"));
        lincheck_destroy(lc);
    }
}

static void test_written_history_parses_back_to_the_same_verdict(void **state) {
    (void)state;
    const char *text = "p1 write x 1 - 0 1 ok -\n"
                       "p2 cas x 1 2 2 - unknown -\n"
                       "p3 read x - - 5 6 ok 2\n";
    lincheck_t *lc = lincheck_create();
    char err[256];
    assert_int_equal(lincheck_parse(lc, text, strlen(text), err, sizeof err), 0);
    buf_t out;
    buf_init(&out);
    lincheck_write(lc, &out);
    lincheck_t *again = lincheck_create();
    assert_int_equal(lincheck_parse(again, out.data, out.len, err, sizeof err), 0);
    assert_int_equal(lincheck_count(again), 3);
    assert_int_equal(lincheck_run(again, NULL), LINCHECK_LINEARIZABLE);
    lincheck_destroy(again);
    lincheck_destroy(lc);
    buf_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequential_history_is_linearizable),
        cmocka_unit_test(test_concurrent_write_may_be_seen_or_not),
        cmocka_unit_test(test_reads_may_order_concurrent_writes_either_way_but_consistently),
        cmocka_unit_test(test_stale_read_after_a_completed_write_is_rejected),
        cmocka_unit_test(test_read_of_a_value_never_written_is_rejected),
        cmocka_unit_test(test_two_cas_from_the_same_value_cannot_both_succeed),
        cmocka_unit_test(test_failed_cas_must_have_seen_another_value),
        cmocka_unit_test(test_unknown_write_may_take_effect_later),
        cmocka_unit_test(test_unknown_write_may_never_take_effect),
        cmocka_unit_test(test_unknown_write_takes_effect_at_most_once),
        cmocka_unit_test(test_unknown_write_cannot_take_effect_before_its_invocation),
        cmocka_unit_test(test_failed_operations_are_ignored),
        cmocka_unit_test(test_keys_are_independent),
        cmocka_unit_test(test_touching_intervals_count_as_concurrent),
        cmocka_unit_test(test_large_concurrent_history_is_decided),
        cmocka_unit_test(test_parse_errors_name_the_line),
        cmocka_unit_test(test_written_history_parses_back_to_the_same_verdict),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
