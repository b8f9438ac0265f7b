/* reply: RESP2/RESP3 encoder (see reply.h). The hot calls (ok, int, bulk, null) write with one
 * buf_reserve and no formatting library call. */
#include "proto/reply.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

size_t format_ll(char *dst, long long value) {
    char tmp[24];
    size_t n = 0;
    unsigned long long v = value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t len = 0;
    if (value < 0) {
        dst[len++] = '-';
    }
    while (n) {
        dst[len++] = tmp[--n];
    }
    dst[len] = '\0';
    return len;
}

size_t format_long_double(char *dst, size_t dst_size, long double value) {
    assert(dst_size >= 64);
    if (isnan(value) || isinf(value)) {
        return 0;
    }
    int n = snprintf(dst, dst_size, "%.17Lf", value);
    if (n < 0 || (size_t)n >= dst_size) {
        n = snprintf(dst, dst_size, "%.17Lg", value);
        return n < 0 ? 0 : (size_t)n;
    }
    if (strchr(dst, '.')) {
        while (n > 0 && dst[n - 1] == '0') {
            n--;
        }
        if (n > 0 && dst[n - 1] == '.') {
            n--;
        }
        dst[n] = '\0';
    }
    if (n == 2 && strcmp(dst, "-0") == 0) {
        dst[0] = '0';
        dst[1] = '\0';
        n = 1;
    }
    return (size_t)n;
}

/* Writes <prefix><decimal>\r\n. */
static void put_header(buf_t *out, char prefix, long long value) {
    buf_reserve(out, 32);
    char *p = out->data + out->len;
    *p++ = prefix;
    p += format_ll(p, value);
    *p++ = '\r';
    *p++ = '\n';
    out->len = (size_t)(p - out->data);
}

void reply_raw(reply_t *r, const void *p, size_t n) {
    if (r->out) {
        buf_append(r->out, p, n);
    }
}

void reply_ok(reply_t *r) { reply_raw(r, "+OK\r\n", 5); }

void reply_status(reply_t *r, const char *text) {
    if (!r->out) {
        return;
    }
    buf_append(r->out, "+", 1);
    buf_append_str(r->out, text);
    buf_append(r->out, "\r\n", 2);
}

void reply_error(reply_t *r, const char *text) {
    if (!r->out) {
        return;
    }
    size_t n = strlen(text);
    buf_reserve(r->out, n + 3);
    char *p = r->out->data + r->out->len;
    *p++ = '-';
    for (size_t i = 0; i < n; i++) {
        *p++ = (text[i] == '\r' || text[i] == '\n') ? ' ' : text[i];
    }
    *p++ = '\r';
    *p++ = '\n';
    r->out->len += n + 3;
}

void reply_errorf(reply_t *r, const char *fmt, ...) {
    if (!r->out) {
        return;
    }
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    reply_error(r, text);
}

void reply_error_arity(reply_t *r, const char *name, size_t name_len) {
    char lowered[128];
    size_t n = name_len < sizeof lowered - 1 ? name_len : sizeof lowered - 1;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        lowered[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    lowered[n] = '\0';
    reply_errorf(r, "ERR wrong number of arguments for '%s' command", lowered);
}

void reply_int(reply_t *r, long long value) {
    if (r->out) {
        put_header(r->out, ':', value);
    }
}

void reply_bulk(reply_t *r, const void *p, size_t n) {
    if (!r->out) {
        return;
    }
    put_header(r->out, '$', (long long)n);
    buf_reserve(r->out, n + 2);
    memcpy(r->out->data + r->out->len, p, n);
    r->out->len += n;
    r->out->data[r->out->len++] = '\r';
    r->out->data[r->out->len++] = '\n';
}

void reply_bulk_cstr(reply_t *r, const char *s) { reply_bulk(r, s, strlen(s)); }

void reply_bulk_ll(reply_t *r, long long value) {
    char tmp[24];
    size_t n = format_ll(tmp, value);
    reply_bulk(r, tmp, n);
}

void reply_bulk_long_double(reply_t *r, long double value) {
    char tmp[128];
    size_t n = format_long_double(tmp, sizeof tmp, value);
    reply_bulk(r, tmp, n);
}

void reply_null(reply_t *r) {
    if (r->resp == 3) {
        reply_raw(r, "_\r\n", 3);
    } else {
        reply_raw(r, "$-1\r\n", 5);
    }
}

void reply_null_array(reply_t *r) {
    if (r->resp == 3) {
        reply_raw(r, "_\r\n", 3);
    } else {
        reply_raw(r, "*-1\r\n", 5);
    }
}

void reply_array(reply_t *r, size_t count) {
    if (r->out) {
        put_header(r->out, '*', (long long)count);
    }
}

void reply_map(reply_t *r, size_t count) {
    if (!r->out) {
        return;
    }
    if (r->resp == 3) {
        put_header(r->out, '%', (long long)count);
    } else {
        put_header(r->out, '*', (long long)(count * 2));
    }
}

void reply_set(reply_t *r, size_t count) {
    if (r->out) {
        put_header(r->out, r->resp == 3 ? '~' : '*', (long long)count);
    }
}

void reply_double(reply_t *r, double value) {
    if (!r->out) {
        return;
    }
    char tmp[64];
    int n;
    if (isinf(value)) {
        n = snprintf(tmp, sizeof tmp, "%s", value > 0 ? "inf" : "-inf");
    } else {
        n = snprintf(tmp, sizeof tmp, "%.17g", value);
    }
    if (r->resp == 3) {
        buf_append(r->out, ",", 1);
        buf_append(r->out, tmp, (size_t)n);
        buf_append(r->out, "\r\n", 2);
    } else {
        reply_bulk(r, tmp, (size_t)n);
    }
}

void reply_bool(reply_t *r, int value) {
    if (r->resp == 3) {
        reply_raw(r, value ? "#t\r\n" : "#f\r\n", 4);
    } else {
        reply_int(r, value ? 1 : 0);
    }
}

void reply_verbatim(reply_t *r, const char *p, size_t n, const char *format) {
    if (!r->out) {
        return;
    }
    if (r->resp != 3) {
        reply_bulk(r, p, n);
        return;
    }
    assert(strlen(format) == 3);
    put_header(r->out, '=', (long long)(n + 4));
    buf_append(r->out, format, 3);
    buf_append(r->out, ":", 1);
    buf_append(r->out, p, n);
    buf_append(r->out, "\r\n", 2);
}
