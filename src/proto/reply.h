/* reply: the RESP2/RESP3 reply encoder every command handler writes through.
 *
 * A reply_t names where bytes go (a client's output buffer) and which protocol the client
 * speaks (HELLO 2|3). With out == NULL every call is a no-op: that is how a write record is
 * applied during log replay or on a follower, where nobody waits for the answer.
 * Types that RESP2 lacks degrade as Redis does: map -> flat array, set -> array, double -> bulk
 * string, boolean -> integer, null -> $-1 (or *-1 for reply_null_array), verbatim -> bulk. */
#ifndef POLIS_PROTO_REPLY_H
#define POLIS_PROTO_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct reply {
    buf_t *out; /* NULL: discard */
    int resp;   /* 2 or 3 */
} reply_t;

/* Redis' error texts, byte for byte. Use them rather than spelling them again. */
#define ERR_WRONGTYPE "WRONGTYPE Operation against a key holding the wrong kind of value"
#define ERR_SYNTAX "ERR syntax error"
#define ERR_NOT_INTEGER "ERR value is not an integer or out of range"
#define ERR_NOT_FLOAT "ERR value is not a valid float"
#define ERR_OVERFLOW "ERR increment or decrement would overflow"
#define ERR_NO_SUCH_KEY "ERR no such key"
#define ERR_OOM "OOM command not allowed when used memory > 'maxmemory'."

void reply_ok(reply_t *r);
/* +<text>: text must not contain CR or LF. */
void reply_status(reply_t *r, const char *text);
/* -<text>: text is the whole message with its code, e.g. ERR_SYNTAX; CR/LF become spaces. */
void reply_error(reply_t *r, const char *text);
void reply_errorf(reply_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "ERR wrong number of arguments for '<name>' command" (name as the client typed it, lowered). */
void reply_error_arity(reply_t *r, const char *name, size_t name_len);
void reply_int(reply_t *r, long long value);
void reply_bulk(reply_t *r, const void *p, size_t n);
void reply_bulk_cstr(reply_t *r, const char *s);
void reply_bulk_ll(reply_t *r, long long value);
/* A long double as Redis formats INCRBYFLOAT and HINCRBYFLOAT results (%.17Lg, trimmed). */
void reply_bulk_long_double(reply_t *r, long double value);
void reply_null(reply_t *r);
void reply_null_array(reply_t *r);
void reply_array(reply_t *r, size_t count);
/* count is the number of key/value pairs. */
void reply_map(reply_t *r, size_t count);
void reply_set(reply_t *r, size_t count);
void reply_double(reply_t *r, double value);
void reply_bool(reply_t *r, int value);
/* RESP3 verbatim string with a 3-letter format ("txt"); bulk string in RESP2. */
void reply_verbatim(reply_t *r, const char *p, size_t n, const char *format);
/* Appends already-encoded RESP bytes as they are. */
void reply_raw(reply_t *r, const void *p, size_t n);

/* Writes a long long in decimal into dst (at least 21 bytes); returns the length. */
size_t format_ll(char *dst, long long value);
/* Formats a long double as Redis does for INCRBYFLOAT; dst at least 5120 bytes is not needed:
 * 64 suffices for finite values. Returns the length, or 0 for NaN/infinity. */
size_t format_long_double(char *dst, size_t dst_size, long double value);

#endif
