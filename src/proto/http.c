/* http: HTTP/1.1 head parser, chunked-body scanner and helpers (see http.h for the contract).
 *
 * A head is parsed in two steps: a cheap scan for the empty line that ends it (resumable, so
 * partial heads are never re-scanned), then one pass over the complete head that validates every
 * line and records slices. Grammar: RFC 9112 sections 2-7; field values and tokens: RFC 9110. */
#include "proto/http.h"

#include <assert.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

/* tchar of RFC 9110 5.6.2: the characters of a method or a field name. */
static const uint8_t token_chars[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

void http_head_init(http_head_t *h, http_header_t *headers, size_t header_max) {
    assert(h);
    assert(headers && header_max >= 1);
    memset(h, 0, sizeof *h);
    h->headers = headers;
    h->header_max = header_max;
}

void http_head_reset(http_head_t *h) {
    http_header_t *headers = h->headers;
    size_t header_max = h->header_max;
    http_head_init(h, headers, header_max);
}

/* Bytes of empty lines (CRLF or LF) before a request line; RFC 9112 2.2 lets a server skip them. */
static size_t skip_empty_lines(const char *p, size_t len) {
    size_t i = 0;
    while (i < len) {
        if (p[i] == '\n') {
            i++;
        } else if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
            i += 2;
        } else {
            break;
        }
    }
    return i;
}

/* Finds the end of the head that starts at p[from]: returns its length from p, or 0 if it is not
 * complete yet. h->scanned remembers where to resume. */
static size_t find_head_end(const char *p, size_t len, size_t from, http_head_t *h) {
    size_t i = h->scanned > from ? h->scanned : from;
    while (i < len) {
        const char *nl = memchr(p + i, '\n', len - i);
        if (!nl) {
            i = len;
            break;
        }
        size_t at = (size_t)(nl - p);
        if (at + 1 >= len || (p[at + 1] == '\r' && at + 2 >= len)) {
            i = at; /* the empty line may still be arriving: look here again */
            break;
        }
        if (p[at + 1] == '\n') {
            return at + 2;
        }
        if (p[at + 1] == '\r' && p[at + 2] == '\n') {
            return at + 3;
        }
        i = at + 1;
    }
    h->scanned = i;
    return 0;
}

/* The end of the line starting at p[i] (index of its '\n'), and its content length without the
 * line end. Precondition: a '\n' exists before end. A CR anywhere else in the line is rejected
 * by the line parsers (it is a control character to them). */
static void line_bounds(const char *p, size_t i, size_t end, size_t *nl, size_t *content) {
    const char *q = memchr(p + i, '\n', end - i);
    assert(q);
    *nl = (size_t)(q - p);
    *content = *nl - i;
    if (*content > 0 && p[*nl - 1] == '\r') {
        (*content)--;
    }
}

static int parse_version(const char *p, size_t n, int *minor) {
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' ||
        p[7] < '0' || p[7] > '9') {
        return -EBADMSG;
    }
    if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
        return -EPROTONOSUPPORT; /* a well-formed version we do not speak */
    }
    *minor = p[7] - '0';
    return 0;
}

static int parse_request_line(const char *p, size_t n, http_head_t *h) {
    size_t i = 0;
    while (i < n && token_chars[(uint8_t)p[i]]) {
        i++;
    }
    if (i == 0 || i > HTTP_METHOD_LEN_MAX || i >= n || p[i] != ' ') {
        return -EBADMSG;
    }
    h->method = (slice_t){p, i};
    size_t t = ++i;
    while (i < n && (uint8_t)p[i] > 0x20 && p[i] != 0x7f) {
        i++;
    }
    if (i == t || i >= n || p[i] != ' ') {
        return -EBADMSG;
    }
    h->target = (slice_t){p + t, i - t};
    return parse_version(p + i + 1, n - i - 1, &h->version_minor);
}

static int parse_status_line(const char *p, size_t n, http_head_t *h) {
    if (n < 12 || p[8] != ' ') {
        return -EBADMSG;
    }
    int rc = parse_version(p, 8, &h->version_minor);
    if (rc < 0) {
        return rc;
    }
    int status = 0;
    for (size_t i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -EBADMSG;
        }
        status = status * 10 + (p[i] - '0');
    }
    if (status < 100 || (n > 12 && p[12] != ' ')) {
        return -EBADMSG;
    }
    for (size_t i = 13; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return -EBADMSG;
        }
    }
    h->status = status;
    h->reason = n > 13 ? (slice_t){p + 13, n - 13} : (slice_t){p + n, 0};
    return 0;
}

static http_header_id_t header_id(slice_t name) {
    switch (name.len) {
    case 2:
        return slice_eq_nocase(name, "te") ? HTTP_H_TE : HTTP_H_OTHER;
    case 4:
        return slice_eq_nocase(name, "host") ? HTTP_H_HOST : HTTP_H_OTHER;
    case 6:
        return slice_eq_nocase(name, "expect") ? HTTP_H_EXPECT : HTTP_H_OTHER;
    case 7:
        return slice_eq_nocase(name, "upgrade") ? HTTP_H_UPGRADE : HTTP_H_OTHER;
    case 10:
        if (slice_eq_nocase(name, "connection")) {
            return HTTP_H_CONNECTION;
        }
        return slice_eq_nocase(name, "keep-alive") ? HTTP_H_KEEP_ALIVE : HTTP_H_OTHER;
    case 14:
        return slice_eq_nocase(name, "content-length") ? HTTP_H_CONTENT_LENGTH : HTTP_H_OTHER;
    case 15:
        return slice_eq_nocase(name, "x-forwarded-for") ? HTTP_H_X_FORWARDED_FOR : HTTP_H_OTHER;
    case 16:
        return slice_eq_nocase(name, "proxy-connection") ? HTTP_H_PROXY_CONNECTION
                                                          : HTTP_H_OTHER;
    case 17:
        if (slice_eq_nocase(name, "transfer-encoding")) {
            return HTTP_H_TRANSFER_ENCODING;
        }
        return slice_eq_nocase(name, "x-forwarded-proto") ? HTTP_H_X_FORWARDED_PROTO
                                                           : HTTP_H_OTHER;
    default:
        return HTTP_H_OTHER;
    }
}

/* Parses one field line p[0..n) into hd. */
static int parse_field(const char *p, size_t n, http_header_t *hd) {
    size_t i = 0;
    while (i < n && token_chars[(uint8_t)p[i]]) {
        i++;
    }
    if (i == 0 || i >= n || p[i] != ':') {
        return -EBADMSG; /* also rejects whitespace before the colon, and obs-fold lines */
    }
    hd->name = (slice_t){p, i};
    i++;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    size_t end = n;
    while (end > i && (p[end - 1] == ' ' || p[end - 1] == '\t')) {
        end--;
    }
    for (size_t k = i; k < end; k++) {
        uint8_t c = (uint8_t)p[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f) {
            return -EBADMSG;
        }
    }
    hd->value = (slice_t){p + i, end - i};
    hd->id = header_id(hd->name);
    return 0;
}

static int parse_content_length(slice_t v, uint64_t *out) {
    if (v.len == 0 || v.len > 18) {
        return -EBADMSG;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9') {
            return -EBADMSG;
        }
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    *out = n;
    return 0;
}

/* The last coding listed in a Transfer-Encoding value is chunked. */
static int last_coding_chunked(slice_t v) {
    size_t end = v.len;
    while (end > 0 && (v.ptr[end - 1] == ' ' || v.ptr[end - 1] == '\t')) {
        end--;
    }
    size_t start = end;
    while (start > 0 && v.ptr[start - 1] != ',' && v.ptr[start - 1] != ' ' &&
           v.ptr[start - 1] != '\t') {
        start--;
    }
    return slice_eq_nocase((slice_t){v.ptr + start, end - start}, "chunked");
}

/* Applies one recognised field to the derived framing and flags. */
static int apply_field(const http_header_t *hd, int request, http_head_t *h, int *te, int *cl) {
    switch (hd->id) {
    case HTTP_H_CONTENT_LENGTH: {
        uint64_t n;
        if (parse_content_length(hd->value, &n) < 0 || (*cl && n != h->content_length)) {
            return -EBADMSG;
        }
        h->content_length = n;
        *cl = 1;
        return 0;
    }
    case HTTP_H_TRANSFER_ENCODING:
        if (request && (*te || !slice_eq_nocase(hd->value, "chunked"))) {
            return slice_eq_nocase(hd->value, "chunked") ? -EBADMSG : -ENOTSUP;
        }
        *te = last_coding_chunked(hd->value) ? 1 : 2;
        return 0;
    case HTTP_H_CONNECTION:
        h->flags |= http_list_has(hd->value, "close") ? HTTP_F_CONN_CLOSE : 0;
        h->flags |= http_list_has(hd->value, "keep-alive") ? HTTP_F_CONN_KEEP_ALIVE : 0;
        h->flags |= http_list_has(hd->value, "upgrade") ? HTTP_F_CONN_UPGRADE : 0;
        return 0;
    case HTTP_H_UPGRADE:
        h->flags |= HTTP_F_UPGRADE;
        return 0;
    case HTTP_H_EXPECT:
        h->flags |= slice_eq_nocase(hd->value, "100-continue") ? HTTP_F_EXPECT_CONTINUE : 0;
        return 0;
    case HTTP_H_HOST:
        if (request && (h->flags & HTTP_F_HOST)) {
            return -EBADMSG;
        }
        h->flags |= HTTP_F_HOST;
        return 0;
    default:
        return 0;
    }
}

/* Parses the field lines of a complete head: p[i..end) where end is the head length. */
static int parse_fields(const char *p, size_t i, size_t end, int request, http_head_t *h) {
    int te = 0, cl = 0;
    for (;;) {
        size_t nl, n;
        line_bounds(p, i, end, &nl, &n);
        if (n == 0) {
            break; /* the empty line */
        }
        if (h->header_count == h->header_max) {
            return -E2BIG;
        }
        http_header_t *hd = &h->headers[h->header_count];
        int rc = parse_field(p + i, n, hd);
        if (rc == 0) {
            rc = apply_field(hd, request, h, &te, &cl);
        }
        if (rc < 0) {
            return rc;
        }
        h->header_count++;
        i = nl + 1;
    }
    if (te && cl && request) {
        return -EBADMSG; /* both framings in one request: a smuggling attempt or a bug */
    }
    if (te == 1) {
        h->body = HTTP_BODY_CHUNKED;
    } else if (te == 2) {
        h->body = HTTP_BODY_UNTIL_CLOSE; /* responses only: requests refused it above */
    } else if (cl) {
        h->body = HTTP_BODY_LENGTH;
    } else {
        h->body = request ? HTTP_BODY_NONE : HTTP_BODY_UNTIL_CLOSE;
    }
    return 0;
}

static int parse_head(const char *p, size_t len, size_t head_max, http_head_t *h, int request) {
    assert(p || len == 0);
    assert(h && h->headers);
    size_t skip = request ? skip_empty_lines(p, len < head_max ? len : head_max) : 0;
    size_t end = find_head_end(p, len < head_max ? len : head_max, skip, h);
    if (end == 0) {
        return len >= head_max ? -EMSGSIZE : -EAGAIN;
    }
    size_t nl, n;
    line_bounds(p, skip, end, &nl, &n);
    h->header_count = 0;
    h->flags = 0;
    int rc = request ? parse_request_line(p + skip, n, h) : parse_status_line(p + skip, n, h);
    if (rc == 0) {
        rc = parse_fields(p, nl + 1, end, request, h);
    }
    if (rc == 0 && request && h->version_minor == 1 && !(h->flags & HTTP_F_HOST)) {
        rc = -EBADMSG; /* RFC 9112 3.2: a 1.1 request without Host is answered 400 */
    }
    if (rc < 0) {
        return rc;
    }
    h->head_len = end;
    return 0;
}

int http_request_parse(const char *p, size_t len, size_t head_max, http_head_t *h) {
    return parse_head(p, len, head_max, h, 1);
}

int http_response_parse(const char *p, size_t len, size_t head_max, http_head_t *h) {
    return parse_head(p, len, head_max, h, 0);
}

http_body_t http_response_body(const http_head_t *response, int request_head) {
    int status = response->status;
    if (request_head || status < 200 || status == 204 || status == 304) {
        return HTTP_BODY_NONE;
    }
    return response->body;
}

int http_keep_alive(const http_head_t *h) {
    if (h->flags & HTTP_F_CONN_CLOSE) {
        return 0;
    }
    return h->version_minor >= 1 || (h->flags & HTTP_F_CONN_KEEP_ALIVE);
}

slice_t http_header_get(const http_head_t *h, const char *name) {
    for (size_t i = 0; i < h->header_count; i++) {
        if (slice_eq_nocase(h->headers[i].name, name)) {
            return h->headers[i].value;
        }
    }
    return (slice_t){NULL, 0};
}

int http_list_has(slice_t value, const char *token) {
    size_t i = 0;
    while (i < value.len) {
        while (i < value.len && (value.ptr[i] == ' ' || value.ptr[i] == '\t' ||
                                 value.ptr[i] == ',')) {
            i++;
        }
        size_t start = i;
        while (i < value.len && value.ptr[i] != ',') {
            i++;
        }
        size_t end = i;
        while (end > start && (value.ptr[end - 1] == ' ' || value.ptr[end - 1] == '\t')) {
            end--;
        }
        if (end > start && slice_eq_nocase((slice_t){value.ptr + start, end - start}, token)) {
            return 1;
        }
    }
    return 0;
}

/* Chunked scanner states. */
enum {
    CH_SIZE = 0, /* reading hex digits of a chunk size */
    CH_EXT,      /* chunk extensions up to the line end */
    CH_SIZE_LF,  /* the CR ending a size line was seen */
    CH_DATA,     /* chunk data */
    CH_DATA_CR,  /* the CRLF after chunk data */
    CH_DATA_LF,
    CH_TRAILER,      /* at the start of a trailer line (or the final empty line) */
    CH_TRAILER_LINE, /* inside a trailer line */
    CH_LAST_LF,      /* the CR of the final empty line was seen */
};

void http_chunked_init(http_chunked_t *c) { memset(c, 0, sizeof *c); }

static int hex_value(char ch) {
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') {
        return (ch | 0x20) - 'a' + 10;
    }
    return -1;
}

/* Ends a chunk-size line: the next state is data, or the trailer after the last chunk. */
static int chunk_line_end(http_chunked_t *c) {
    if (c->digits == 0) {
        return -EBADMSG;
    }
    c->state = c->remaining ? CH_DATA : CH_TRAILER;
    c->line_len = 0;
    return 0;
}

/* One byte of framing (any state but CH_DATA). Returns 1 when the body ended with it. */
static int chunk_byte(http_chunked_t *c, char ch) {
    if (++c->line_len > HTTP_CHUNK_LINE_MAX) {
        return -EBADMSG;
    }
    switch (c->state) {
    case CH_SIZE: {
        int v = hex_value(ch);
        if (v >= 0) {
            if (++c->digits > 15) {
                return -EBADMSG; /* a chunk over 2^60 bytes is not a chunk */
            }
            c->remaining = c->remaining * 16 + (uint64_t)v;
            return 0;
        }
        if (ch == '\n') {
            return chunk_line_end(c);
        }
        if (ch != ';' && ch != ' ' && ch != '\t' && ch != '\r') {
            return -EBADMSG;
        }
        c->state = ch == '\r' ? CH_SIZE_LF : CH_EXT;
        return 0;
    }
    case CH_EXT:
        if (ch == '\n') {
            return chunk_line_end(c);
        }
        if (ch == '\r') {
            c->state = CH_SIZE_LF;
            return 0;
        }
        return ((uint8_t)ch < 0x20 && ch != '\t') || ch == 0x7f ? -EBADMSG : 0;
    case CH_SIZE_LF:
        return ch == '\n' ? chunk_line_end(c) : -EBADMSG;
    case CH_DATA_CR:
        c->state = CH_DATA_LF;
        if (ch == '\r') {
            return 0;
        }
        __attribute__((fallthrough)); /* a bare LF ends the data too */
    case CH_DATA_LF:
        if (ch != '\n') {
            return -EBADMSG;
        }
        c->state = CH_SIZE;
        c->digits = 0;
        c->line_len = 0;
        return 0;
    case CH_TRAILER:
        if (ch == '\n') {
            return 1;
        }
        c->state = ch == '\r' ? CH_LAST_LF : CH_TRAILER_LINE;
        return 0;
    case CH_LAST_LF:
        return ch == '\n' ? 1 : -EBADMSG;
    case CH_TRAILER_LINE:
        if (++c->trailer_len > HTTP_TRAILERS_MAX) {
            return -EBADMSG;
        }
        if (ch == '\n') {
            c->state = CH_TRAILER;
            c->line_len = 0;
        }
        return 0;
    default:
        return -EBADMSG;
    }
}

int http_chunked_scan(http_chunked_t *c, const char *p, size_t n, size_t *used) {
    assert(c);
    assert(used);
    size_t i = 0;
    while (i < n) {
        if (c->state == CH_DATA) {
            size_t take = c->remaining < n - i ? (size_t)c->remaining : n - i;
            i += take;
            c->remaining -= take;
            if (c->remaining == 0) {
                c->state = CH_DATA_CR;
                c->line_len = 0;
            }
            continue;
        }
        int rc = chunk_byte(c, p[i++]);
        if (rc != 0) {
            *used = i;
            return rc;
        }
    }
    *used = n;
    return 0;
}

const char *http_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

int http_method_idempotent(slice_t m) {
    return slice_eq(m, SLICE_LIT("GET")) || slice_eq(m, SLICE_LIT("HEAD")) ||
           slice_eq(m, SLICE_LIT("PUT")) || slice_eq(m, SLICE_LIT("DELETE")) ||
           slice_eq(m, SLICE_LIT("OPTIONS")) || slice_eq(m, SLICE_LIT("TRACE"));
}

int http_error_status(int parse_error) {
    switch (parse_error) {
    case -EMSGSIZE:
    case -E2BIG:
        return 431;
    case -ENOTSUP:
        return 501;
    case -EPROTONOSUPPORT:
        return 505;
    default:
        return 400;
    }
}

void http_reply(buf_t *out, int status, const char *content_type, const void *body, size_t len,
                int close) {
    assert(out);
    assert(status >= 100 && status <= 999);
    buf_printf(out, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    if (content_type) {
        buf_printf(out, "Content-Type: %s\r\n", content_type);
    }
    buf_printf(out, "Content-Length: %zu\r\n%s\r\n", len, close ? "Connection: close\r\n" : "");
    buf_append(out, body, len);
}
