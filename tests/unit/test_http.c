/* Tests of the HTTP/1.1 parser (src/proto/http.c): request and response heads, incremental
 * parsing at every split point, limits (431), malformed and smuggling-prone heads (400), body
 * framing, the chunked scanner at every split point, and the helpers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "proto/http.h"

static http_header_t headers[HTTP_HEADERS_MAX];

static int parse_req(const char *text, http_head_t *h) {
    http_head_init(h, headers, HTTP_HEADERS_MAX);
    return http_request_parse(text, strlen(text), HTTP_HEAD_SIZE_MAX, h);
}

static int parse_resp(const char *text, http_head_t *h) {
    http_head_init(h, headers, HTTP_HEADERS_MAX);
    return http_response_parse(text, strlen(text), HTTP_HEAD_SIZE_MAX, h);
}

static int slice_is(slice_t s, const char *text) {
    return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

static void test_simple_get_request_is_parsed_in_place(void **state) {
    (void)state;
    const char *text = "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\n"
                       "User-Agent:  curl/8  \r\nAccept: */*\r\n\r\nNEXT";
    http_head_t h;
    assert_int_equal(parse_req(text, &h), 0);
    assert_true(slice_is(h.method, "GET"));
    assert_true(slice_is(h.target, "/index.html?q=1"));
    assert_int_equal(h.version_minor, 1);
    assert_int_equal(h.header_count, 3);
    assert_true(slice_is(h.headers[1].name, "User-Agent"));
    assert_true(slice_is(h.headers[1].value, "curl/8"));
    assert_int_equal(h.headers[0].id, HTTP_H_HOST);
    assert_int_equal(h.head_len, strlen(text) - 4);
    assert_int_equal(h.body, HTTP_BODY_NONE);
    assert_true(h.headers[0].name.ptr >= text && h.headers[0].name.ptr < text + strlen(text));
    assert_true(http_keep_alive(&h));
    assert_true(slice_is(http_header_get(&h, "accept"), "*/*"));
    assert_null(http_header_get(&h, "cookie").ptr);
}

static void test_every_split_point_needs_more_then_parses(void **state) {
    (void)state;
    const char *text = "POST /api HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                       "X-Thing: value\r\n\r\nhello";
    size_t head = strlen(text) - 5;
    for (size_t cut = 0; cut < head; cut++) {
        http_head_t h;
        http_head_init(&h, headers, HTTP_HEADERS_MAX);
        /* Feed the head in two pieces, as a socket may: the state carries over. */
        assert_int_equal(http_request_parse(text, cut, HTTP_HEAD_SIZE_MAX, &h), -EAGAIN);
        assert_int_equal(http_request_parse(text, head, HTTP_HEAD_SIZE_MAX, &h), 0);
        assert_int_equal(h.head_len, head);
        assert_int_equal(h.body, HTTP_BODY_LENGTH);
        assert_int_equal(h.content_length, 5);
    }
}

static void test_byte_by_byte_head_is_found(void **state) {
    (void)state;
    const char *text = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    http_head_t h;
    http_head_init(&h, headers, HTTP_HEADERS_MAX);
    size_t n = strlen(text);
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(http_request_parse(text, i, HTTP_HEAD_SIZE_MAX, &h), -EAGAIN);
    }
    assert_int_equal(http_request_parse(text, n, HTTP_HEAD_SIZE_MAX, &h), 0);
}

static void test_bare_lf_lines_and_leading_empty_lines_are_accepted(void **state) {
    (void)state;
    http_head_t h;
    assert_int_equal(parse_req("\r\n\nGET / HTTP/1.0\nHost: a\n\n", &h), 0);
    assert_true(slice_is(h.method, "GET"));
    assert_int_equal(h.version_minor, 0);
    assert_false(http_keep_alive(&h));
    assert_int_equal(h.head_len, strlen("\r\n\nGET / HTTP/1.0\nHost: a\n\n"));
}

static void test_connection_tokens_set_flags(void **state) {
    (void)state;
    http_head_t h;
    assert_int_equal(parse_req("GET /chat HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade"
                               "\r\nUpgrade: websocket\r\nExpect: 100-continue\r\n\r\n",
                               &h),
                     0);
    assert_true(h.flags & HTTP_F_CONN_UPGRADE);
    assert_true(h.flags & HTTP_F_CONN_KEEP_ALIVE);
    assert_true(h.flags & HTTP_F_UPGRADE);
    assert_true(h.flags & HTTP_F_EXPECT_CONTINUE);
    assert_int_equal(parse_req("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &h), 0);
    assert_false(http_keep_alive(&h));
    assert_int_equal(parse_req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h), 0);
    assert_true(http_keep_alive(&h));
}

static void test_chunked_request_framing(void **state) {
    (void)state;
    http_head_t h;
    assert_int_equal(
        parse_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &h), 0);
    assert_int_equal(h.body, HTTP_BODY_CHUNKED);
}

static void test_malformed_requests_are_rejected(void **state) {
    (void)state;
    static const char *const bad[] = {
        "GET  / HTTP/1.1\r\nHost: a\r\n\r\n",                       /* two spaces */
        "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",                        /* trailing space */
        "G@T / HTTP/1.1\r\nHost: a\r\n\r\n",                         /* bad method char */
        "GET / FTP/1.1\r\nHost: a\r\n\r\n",                          /* not HTTP */
        "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n",                     /* control in target */
        "GET / HTTP/1.1\r\nHost : a\r\n\r\n",                        /* space before colon */
        "GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",              /* obs-fold */
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",                      /* bare CR */
        "GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",              /* DEL in a value */
        "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",              /* no colon */
        "GET / HTTP/1.1\r\n\r\n",                                    /* 1.1 without Host */
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",              /* two Hosts */
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_head_t h;
        int rc = parse_req(bad[i], &h);
        if (rc != -EBADMSG) {
            fail_msg("case %zu parsed as %d: %s", i, rc, bad[i]);
        }
        assert_int_equal(http_error_status(rc), 400);
    }
}

static void test_unsupported_version_and_coding(void **state) {
    (void)state;
    http_head_t h;
    assert_int_equal(parse_req("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &h), -EPROTONOSUPPORT);
    assert_int_equal(http_error_status(-EPROTONOSUPPORT), 505);
    assert_int_equal(parse_req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", &h),
                     -ENOTSUP);
    assert_int_equal(http_error_status(-ENOTSUP), 501);
}

static void test_head_size_and_header_count_limits(void **state) {
    (void)state;
    buf_t b;
    buf_init(&b);
    buf_append_str(&b, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 0; i < 20; i++) {
        buf_printf(&b, "X-H%d: v\r\n", i);
    }
    buf_append_str(&b, "\r\n");
    http_header_t few[10];
    http_head_t h;
    http_head_init(&h, few, 10);
    int rc = http_request_parse(b.data, b.len, HTTP_HEAD_SIZE_MAX, &h);
    assert_int_equal(rc, -E2BIG);
    assert_int_equal(http_error_status(rc), 431);
    http_head_init(&h, headers, HTTP_HEADERS_MAX);
    /* A limit below the head size: more bytes than the limit without the end -> too large. */
    assert_int_equal(http_request_parse(b.data, b.len, 64, &h), -EMSGSIZE);
    assert_int_equal(http_error_status(-EMSGSIZE), 431);
    /* Fewer bytes than the limit, still incomplete: wait. */
    http_head_init(&h, headers, HTTP_HEADERS_MAX);
    assert_int_equal(http_request_parse(b.data, 40, 64, &h), -EAGAIN);
    buf_free(&b);
}

static void test_response_heads_and_body_rules(void **state) {
    (void)state;
    http_head_t h;
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", &h), 0);
    assert_int_equal(h.status, 200);
    assert_true(slice_is(h.reason, "OK"));
    assert_int_equal(http_response_body(&h, 0), HTTP_BODY_LENGTH);
    assert_int_equal(http_response_body(&h, 1), HTTP_BODY_NONE); /* answer to HEAD */
    assert_int_equal(parse_resp("HTTP/1.1 204 No Content\r\n\r\n", &h), 0);
    assert_int_equal(http_response_body(&h, 0), HTTP_BODY_NONE);
    assert_int_equal(parse_resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", &h), 0);
    assert_int_equal(http_response_body(&h, 0), HTTP_BODY_NONE);
    assert_int_equal(parse_resp("HTTP/1.1 100 Continue\r\n\r\n", &h), 0);
    assert_int_equal(http_response_body(&h, 0), HTTP_BODY_NONE);
    assert_int_equal(parse_resp("HTTP/1.0 200 OK\r\n\r\n", &h), 0);
    assert_int_equal(http_response_body(&h, 0), HTTP_BODY_UNTIL_CLOSE);
    assert_int_equal(parse_resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
                                "Content-Length: 4\r\n\r\n",
                                &h),
                     0);
    assert_int_equal(http_response_body(&h, 0), HTTP_BODY_CHUNKED);
    assert_int_equal(parse_resp("HTTP/1.1 200\r\n\r\n", &h), 0); /* empty reason */
    assert_int_equal(parse_resp("HTTP/1.1 2000 OK\r\n\r\n", &h), -EBADMSG);
    assert_int_equal(parse_resp("HTTP/1.1 099 X\r\n\r\n", &h), -EBADMSG);
}

/* Scans body fed as two pieces split at cut; returns total used and sets *rc. */
static size_t chunked_two_pieces(const char *body, size_t len, size_t cut, int *rc) {
    http_chunked_t c;
    http_chunked_init(&c);
    size_t used1 = 0, used2 = 0;
    *rc = http_chunked_scan(&c, body, cut, &used1);
    if (*rc != 0) {
        return used1;
    }
    assert_int_equal(used1, cut);
    *rc = http_chunked_scan(&c, body + cut, len - cut, &used2);
    return used1 + used2;
}

static void test_chunked_scanner_finds_the_end_at_every_split(void **state) {
    (void)state;
    const char *body = "5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n"
                       "Trailer: x\r\n\r\nGET /next";
    size_t msg = strlen(body) - strlen("GET /next");
    for (size_t cut = 0; cut <= msg; cut++) {
        int rc;
        size_t used = chunked_two_pieces(body, strlen(body), cut, &rc);
        assert_int_equal(rc, 1);
        assert_int_equal(used, msg);
    }
}

static void test_chunked_scanner_rejects_bad_framing(void **state) {
    (void)state;
    static const char *const bad[] = {
        "zz\r\n",                    /* not hex */
        "\r\n",                      /* no size */
        "5\r\nhelloX\r\n",           /* data not followed by CRLF */
        "1234567890abcdef0\r\n",     /* absurd size */
        "5;\x01\r\n",                /* control in an extension */
        "5\r\r\n",                   /* CR not followed by LF */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_chunked_t c;
        http_chunked_init(&c);
        size_t used;
        int rc = http_chunked_scan(&c, bad[i], strlen(bad[i]), &used);
        if (rc != -EBADMSG) {
            fail_msg("case %zu gave %d", i, rc);
        }
    }
}

static void test_chunked_scanner_streams_a_large_chunk(void **state) {
    (void)state;
    http_chunked_t c;
    http_chunked_init(&c);
    size_t used;
    assert_int_equal(http_chunked_scan(&c, "100000\r\n", 8, &used), 0);
    char data[4096];
    memset(data, 'x', sizeof data);
    for (int i = 0; i < 256; i++) { /* 0x100000 bytes in 4 KB pieces */
        assert_int_equal(http_chunked_scan(&c, data, sizeof data, &used), 0);
        assert_int_equal(used, sizeof data);
    }
    assert_int_equal(http_chunked_scan(&c, "\r\n0\r\n\r\n", 7, &used), 1);
    assert_int_equal(used, 7);
}

static void test_helpers(void **state) {
    (void)state;
    assert_true(http_method_idempotent(SLICE_LIT("GET")));
    assert_true(http_method_idempotent(SLICE_LIT("PUT")));
    assert_true(http_method_idempotent(SLICE_LIT("DELETE")));
    assert_false(http_method_idempotent(SLICE_LIT("POST")));
    assert_false(http_method_idempotent(SLICE_LIT("PATCH")));
    assert_true(http_list_has(SLICE_LIT(" a , Keep-Alive ,b"), "keep-alive"));
    assert_false(http_list_has(SLICE_LIT("keep-alivex"), "keep-alive"));
    assert_string_equal(http_reason(503), "Service Unavailable");
    buf_t b;
    buf_init(&b);
    http_reply(&b, 404, "text/plain", "nope\n", 5, 1);
    const char *want = "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
                       "Connection: close\r\n\r\nnope\n";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    /* The reply parses back. */
    http_head_t h;
    http_head_init(&h, headers, HTTP_HEADERS_MAX);
    assert_int_equal(http_response_parse(b.data, b.len, HTTP_HEAD_SIZE_MAX, &h), 0);
    assert_int_equal(h.status, 404);
    assert_int_equal(h.content_length, 5);
    assert_false(http_keep_alive(&h));
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get_request_is_parsed_in_place),
        cmocka_unit_test(test_every_split_point_needs_more_then_parses),
        cmocka_unit_test(test_byte_by_byte_head_is_found),
        cmocka_unit_test(test_bare_lf_lines_and_leading_empty_lines_are_accepted),
        cmocka_unit_test(test_connection_tokens_set_flags),
        cmocka_unit_test(test_chunked_request_framing),
        cmocka_unit_test(test_malformed_requests_are_rejected),
        cmocka_unit_test(test_unsupported_version_and_coding),
        cmocka_unit_test(test_head_size_and_header_count_limits),
        cmocka_unit_test(test_response_heads_and_body_rules),
        cmocka_unit_test(test_chunked_scanner_finds_the_end_at_every_split),
        cmocka_unit_test(test_chunked_scanner_rejects_bad_framing),
        cmocka_unit_test(test_chunked_scanner_streams_a_large_chunk),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
