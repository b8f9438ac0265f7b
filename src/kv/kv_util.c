/* kv_util: argument parsing and reply helpers shared by the keyspace command files, with
 * Redis' exact parsing rules (so the same inputs are accepted and refused). */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kv/db.h"

int parse_ll(slice_t s, long long *out) {
    const char *p = s.ptr;
    size_t n = s.len, i = 0;
    if (n == 0 || n > 20) {
        return -1;
    }
    if (n == 1 && p[0] == '0') {
        *out = 0;
        return 0;
    }
    int negative = p[0] == '-';
    if (negative && ++i == n) {
        return -1;
    }
    if (p[i] < '1' || p[i] > '9') {
        return -1; /* no leading zero, no '+', no space */
    }
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        if (v > (~0ULL - 9) / 10) {
            return -1;
        }
        v = v * 10 + (unsigned long long)(p[i] - '0');
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1) {
            return -1;
        }
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
        return 0;
    }
    if (v > (unsigned long long)LLONG_MAX) {
        return -1;
    }
    *out = (long long)v;
    return 0;
}

int parse_long_double(slice_t s, long double *out) {
    char text[LONG_DOUBLE_TEXT_MAX];
    if (s.len == 0 || s.len >= sizeof text) {
        return -1;
    }
    memcpy(text, s.ptr, s.len);
    text[s.len] = '\0';
    char *end;
    errno = 0;
    long double v = strtold(text, &end);
    if (text[0] == ' ' || (text[0] >= '\t' && text[0] <= '\r') || *end != '\0' ||
        (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || fpclassify(v) == FP_ZERO)) ||
        errno == EINVAL || isnan(v)) {
        return -1;
    }
    *out = v;
    return 0;
}

int arg_ll(exec_ctx_t *ctx, int index, long long *out) {
    assert(index < ctx->argc);
    if (parse_ll(ctx->argv[index], out) != 0) {
        reply_error(ctx->reply, ERR_NOT_INTEGER);
        return -1;
    }
    return 0;
}

const char *command_name_lower(exec_ctx_t *ctx, char *dst, size_t dst_size) {
    assert(dst_size > 1);
    slice_t name = ctx->argv[0];
    size_t n = name.len < dst_size - 1 ? name.len : dst_size - 1;
    for (size_t i = 0; i < n; i++) {
        char c = name.ptr[i];
        dst[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    dst[n] = '\0';
    return dst;
}

void reply_invalid_expire(exec_ctx_t *ctx) {
    char name[64];
    reply_errorf(ctx->reply, "ERR invalid expire time in '%s' command",
                 command_name_lower(ctx, name, sizeof name));
}

int arg_expire_time(exec_ctx_t *ctx, slice_t arg, enum expire_unit unit, int64_t *when_ms) {
    long long v;
    if (parse_ll(arg, &v) != 0) {
        reply_error(ctx->reply, ERR_NOT_INTEGER);
        return -1;
    }
    int seconds = unit == UNIT_EX || unit == UNIT_EXAT;
    if (v <= 0 || (seconds && v > LLONG_MAX / 1000)) {
        reply_invalid_expire(ctx);
        return -1;
    }
    if (seconds) {
        v *= 1000;
    }
    if (unit == UNIT_EX || unit == UNIT_PX) {
        if (v > LLONG_MAX - ctx->now_ms) {
            reply_invalid_expire(ctx);
            return -1;
        }
        v += ctx->now_ms;
    }
    *when_ms = v;
    return 0;
}

/* ---- deferred headers ---- */

size_t reply_defer(exec_ctx_t *ctx) { return ctx->reply->out ? ctx->reply->out->len : 0; }

static void insert_header(exec_ctx_t *ctx, size_t mark, char prefix, size_t count) {
    buf_t *out = ctx->reply->out;
    if (!out) {
        return;
    }
    assert(mark <= out->len);
    char header[32];
    header[0] = prefix;
    size_t n = 1 + format_ll(header + 1, (long long)count);
    header[n++] = '\r';
    header[n++] = '\n';
    buf_reserve(out, n);
    memmove(out->data + mark + n, out->data + mark, out->len - mark);
    memcpy(out->data + mark, header, n);
    out->len += n;
}

void reply_defer_array(exec_ctx_t *ctx, size_t mark, size_t count) {
    insert_header(ctx, mark, '*', count);
}

void reply_defer_map(exec_ctx_t *ctx, size_t mark, size_t pairs) {
    if (ctx->reply->resp == 3) {
        insert_header(ctx, mark, '%', pairs);
    } else {
        insert_header(ctx, mark, '*', pairs * 2);
    }
}
