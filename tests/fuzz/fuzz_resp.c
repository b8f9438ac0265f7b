/* libFuzzer target for the RESP request parser (src/proto/resp.c).
 *
 * The input is a byte stream as a client might send it. It is parsed twice: whole, and fed in
 * chunks whose sizes come from the input itself, with the unparsed bytes moved to a fresh
 * buffer between chunks. Both runs must yield the same commands and the same error, every
 * argument must lie inside the bytes its command consumed, and nothing may read out of bounds
 * (ASan) or overflow (UBSan). */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "proto/resp.h"

#define FUZZ_BULK_MAX 300

/* Renders every command as its argc, then each argument's length and bytes. */
static void run(const uint8_t *data, size_t size, size_t chunk, buf_t *out) {
    resp_parser_t p;
    resp_parser_init(&p, FUZZ_BULK_MAX);
    buf_t q;
    buf_init(&q);
    size_t fed = 0, start = 0;
    int failed = 0;
    while (fed < size && !failed) {
        size_t n = size - fed < chunk ? size - fed : chunk;
        buf_t moved;
        buf_init(&moved);
        if (q.len > start) {
            buf_append(&moved, q.data + start, q.len - start);
        }
        buf_free(&q);
        q = moved;
        start = 0;
        buf_append(&q, data + fed, n);
        fed += n;
        for (;;) {
            size_t used = 0;
            int rc = resp_parse(&p, q.data + start, q.len - start, &used);
            if (rc == RESP_INCOMPLETE) {
                break;
            }
            if (rc == RESP_ERROR) {
                buf_printf(out, "E%s", p.error);
                failed = 1;
                break;
            }
            assert(used > 0 && used <= q.len - start);
            buf_printf(out, "C%d", p.argc);
            for (int i = 0; i < p.argc; i++) {
                const char *lo = q.data + start, *hi = lo + used;
                assert(p.argv[i].ptr >= lo && p.argv[i].ptr + p.argv[i].len <= hi);
                buf_printf(out, ":%zu:", p.argv[i].len);
                buf_append(out, p.argv[i].ptr, p.argv[i].len);
            }
            start += used;
        }
    }
    buf_free(&q);
    resp_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > RESP_INLINE_MAX) {
        return 0;
    }
    size_t chunk = (size_t)(data[0] % 17) + 1;
    buf_t whole, split;
    buf_init(&whole);
    buf_init(&split);
    run(data + 1, size - 1, size, &whole);
    run(data + 1, size - 1, chunk, &split);
    /* Line-length limits depend on how much is buffered when a line is still open, so the two
     * runs agree only below RESP_INLINE_MAX; make fuzz runs with -max_len=4096. */
    if (whole.len != split.len || (whole.len && memcmp(whole.data, split.data, whole.len) != 0)) {
        abort();
    }
    buf_free(&whole);
    buf_free(&split);
    return 0;
}
