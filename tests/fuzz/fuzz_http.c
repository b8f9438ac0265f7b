/* Fuzz target for the HTTP/1.1 parser (src/proto/http.c): request and response heads on
 * arbitrary bytes, fed whole and in two pieces (the incremental path must agree with the
 * one-shot path), and the chunked scanner on the same bytes in two pieces. Every slice of a
 * parsed head must lie inside the input. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/http.h"

static void check_inside(const http_head_t *h, const uint8_t *data, size_t size) {
    const char *lo = (const char *)data, *hi = lo + size;
    assert(h->head_len <= size);
    for (size_t i = 0; i < h->header_count; i++) {
        const http_header_t *hd = &h->headers[i];
        assert(hd->name.ptr >= lo && hd->name.ptr + hd->name.len <= hi);
        assert(hd->value.ptr >= lo && hd->value.ptr + hd->value.len <= hi);
    }
}

static void parse_both_ways(const uint8_t *data, size_t size, size_t cut, int request) {
    http_header_t a_headers[32], b_headers[32];
    http_head_t a, b;
    http_head_init(&a, a_headers, 32);
    http_head_init(&b, b_headers, 32);
    const char *p = (const char *)data;
    int (*parse)(const char *, size_t, size_t, http_head_t *) =
        request ? http_request_parse : http_response_parse;
    int whole = parse(p, size, 2048, &a);
    int first = parse(p, cut, 2048, &b);
    int second = first == -EAGAIN ? parse(p, size, 2048, &b) : first;
    if (whole == 0) {
        check_inside(&a, data, size);
        http_response_body(&a, 0);
        http_keep_alive(&a);
    }
    if (first == -EAGAIN) {
        assert(second == whole); /* resuming gives the same verdict as one pass */
        if (whole == 0) {
            assert(a.head_len == b.head_len);
            assert(a.header_count == b.header_count);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t cut = size ? data[0] % (size + 1) : 0;
    parse_both_ways(data, size, cut, 1);
    parse_both_ways(data, size, cut, 0);
    http_chunked_t c;
    http_chunked_init(&c);
    size_t used = 0, used2 = 0;
    int rc = http_chunked_scan(&c, (const char *)data, cut, &used);
    assert(used <= cut);
    if (rc == 0) {
        assert(used == cut);
        rc = http_chunked_scan(&c, (const char *)data + cut, size - cut, &used2);
        assert(used2 <= size - cut);
    }
    assert(rc == 0 || rc == 1 || rc == -EBADMSG);
    return 0;
}
