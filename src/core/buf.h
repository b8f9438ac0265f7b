/* buf: a growable byte buffer, the unit every layer reads into and writes out of.
 *
 * A buf_t owns its bytes. Pointers into data stay valid until the next call that may grow it
 * (buf_reserve, buf_append*, buf_printf). Growth doubles, so appends are amortised O(1). */
#ifndef POLIS_CORE_BUF_H
#define POLIS_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf_t;

/* A byte string that does not own its bytes (an argv element, a key, a field). */
typedef struct slice {
    const char *ptr;
    size_t len;
} slice_t;

#define SLICE_LIT(s) ((slice_t){(s), sizeof(s) - 1})

void buf_init(buf_t *b);
void buf_free(buf_t *b);
/* Makes room for at least `extra` more bytes beyond len. Aborts on out of memory. */
void buf_reserve(buf_t *b, size_t extra);
void buf_append_slow(buf_t *b, const void *p, size_t n);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len), keeping the rest. */
void buf_consume(buf_t *b, size_t n);

static inline void buf_append(buf_t *b, const void *p, size_t n) {
    if (b->cap - b->len >= n) {
        if (n) {
            memcpy(b->data + b->len, p, n);
        }
        b->len += n;
        return;
    }
    buf_append_slow(b, p, n);
}

static inline void buf_append_str(buf_t *b, const char *s) { buf_append(b, s, strlen(s)); }

static inline void buf_clear(buf_t *b) { b->len = 0; }

static inline int slice_eq_nocase(slice_t s, const char *lit) {
    size_t n = strlen(lit);
    return s.len == n && strncasecmp(s.ptr, lit, n) == 0;
}

static inline int slice_eq(slice_t a, slice_t b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

#endif
