/* Tests of the reply encoder (src/proto/reply.c): every reply type in RESP2 and RESP3, the
 * RESP2 degradations, number formatting, error sanitising, and the discard mode (out == NULL)
 * used when a record is applied with nobody waiting. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "proto/reply.h"

typedef struct fixture {
    buf_t out;
    reply_t r2, r3;
} fixture_t;

static fixture_t fx;

static void reset(void) {
    buf_clear(&fx.out);
    fx.r2 = (reply_t){&fx.out, 2};
    fx.r3 = (reply_t){&fx.out, 3};
}

#define EXPECT(literal)                                                                            \
    do {                                                                                           \
        assert_int_equal(fx.out.len, sizeof(literal) - 1);                                         \
        assert_memory_equal(fx.out.data, literal, sizeof(literal) - 1);                            \
        reset();                                                                                   \
    } while (0)

static int setup(void **state) {
    (void)state;
    buf_init(&fx.out);
    reset();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    buf_free(&fx.out);
    return 0;
}

static void simple_types(void **state) {
    (void)state;
    reply_ok(&fx.r2);
    EXPECT("+OK\r\n");
    reply_status(&fx.r2, "PONG");
    EXPECT("+PONG\r\n");
    reply_int(&fx.r2, 0);
    EXPECT(":0\r\n");
    reply_int(&fx.r2, LLONG_MIN);
    EXPECT(":-9223372036854775808\r\n");
    reply_int(&fx.r3, LLONG_MAX);
    EXPECT(":9223372036854775807\r\n");
    reply_bulk(&fx.r2, "a\r\nb\0c", 6);
    EXPECT("$6\r\na\r\nb\0c\r\n");
    reply_bulk(&fx.r2, "", 0);
    EXPECT("$0\r\n\r\n");
    reply_bulk_ll(&fx.r2, -42);
    EXPECT("$3\r\n-42\r\n");
    reply_bulk_cstr(&fx.r3, "hi");
    EXPECT("$2\r\nhi\r\n");
}

static void errors_are_sanitised_and_formatted(void **state) {
    (void)state;
    reply_error(&fx.r2, ERR_SYNTAX);
    EXPECT("-ERR syntax error\r\n");
    reply_error(&fx.r2, "ERR bad\r\nline");
    EXPECT("-ERR bad  line\r\n");
    reply_errorf(&fx.r2, "ERR unknown command '%s'", "x\ny");
    EXPECT("-ERR unknown command 'x y'\r\n");
    reply_error_arity(&fx.r2, "GeT", 3);
    EXPECT("-ERR wrong number of arguments for 'get' command\r\n");
    reply_error_arity(&fx.r2, "client|setname", 14);
    EXPECT("-ERR wrong number of arguments for 'client|setname' command\r\n");
}

static void nulls_and_aggregates_per_protocol(void **state) {
    (void)state;
    reply_null(&fx.r2);
    EXPECT("$-1\r\n");
    reply_null(&fx.r3);
    EXPECT("_\r\n");
    reply_null_array(&fx.r2);
    EXPECT("*-1\r\n");
    reply_null_array(&fx.r3);
    EXPECT("_\r\n");
    reply_array(&fx.r2, 3);
    EXPECT("*3\r\n");
    reply_map(&fx.r2, 2);
    EXPECT("*4\r\n");
    reply_map(&fx.r3, 2);
    EXPECT("%2\r\n");
    reply_set(&fx.r2, 5);
    EXPECT("*5\r\n");
    reply_set(&fx.r3, 5);
    EXPECT("~5\r\n");
    reply_bool(&fx.r2, 1);
    EXPECT(":1\r\n");
    reply_bool(&fx.r3, 0);
    EXPECT("#f\r\n");
    reply_verbatim(&fx.r2, "a\nb", 3, "txt");
    EXPECT("$3\r\na\nb\r\n");
    reply_verbatim(&fx.r3, "a\nb", 3, "txt");
    EXPECT("=7\r\ntxt:a\nb\r\n");
}

static void doubles_per_protocol(void **state) {
    (void)state;
    reply_double(&fx.r2, 1.5);
    EXPECT("$3\r\n1.5\r\n");
    reply_double(&fx.r3, 1.5);
    EXPECT(",1.5\r\n");
    reply_double(&fx.r3, -1.0 / 0.0);
    EXPECT(",-inf\r\n");
    reply_bulk_long_double(&fx.r2, 10.5L);
    EXPECT("$4\r\n10.5\r\n");
    reply_bulk_long_double(&fx.r2, 3.0L);
    EXPECT("$1\r\n3\r\n");
}

static void number_formatting(void **state) {
    (void)state;
    char tmp[64];
    assert_int_equal(format_ll(tmp, 0), 1);
    assert_string_equal(tmp, "0");
    assert_int_equal(format_ll(tmp, -9223372036854775807LL - 1), 20);
    assert_string_equal(tmp, "-9223372036854775808");
    assert_int_equal(format_long_double(tmp, sizeof tmp, 5.0e3L), 4);
    assert_string_equal(tmp, "5000");
    format_long_double(tmp, sizeof tmp, -0.0L);
    assert_string_equal(tmp, "0");
    format_long_double(tmp, sizeof tmp, 0.1L);
    assert_string_equal(tmp, "0.1");
    assert_int_equal(format_long_double(tmp, sizeof tmp, 1.0L / 0.0L), 0);
}

static void discard_mode_writes_nothing(void **state) {
    (void)state;
    reply_t none = {NULL, 2};
    reply_ok(&none);
    reply_error(&none, ERR_SYNTAX);
    reply_errorf(&none, "ERR %d", 1);
    reply_bulk(&none, "x", 1);
    reply_int(&none, 7);
    reply_array(&none, 2);
    reply_map(&none, 2);
    reply_null(&none);
    reply_double(&none, 1.0);
    reply_verbatim(&none, "x", 1, "txt");
    reply_raw(&none, "x", 1);
    assert_int_equal(fx.out.len, 0);
}

static void many_replies_grow_the_buffer(void **state) {
    (void)state;
    for (int i = 0; i < 10000; i++) {
        reply_int(&fx.r2, i);
    }
    assert_int_equal(fx.out.len, 10 * 4 + 90 * 5 + 900 * 6 + 9000 * 7); /* ":" digits CRLF */
    assert_memory_equal(fx.out.data + fx.out.len - 7, ":9999\r\n", 7);
    reset();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(simple_types),
        cmocka_unit_test(errors_are_sanitised_and_formatted),
        cmocka_unit_test(nulls_and_aggregates_per_protocol),
        cmocka_unit_test(doubles_per_protocol),
        cmocka_unit_test(number_formatting),
        cmocka_unit_test(discard_mode_writes_nothing),
        cmocka_unit_test(many_replies_grow_the_buffer),
    };
    return cmocka_run_group_tests_name("reply", tests, setup, teardown);
}
