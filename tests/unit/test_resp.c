/* Tests of the RESP request parser (src/proto/resp.c): whole input, every split point, byte by
 * byte, buffers that move between calls, inline quoting, and every protocol error text. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "proto/resp.h"

/* Feeds input in chunks of the given sizes (the last chunk takes the rest) into a query buffer
 * that is moved to a fresh allocation after every chunk, parses everything, and renders the
 * commands as "arg|arg\n" lines (empty commands as "-\n"); a protocol error ends the render with
 * "ERROR <text>". */
static void render(const char *input, size_t len, const size_t *chunks, size_t nchunks,
                   long long bulk_max, buf_t *out) {
    resp_parser_t p;
    resp_parser_init(&p, bulk_max);
    buf_t q;
    buf_init(&q);
    size_t fed = 0, start = 0;
    for (size_t c = 0; fed < len; c++) {
        size_t n = c < nchunks ? chunks[c] : len - fed;
        if (n > len - fed) {
            n = len - fed;
        }
        /* Move the unparsed bytes to a new block, as a growing or compacting buffer would. */
        buf_t moved;
        buf_init(&moved);
        buf_append(&moved, q.data ? q.data + start : "", q.len - start);
        buf_free(&q);
        q = moved;
        start = 0;
        buf_append(&q, input + fed, n);
        fed += n;
        for (;;) {
            size_t used = 0;
            int rc = resp_parse(&p, q.data + start, q.len - start, &used);
            if (rc == RESP_INCOMPLETE) {
                assert_int_equal(used, 0);
                break;
            }
            if (rc == RESP_ERROR) {
                buf_printf(out, "ERROR %s", p.error);
                goto done;
            }
            assert_true(used > 0 && used <= q.len - start);
            if (p.argc == 0) {
                buf_append_str(out, "-");
            }
            for (int i = 0; i < p.argc; i++) {
                assert_true(p.argv[i].ptr >= q.data + start);
                assert_true(p.argv[i].ptr + p.argv[i].len <= q.data + start + used);
                buf_append(out, p.argv[i].ptr, p.argv[i].len);
                buf_append_str(out, i + 1 < p.argc ? "|" : "");
            }
            buf_append_str(out, "\n");
            start += used;
        }
    }
done:
    buf_free(&q);
    resp_parser_free(&p);
}

static char *render_whole(const char *input, size_t len, long long bulk_max) {
    buf_t out;
    buf_init(&out);
    render(input, len, NULL, 0, bulk_max, &out);
    buf_append(&out, "", 1);
    return out.data;
}

/* Checks that the input renders as expected whole, split at every point into two chunks,
 * split at every pair of points into three chunks, and fed one byte at a time. */
static void check_all_splits(const char *input, size_t len, const char *expected) {
    char *whole = render_whole(input, len, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(whole, expected);
    mem_free(whole);
    for (size_t a = 0; a <= len; a++) {
        for (size_t b = 0; a + b <= len; b += (len > 64 ? 7 : 1)) {
            size_t chunks[2] = {a, b};
            buf_t out;
            buf_init(&out);
            render(input, len, chunks, 2, RESP_BULK_MAX_DEFAULT, &out);
            buf_append(&out, "", 1);
            assert_string_equal(out.data, expected);
            buf_free(&out);
        }
    }
    size_t *ones = mem_alloc(len * sizeof *ones + 1);
    for (size_t i = 0; i < len; i++) {
        ones[i] = 1;
    }
    buf_t out;
    buf_init(&out);
    render(input, len, ones, len, RESP_BULK_MAX_DEFAULT, &out);
    buf_append(&out, "", 1);
    assert_string_equal(out.data, expected);
    buf_free(&out);
    mem_free(ones);
}

#define CHECK(input, expected) check_all_splits(input, sizeof(input) - 1, expected)

static void multibulk_commands_parse_at_every_split_point(void **state) {
    (void)state;
    CHECK("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", "SET|key|value\n");
    CHECK("*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
          "PING\nGET|k\nECHO|\n");
}

static void bulk_strings_are_binary_safe(void **state) {
    (void)state;
    CHECK("*2\r\n$4\r\nECHO\r\n$6\r\na\r\nb\r\n\r\n", "ECHO|a\r\nb\r\n\n");
    const char nul[] = "*1\r\n$3\r\na\0b\r\n";
    char *got = render_whole(nul, sizeof nul - 1, RESP_BULK_MAX_DEFAULT);
    assert_memory_equal(got, "a\0b\n", 5);
    mem_free(got);
}

static void empty_multibulk_is_an_empty_command(void **state) {
    (void)state;
    CHECK("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", "-\n-\nPING\n");
}

static void inline_commands_split_on_blanks(void **state) {
    (void)state;
    CHECK("PING\r\nset  k   v\nGET k\r\n", "PING\nset|k|v\nGET|k\n");
    CHECK("\r\n\n  \r\nPING\n", "-\n-\n-\nPING\n");
    CHECK("SET k \"a b\\r\\n\\x41\\\"\" 'it\\'s'\r\n", "SET|k|a b\r\nA\"|it's\n");
    CHECK("SET k\"a b\"c\n", "ERROR Protocol error: unbalanced quotes in request");
    CHECK("ECHO ab\"c d\"\n", "ECHO|abc d\n");
}

static void inline_and_multibulk_mix_in_one_stream(void **state) {
    (void)state;
    CHECK("PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO x\r\n", "PING\nECHO|hi\nECHO|x\n");
}

static void protocol_errors_use_redis_texts(void **state) {
    (void)state;
    CHECK("*abc\r\n", "ERROR Protocol error: invalid multibulk length");
    CHECK("*2147483648\r\n", "ERROR Protocol error: invalid multibulk length");
    CHECK("*01\r\n", "ERROR Protocol error: invalid multibulk length");
    CHECK("*+1\r\n", "ERROR Protocol error: invalid multibulk length");
    CHECK("*1\r\n+PING\r\n", "ERROR Protocol error: expected '$', got '+'");
    CHECK("*1\r\n$-1\r\n", "ERROR Protocol error: invalid bulk length");
    CHECK("*1\r\n$x\r\n", "ERROR Protocol error: invalid bulk length");
    CHECK("*1\r\n$4\r\nPING\r\n\"x\n", "PING\nERROR Protocol error: unbalanced quotes in request");
    CHECK("ECHO 'x\n", "ERROR Protocol error: unbalanced quotes in request");
}

static void bulk_length_over_the_limit_is_an_error(void **state) {
    (void)state;
    const char in[] = "*2\r\n$4\r\nECHO\r\n$11\r\n";
    char *got = render_whole(in, sizeof in - 1, 10);
    assert_string_equal(got, "ERROR Protocol error: invalid bulk length");
    mem_free(got);
    const char ok[] = "*1\r\n$10\r\n0123456789\r\n";
    got = render_whole(ok, sizeof ok - 1, 10);
    assert_string_equal(got, "0123456789\n");
    mem_free(got);
    const char over[] = "*1\r\n$536870913\r\n";
    got = render_whole(over, sizeof over - 1, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(got, "ERROR Protocol error: invalid bulk length");
    mem_free(got);
}

static void overlong_lines_without_end_are_errors(void **state) {
    (void)state;
    size_t n = RESP_INLINE_MAX + 10;
    char *big = mem_alloc(n + 16);
    memset(big, 'a', n);
    char *got = render_whole(big, n, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(got, "ERROR Protocol error: too big inline request");
    mem_free(got);
    big[0] = '*';
    got = render_whole(big, n, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(got, "ERROR Protocol error: too big mbulk count string");
    mem_free(got);
    memcpy(big, "*1\r\n$", 5);
    got = render_whole(big, n, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(got, "ERROR Protocol error: too big bulk count string");
    mem_free(got);
    /* Below the limit, an unterminated line just waits for more. */
    memset(big, 'a', 1000);
    got = render_whole(big, 1000, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(got, "");
    mem_free(got);
    mem_free(big);
}

static void huge_multibulk_count_reserves_little(void **state) {
    (void)state;
    resp_parser_t p;
    resp_parser_init(&p, RESP_BULK_MAX_DEFAULT);
    char in[] = "*2147483647\r\n$1\r\na\r\n$1\r\nb\r\n";
    size_t used = 99;
    assert_int_equal(resp_parse(&p, in, sizeof in - 1, &used), RESP_INCOMPLETE);
    assert_int_equal(used, 0);
    assert_int_equal(p.argc, 2);
    assert_true(p.argv_cap <= RESP_ARGV_PREALLOC_MAX);
    resp_parser_free(&p);
}

static void long_inline_command_is_accepted_below_the_limit(void **state) {
    (void)state;
    size_t words = 20000;
    buf_t in, want;
    buf_init(&in);
    buf_init(&want);
    buf_append_str(&in, "DEL");
    buf_append_str(&want, "DEL");
    for (size_t i = 0; i < words; i++) {
        buf_append_str(&in, " k");
        buf_append_str(&want, "|k");
    }
    buf_append_str(&in, "\r\n");
    buf_append(&want, "\n", 2);
    char *got = render_whole(in.data, in.len, RESP_BULK_MAX_DEFAULT);
    assert_string_equal(got, want.data);
    mem_free(got);
    buf_free(&in);
    buf_free(&want);
}

static void parse_ll_follows_string2ll(void **state) {
    (void)state;
    long long v;
    assert_true(resp_parse_ll("0", 1, &v) && v == 0);
    assert_true(resp_parse_ll("-1", 2, &v) && v == -1);
    assert_true(resp_parse_ll("9223372036854775807", 19, &v) && v == LLONG_MAX);
    assert_true(resp_parse_ll("-9223372036854775808", 20, &v) && v == LLONG_MIN);
    assert_false(resp_parse_ll("9223372036854775808", 19, &v));
    assert_false(resp_parse_ll("-9223372036854775809", 20, &v));
    assert_false(resp_parse_ll("", 0, &v));
    assert_false(resp_parse_ll("-", 1, &v));
    assert_false(resp_parse_ll("-0", 2, &v));
    assert_false(resp_parse_ll("007", 3, &v));
    assert_false(resp_parse_ll(" 7", 2, &v));
    assert_false(resp_parse_ll("7 ", 2, &v));
    assert_false(resp_parse_ll("+7", 2, &v));
    assert_false(resp_parse_ll("99999999999999999999", 20, &v));
}

static void split_inline_reports_too_many_words(void **state) {
    (void)state;
    char line[] = "a b c";
    slice_t argv[2];
    int argc = 0;
    assert_int_equal(resp_split_inline(line, 5, argv, 2, &argc), -E2BIG);
    char line2[] = "  'a b'  \"c\" ";
    assert_int_equal(resp_split_inline(line2, sizeof line2 - 1, argv, 2, &argc), 0);
    assert_int_equal(argc, 2);
    assert_int_equal(argv[0].len, 3);
    assert_memory_equal(argv[0].ptr, "a b", 3);
    assert_memory_equal(argv[1].ptr, "c", 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(multibulk_commands_parse_at_every_split_point),
        cmocka_unit_test(bulk_strings_are_binary_safe),
        cmocka_unit_test(empty_multibulk_is_an_empty_command),
        cmocka_unit_test(inline_commands_split_on_blanks),
        cmocka_unit_test(inline_and_multibulk_mix_in_one_stream),
        cmocka_unit_test(protocol_errors_use_redis_texts),
        cmocka_unit_test(bulk_length_over_the_limit_is_an_error),
        cmocka_unit_test(overlong_lines_without_end_are_errors),
        cmocka_unit_test(huge_multibulk_count_reserves_little),
        cmocka_unit_test(long_inline_command_is_accepted_below_the_limit),
        cmocka_unit_test(parse_ll_follows_string2ll),
        cmocka_unit_test(split_inline_reports_too_many_words),
    };
    return cmocka_run_group_tests_name("resp", tests, NULL, NULL);
}
