/* resp: incremental RESP request parser (see resp.h; error texts are Redis 7.0's). */
#include "proto/resp.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

#define ARGV_INITIAL 16

void resp_parser_init(resp_parser_t *p, long long bulk_max) {
    assert(p);
    assert(bulk_max >= 0);
    memset(p, 0, sizeof *p);
    p->bulk_max = bulk_max;
    resp_parser_reset(p);
}

void resp_parser_free(resp_parser_t *p) {
    mem_free(p->arg_offset);
    mem_free(p->argv);
    p->arg_offset = NULL;
    p->argv = NULL;
    p->argv_cap = 0;
    p->argc = 0;
}

void resp_parser_reset(resp_parser_t *p) {
    p->kind = 0;
    p->pos = 0;
    p->remaining = -1;
    p->bulk_len = -1;
    p->argc = 0;
    p->error[0] = '\0';
    if (p->argv_cap > RESP_ARGV_KEEP_MAX) {
        resp_parser_free(p); /* one huge command should not pin its argv forever */
    }
}

/* Makes room for at least `want` arguments (want <= INT_MAX). */
static void argv_reserve(resp_parser_t *p, long long want) {
    assert(want >= 0 && want <= INT_MAX);
    if (want <= p->argv_cap) {
        return;
    }
    long long cap = p->argv_cap ? p->argv_cap : ARGV_INITIAL;
    while (cap < want) {
        cap *= 2;
    }
    if (cap > INT_MAX) {
        cap = INT_MAX;
    }
    p->arg_offset = mem_realloc(p->arg_offset, (size_t)cap * sizeof *p->arg_offset);
    p->argv = mem_realloc(p->argv, (size_t)cap * sizeof *p->argv);
    p->argv_cap = (int)cap;
}

int resp_parse_ll(const char *s, size_t n, long long *out) {
    if (n == 0 || n > 20) {
        return 0;
    }
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = 0;
    int negative = s[0] == '-';
    if (negative) {
        i = 1;
        if (n == 1) {
            return 0;
        }
    }
    if (s[i] < '1' || s[i] > '9') {
        return 0;
    }
    unsigned long long v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (ULLONG_MAX - d) / 10) {
            return 0;
        }
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1) {
            return 0;
        }
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > (unsigned long long)LLONG_MAX) {
            return 0;
        }
        *out = (long long)v;
    }
    return 1;
}

static int fail(resp_parser_t *p, const char *text) {
    snprintf(p->error, sizeof p->error, "Protocol error: %s", text);
    return RESP_ERROR;
}

static int is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

static char escape_value(char c) {
    switch (c) {
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'b':
        return '\b';
    case 'a':
        return '\a';
    default:
        return c;
    }
}

/* Reads one word starting at line[*at] (not a blank) and writes it unquoted at line[*w...].
 * Advances *at past the word. Returns 0 or -EINVAL (unbalanced quotes). */
static int split_word(char *line, size_t len, size_t *at, size_t *w) {
    size_t i = *at, o = *w;
    char quote = 0;
    for (;;) {
        char c = i < len ? line[i] : '\0';
        if (quote == '"') {
            if (c == '\\' && i + 3 < len && line[i + 1] == 'x' && hex_value(line[i + 2]) >= 0 &&
                hex_value(line[i + 3]) >= 0) {
                line[o++] = (char)(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3]));
                i += 4;
            } else if (c == '\\' && i + 1 < len && line[i + 1] != '\0') {
                line[o++] = escape_value(line[i + 1]);
                i += 2;
            } else if (c == '"') {
                if (i + 1 < len && line[i + 1] != '\0' && !is_blank(line[i + 1])) {
                    return -EINVAL;
                }
                i++;
                break;
            } else if (c == '\0') {
                return -EINVAL;
            } else {
                line[o++] = c;
                i++;
            }
        } else if (quote == '\'') {
            if (c == '\\' && i + 1 < len && line[i + 1] == '\'') {
                line[o++] = '\'';
                i += 2;
            } else if (c == '\'') {
                if (i + 1 < len && line[i + 1] != '\0' && !is_blank(line[i + 1])) {
                    return -EINVAL;
                }
                i++;
                break;
            } else if (c == '\0') {
                return -EINVAL;
            } else {
                line[o++] = c;
                i++;
            }
        } else if (c == '\0' || c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            break;
        } else if (c == '"' || c == '\'') {
            quote = c;
            i++;
        } else {
            line[o++] = c;
            i++;
        }
    }
    *at = i;
    *w = o;
    return 0;
}

int resp_split_inline(char *line, size_t len, slice_t *argv, int argv_cap, int *argc) {
    assert(line || len == 0);
    assert(argc);
    size_t at = 0;
    int n = 0;
    for (;;) {
        while (at < len && line[at] != '\0' && is_blank(line[at])) {
            at++;
        }
        if (at >= len || line[at] == '\0') {
            break;
        }
        if (n == argv_cap) {
            return -E2BIG;
        }
        /* Unquoting never writes past the bytes already read, so the word lands where it
         * starts, and the next word's bytes are untouched. */
        size_t start = at, w = at;
        int rc = split_word(line, len, &at, &w);
        if (rc < 0) {
            return rc;
        }
        argv[n].ptr = line + start;
        argv[n].len = w - start;
        n++;
    }
    *argc = n;
    return 0;
}

static int parse_inline(resp_parser_t *p, char *buf, size_t len, size_t *used) {
    const char *nl = memchr(buf + p->pos, '\n', len - p->pos);
    if (!nl) {
        if (len > RESP_INLINE_MAX) {
            return fail(p, "too big inline request");
        }
        p->pos = len; /* nothing before len holds a line end: do not scan it again */
        return RESP_INCOMPLETE;
    }
    size_t line_len = (size_t)(nl - buf);
    size_t consumed = line_len + 1;
    if (line_len > 0 && buf[line_len - 1] == '\r') {
        line_len--;
    }
    /* A line of n bytes holds at most n/2 + 1 words. */
    argv_reserve(p, (long long)(line_len / 2 + 1));
    if (resp_split_inline(buf, line_len, p->argv, p->argv_cap, &p->argc) < 0) {
        return fail(p, "unbalanced quotes in request");
    }
    *used = consumed;
    return RESP_COMMAND;
}

/* Finds the CR ending the header line at buf[from..len) and checks its LF byte has arrived.
 * Returns the CR's offset, or 0 when the line is incomplete (a header is never at offset 0
 * of its own search because it starts with '*' or '$'). */
static size_t header_end(const char *buf, size_t from, size_t len) {
    const char *cr = memchr(buf + from, '\r', len - from);
    if (!cr || (size_t)(cr - buf) + 1 >= len) {
        return 0;
    }
    return (size_t)(cr - buf);
}

static int parse_count(resp_parser_t *p, char *buf, size_t len) {
    size_t cr = header_end(buf, 0, len);
    if (!cr) {
        if (len > RESP_INLINE_MAX) {
            return fail(p, "too big mbulk count string");
        }
        return RESP_INCOMPLETE;
    }
    long long count;
    if (!resp_parse_ll(buf + 1, cr - 1, &count) || count > INT_MAX) {
        return fail(p, "invalid multibulk length");
    }
    p->pos = cr + 2;
    p->remaining = count > 0 ? count : 0;
    argv_reserve(p,
                 count < RESP_ARGV_PREALLOC_MAX ? (count > 0 ? count : 0) : RESP_ARGV_PREALLOC_MAX);
    return RESP_COMMAND;
}

static int parse_bulk_header(resp_parser_t *p, char *buf, size_t len) {
    size_t cr = header_end(buf, p->pos, len);
    if (!cr) {
        if (len - p->pos > RESP_INLINE_MAX) {
            return fail(p, "too big bulk count string");
        }
        return RESP_INCOMPLETE;
    }
    if (buf[p->pos] != '$') {
        char text[48];
        snprintf(text, sizeof text, "expected '$', got '%c'", buf[p->pos]);
        return fail(p, text);
    }
    long long n;
    if (!resp_parse_ll(buf + p->pos + 1, cr - p->pos - 1, &n) || n < 0 || n > p->bulk_max) {
        return fail(p, "invalid bulk length");
    }
    p->bulk_len = n;
    p->pos = cr + 2;
    return RESP_COMMAND;
}

static int parse_multibulk(resp_parser_t *p, char *buf, size_t len, size_t *used) {
    if (p->remaining < 0) {
        int rc = parse_count(p, buf, len);
        if (rc != RESP_COMMAND) {
            return rc;
        }
    }
    while (p->remaining > 0) {
        if (p->bulk_len < 0) {
            if (p->pos >= len) {
                return RESP_INCOMPLETE;
            }
            int rc = parse_bulk_header(p, buf, len);
            if (rc != RESP_COMMAND) {
                return rc;
            }
        }
        if (len - p->pos < (size_t)p->bulk_len + 2) {
            return RESP_INCOMPLETE;
        }
        argv_reserve(p, (long long)p->argc + 1);
        p->arg_offset[p->argc] = p->pos;
        p->argv[p->argc].len = (size_t)p->bulk_len;
        p->argc++;
        p->pos += (size_t)p->bulk_len + 2;
        p->bulk_len = -1;
        p->remaining--;
    }
    for (int i = 0; i < p->argc; i++) {
        p->argv[i].ptr = buf + p->arg_offset[i];
    }
    *used = p->pos;
    return RESP_COMMAND;
}

int resp_parse(resp_parser_t *p, char *buf, size_t len, size_t *used) {
    assert(p);
    assert(used);
    *used = 0;
    if (p->kind == 0) {
        if (len == 0) {
            return RESP_INCOMPLETE;
        }
        resp_parser_reset(p);
        p->kind = buf[0] == '*' ? '*' : 'i';
    }
    assert(p->pos <= len);
    int rc = p->kind == '*' ? parse_multibulk(p, buf, len, used) : parse_inline(p, buf, len, used);
    if (rc == RESP_COMMAND) {
        /* The next call starts a new command; argv stays readable until then. */
        p->kind = 0;
        p->pos = 0;
        p->remaining = -1;
        p->bulk_len = -1;
    }
    return rc;
}

void resp_parser_hold(resp_parser_t *p, const char *buf) {
    assert(p->kind == 0);
    for (int i = 0; i < p->argc; i++) {
        assert(p->argv[i].ptr >= buf);
        p->arg_offset[i] = (size_t)(p->argv[i].ptr - buf);
    }
}

void resp_parser_restore(resp_parser_t *p, const char *buf) {
    assert(p->kind == 0);
    for (int i = 0; i < p->argc; i++) {
        p->argv[i].ptr = buf + p->arg_offset[i];
    }
}
