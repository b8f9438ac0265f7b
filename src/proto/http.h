/* http: an incremental, allocation-free HTTP/1.1 message parser (RFC 9112) and small helpers.
 *
 * The parser works in place: a parsed head is a set of slices into the caller's bytes, valid
 * until those bytes are moved or overwritten. It never allocates; the caller hands it an array
 * for the headers, whose length is the header-count limit. It is independent of any server: the
 * load balancer (src/lb/) and the data node's admin port both use it.
 *
 * Incremental use: keep one http_head_t per connection, call http_head_reset() before each new
 * message, then call http_request_parse() (or http_response_parse()) every time more bytes
 * arrive. Until the empty line that ends the head is present the call only scans the new bytes
 * (the head remembers how far it looked), so a head that trickles in byte by byte costs linear
 * time. Bodies are framed, not parsed: a Content-Length count, or the chunked scanner below,
 * which tells how many of the bytes at hand belong to the body so they can be forwarded as they
 * are.
 *
 * Strictness is on purpose (a proxy that is lenient where its backend is strict invites request
 * smuggling): obsolete line folding, whitespace before a colon, control characters, conflicting
 * Content-Length values, and Content-Length together with Transfer-Encoding in a request are all
 * malformed. Bare LF line ends are accepted, as RFC 9112 allows a recipient to. */
#ifndef POLIS_PROTO_HTTP_H
#define POLIS_PROTO_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Default limits; every user may pass its own. */
#define HTTP_HEAD_SIZE_MAX 16384
#define HTTP_HEADERS_MAX 100
/* Longest method token accepted. */
#define HTTP_METHOD_LEN_MAX 32
/* Longest chunk-size line (size, extensions) and trailer section accepted. */
#define HTTP_CHUNK_LINE_MAX 4096
#define HTTP_TRAILERS_MAX 16384

/* Header names the parser recognises, so users can act on them without comparing strings. */
typedef enum http_header_id {
    HTTP_H_OTHER = 0,
    HTTP_H_HOST,
    HTTP_H_CONTENT_LENGTH,
    HTTP_H_TRANSFER_ENCODING,
    HTTP_H_CONNECTION,
    HTTP_H_KEEP_ALIVE,
    HTTP_H_PROXY_CONNECTION,
    HTTP_H_UPGRADE,
    HTTP_H_EXPECT,
    HTTP_H_TE,
    HTTP_H_X_FORWARDED_FOR,
    HTTP_H_X_FORWARDED_PROTO,
} http_header_id_t;

typedef struct http_header {
    slice_t name;
    slice_t value; /* without surrounding whitespace */
    http_header_id_t id;
} http_header_t;

/* How the body of a message is delimited. */
typedef enum http_body {
    HTTP_BODY_NONE = 0,    /* no body */
    HTTP_BODY_LENGTH,      /* content_length bytes */
    HTTP_BODY_CHUNKED,     /* chunked transfer coding: use http_chunked_scan */
    HTTP_BODY_UNTIL_CLOSE, /* responses only: the body ends when the connection closes */
} http_body_t;

/* Facts the parser derives from the headers (http_head_t.flags). */
#define HTTP_F_CONN_CLOSE 0x01u      /* Connection: close */
#define HTTP_F_CONN_KEEP_ALIVE 0x02u /* Connection: keep-alive */
#define HTTP_F_CONN_UPGRADE 0x04u    /* Connection: upgrade */
#define HTTP_F_UPGRADE 0x08u         /* an Upgrade header is present */
#define HTTP_F_EXPECT_CONTINUE 0x10u /* Expect: 100-continue */
#define HTTP_F_HOST 0x20u            /* a Host header is present */

typedef struct http_head {
    /* Request line (requests only). */
    slice_t method;
    slice_t target;
    /* Status line (responses only). */
    int status;
    slice_t reason;
    int version_minor; /* HTTP/1.x: 0 or 1 */
    /* Header fields, in order. */
    http_header_t *headers;
    size_t header_count;
    size_t header_max;
    /* Derived framing. */
    http_body_t body;
    uint64_t content_length; /* when body == HTTP_BODY_LENGTH */
    unsigned flags;
    size_t head_len; /* bytes of the head, including the empty line */
    size_t scanned;  /* incremental state: bytes already searched for the end of the head */
} http_head_t;

/* Prepares h for a message; headers[header_max] receives the fields (header_max >= 1). */
void http_head_init(http_head_t *h, http_header_t *headers, size_t header_max);
/* Forgets the previous message (keeps the header array). Call before parsing the next one. */
void http_head_reset(http_head_t *h);

/* Parses a request head at the start of p[0..len).
 * Returns 0 when a complete head was parsed (h->head_len bytes; the body, if any, follows),
 * -EAGAIN when more bytes are needed, -EMSGSIZE when no head ends within head_max bytes,
 * -E2BIG when there are more than h->header_max fields, -EBADMSG when the head is malformed,
 * -ENOTSUP for a Transfer-Encoding other than chunked, -EPROTONOSUPPORT for a version other
 * than HTTP/1.0 or 1.1. After an error h's contents are unspecified. */
int http_request_parse(const char *p, size_t len, size_t head_max, http_head_t *h);
/* Parses a response head; same contract. The body framing it sets ignores the request: use
 * http_response_body() to apply the rules that depend on it (HEAD, 1xx, 204, 304). */
int http_response_parse(const char *p, size_t len, size_t head_max, http_head_t *h);

/* The body framing of a response to a request whose method was HEAD (request_head != 0). */
http_body_t http_response_body(const http_head_t *response, int request_head);

/* Whether the connection may carry another message after this one (HTTP/1.1 unless
 * Connection: close; HTTP/1.0 only with Connection: keep-alive). */
int http_keep_alive(const http_head_t *h);

/* Returns the value of the first field named name (case-insensitive), or a NULL slice. */
slice_t http_header_get(const http_head_t *h, const char *name);
/* Whether a comma-separated field value lists token (case-insensitive), e.g. "keep-alive". */
int http_list_has(slice_t value, const char *token);

/* Incremental scanner of a chunked body (chunks, last chunk, trailer section). */
typedef struct http_chunked {
    uint64_t remaining; /* data bytes left in the current chunk */
    uint32_t line_len;  /* bytes of the current size line or trailer line */
    uint32_t trailer_len;
    uint8_t state;
    uint8_t digits;
} http_chunked_t;

void http_chunked_init(http_chunked_t *c);
/* Scans p[0..n) as the continuation of a chunked body. *used is set to how many of the n bytes
 * belong to the body. Returns 1 when the body ended within them, 0 when it continues after them
 * (*used == n), -EBADMSG when the framing is malformed or over a limit. */
int http_chunked_scan(http_chunked_t *c, const char *p, size_t n, size_t *used);

/* Standard reason phrase for a status code ("Unknown" for codes it does not know). */
const char *http_reason(int status);
/* Whether a method is idempotent per RFC 9110 (GET HEAD PUT DELETE OPTIONS TRACE). */
int http_method_idempotent(slice_t method);
/* The status code a proxy or server answers a parse error with (400, 431, 501, 505). */
int http_error_status(int parse_error);

/* Appends a complete response with a body to out: status line, Content-Type (if not NULL),
 * Content-Length, Connection: close when close != 0, the body. */
void http_reply(buf_t *out, int status, const char *content_type, const void *body, size_t len,
                int close);

#endif
