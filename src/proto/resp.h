/* resp: the incremental RESP request parser (multibulk `*N\r\n$L\r\n...` and inline commands).
 *
 * The parser never copies an argument. It reads the bytes of the current command where they lie
 * (the client's query buffer) and, once the command is complete, hands out argv as slices into
 * that buffer. While a command is incomplete it remembers its progress as offsets from the
 * command's first byte, so the caller may move the unparsed bytes (compact or grow the buffer)
 * between calls, as long as it passes the command's first byte again.
 *
 * Limits and error texts are Redis' (see docs/ARCHITECTURE.md, "Data node"):
 *   - a header line (`*N`, `$L`) or an inline command longer than RESP_INLINE_MAX without its
 *     line end is an error;
 *   - a multibulk count above INT_MAX, a bulk length above bulk_max, a malformed number, or a
 *     bulk header not starting with '$' are errors;
 *   - `*0` / `*-1` and empty inline lines are empty commands (argc 0), which callers skip.
 * After RESP_ERROR the connection is unusable: the caller replies p->error and closes. */
#ifndef POLIS_PROTO_RESP_H
#define POLIS_PROTO_RESP_H

#include <stddef.h>

#include "core/buf.h"

#define RESP_INLINE_MAX (64 * 1024)                 /* Redis' PROTO_INLINE_MAX_SIZE */
#define RESP_BULK_MAX_DEFAULT (512LL * 1024 * 1024) /* proto-max-bulk-len */
#define RESP_ARGV_PREALLOC_MAX 1024                 /* argv slots reserved from a header */
#define RESP_ARGV_KEEP_MAX 4096                     /* larger argv arrays are given back */
#define RESP_ERROR_MAX 96

enum resp_result {
    RESP_INCOMPLETE = 0, /* more bytes needed; nothing to consume yet */
    RESP_COMMAND = 1,    /* a command is complete: p->argc, p->argv; consume *used bytes */
    RESP_ERROR = -1,     /* protocol error: reply p->error, then close */
};

typedef struct resp_parser {
    long long bulk_max; /* largest bulk length accepted */
    /* Progress through the current command, as offsets from its first byte. */
    int kind;            /* 0 before the first byte, '*' multibulk, 'i' inline */
    size_t pos;          /* parsed up to here */
    long long remaining; /* multibulk arguments still missing (-1: count not read yet) */
    long long bulk_len;  /* length of the bulk being read (-1: its header not read yet) */
    /* Arguments: offsets while the command is incomplete, slices once it is complete. */
    int argc;
    int argv_cap;
    size_t *arg_offset;
    slice_t *argv; /* valid after RESP_COMMAND until the next resp_parse or buffer change */
    char error[RESP_ERROR_MAX];
} resp_parser_t;

void resp_parser_init(resp_parser_t *p, long long bulk_max);
void resp_parser_free(resp_parser_t *p);
/* Forgets the current command's progress (the caller dropped its bytes). */
void resp_parser_reset(resp_parser_t *p);

/* Parses the command that starts at buf[0]; len bytes are available. buf must be writable:
 * inline arguments are unquoted in place. On RESP_COMMAND *used is the command's length
 * (argv points into buf[0..*used)); otherwise *used is 0. */
int resp_parse(resp_parser_t *p, char *buf, size_t len, size_t *used);

/* Keeps the command just returned (RESP_COMMAND) while its bytes may move: records where its
 * arguments lie relative to buf, its first byte. resp_parser_restore(p, newbuf) makes p->argv
 * point into the same bytes at their new place. No resp_parse call may come in between. */
void resp_parser_hold(resp_parser_t *p, const char *buf);
void resp_parser_restore(resp_parser_t *p, const char *buf);

/* Splits line[0..len) into arguments as Redis' inline protocol and config files do: blanks
 * separate words; "double quotes" take \n \r \t \b \a \\ \" and \xHH escapes; 'single quotes'
 * take \'; a closing quote must be followed by a blank or the end. Unquotes in place (the
 * result never grows). Writes up to argv_cap slices into argv and sets *argc.
 * Returns 0, -EINVAL on unbalanced quotes, -E2BIG when there are more than argv_cap words. */
int resp_split_inline(char *line, size_t len, slice_t *argv, int argv_cap, int *argc);

/* Redis' string2ll: an optional '-', then digits without leading zeros ("0" alone is fine),
 * no blanks, no '+', within long long. Returns 1 and sets *out, or 0. */
int resp_parse_ll(const char *s, size_t n, long long *out);

#endif
