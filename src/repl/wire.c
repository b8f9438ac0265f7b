/* wire: the replication layer's payload formats (see wire.h). Pure: no I/O. */
#include "repl/wire.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "raft/raft_codec.h"

#define WIRE_VERSION 1

/* ---- little-endian helpers ---- */

static void put_uint(buf_t *b, uint64_t v, int bytes) {
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) {
        t[i] = (uint8_t)(v >> (8 * i));
    }
    buf_append(b, t, (size_t)bytes);
}

/* A reader that runs out of bytes sets bad and yields zeros: decoders check once per part. */
typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
} reader_t;

static bool has(reader_t *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint64_t get_uint(reader_t *r, int bytes) {
    if (!has(r, (size_t)bytes)) {
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v |= (uint64_t)r->p[i] << (8 * i);
    }
    r->p += bytes;
    return v;
}

static const uint8_t *get_bytes(reader_t *r, size_t n) {
    if (!has(r, n)) {
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

/* True when the reader used every byte exactly and the version matched. */
static bool finished(const reader_t *r) {
    return !r->bad && r->p == r->end;
}

static bool version_ok(reader_t *r) {
    return get_uint(r, 1) == WIRE_VERSION && !r->bad;
}

/* ---- Raft messages ---- */

int repl_raft_encode(buf_t *out, uint32_t group, const raft_msg_t *m) {
    assert(out && m);
    size_t start = out->len;
    put_uint(out, group, 4);
    int rc = raft_msg_encode(m, out);
    if (rc != 0) {
        out->len = start;
    }
    return rc;
}

int repl_raft_split(const uint8_t *payload, size_t len, uint32_t *group, const uint8_t **raft,
                    size_t *raft_len) {
    reader_t r = {payload, payload + len, false};
    *group = (uint32_t)get_uint(&r, 4);
    if (r.bad) {
        return -EBADMSG;
    }
    *raft = r.p;
    *raft_len = (size_t)(r.end - r.p);
    return 0;
}

/* ---- Forwarding ---- */

void repl_forward_encode(buf_t *out, const repl_forward_t *f) {
    assert(out && f);
    assert(f->argc > 0 && f->argv);
    put_uint(out, WIRE_VERSION, 1);
    put_uint(out, f->hops, 1);
    put_uint(out, f->resp, 1);
    put_uint(out, f->incarnation, 8);
    put_uint(out, f->client, 8);
    put_uint(out, f->argc, 4);
    for (uint32_t i = 0; i < f->argc; i++) {
        put_uint(out, f->argv[i].len, 4);
        buf_append(out, f->argv[i].ptr, f->argv[i].len);
    }
}

int repl_forward_decode(const uint8_t *p, size_t len, repl_forward_t *f, buf_t *args) {
    assert(f && args);
    reader_t r = {p, p + len, false};
    memset(f, 0, sizeof *f);
    if (!version_ok(&r)) {
        return -EBADMSG;
    }
    f->hops = (uint8_t)get_uint(&r, 1);
    f->resp = (uint8_t)get_uint(&r, 1);
    f->incarnation = get_uint(&r, 8);
    f->client = get_uint(&r, 8);
    f->argc = (uint32_t)get_uint(&r, 4);
    if (r.bad || f->argc == 0 || f->argc > REPL_FORWARD_ARGS_MAX || (f->resp != 2 && f->resp != 3) ||
        f->hops == 0 || f->hops > REPL_FORWARD_HOPS_MAX) {
        return -EBADMSG;
    }
    size_t start = args->len;
    buf_printf(args, "*%u\r\n", f->argc);
    for (uint32_t i = 0; i < f->argc && !r.bad; i++) {
        uint32_t n = (uint32_t)get_uint(&r, 4);
        const uint8_t *bytes = get_bytes(&r, n);
        if (bytes) {
            buf_printf(args, "$%u\r\n", n);
            buf_append(args, bytes, n);
            buf_append(args, "\r\n", 2);
        }
    }
    if (!finished(&r)) {
        args->len = start;
        return -EBADMSG;
    }
    return 0;
}

void repl_forward_reply_encode(buf_t *out, const repl_forward_reply_t *rep) {
    assert(out && rep);
    put_uint(out, WIRE_VERSION, 1);
    put_uint(out, rep->incarnation, 8);
    put_uint(out, rep->client, 8);
    put_uint(out, rep->replies, 4);
    buf_append(out, rep->bytes, rep->len);
}

int repl_forward_reply_decode(const uint8_t *p, size_t len, repl_forward_reply_t *rep) {
    reader_t r = {p, p + len, false};
    memset(rep, 0, sizeof *rep);
    if (!version_ok(&r)) {
        return -EBADMSG;
    }
    rep->incarnation = get_uint(&r, 8);
    rep->client = get_uint(&r, 8);
    rep->replies = (uint32_t)get_uint(&r, 4);
    if (r.bad) {
        return -EBADMSG;
    }
    rep->bytes = (const char *)r.p;
    rep->len = (size_t)(r.end - r.p);
    return 0;
}

void repl_forward_close_encode(buf_t *out, uint64_t incarnation, uint64_t client) {
    put_uint(out, WIRE_VERSION, 1);
    put_uint(out, incarnation, 8);
    put_uint(out, client, 8);
}

int repl_forward_close_decode(const uint8_t *p, size_t len, uint64_t *incarnation,
                              uint64_t *client) {
    reader_t r = {p, p + len, false};
    if (!version_ok(&r)) {
        return -EBADMSG;
    }
    *incarnation = get_uint(&r, 8);
    *client = get_uint(&r, 8);
    return finished(&r) ? 0 : -EBADMSG;
}

/* ---- Node info ---- */

static void put_host(buf_t *out, const char *host) {
    size_t n = strlen(host);
    assert(n <= REPL_HOST_MAX);
    put_uint(out, n, 1);
    buf_append(out, host, n);
}

/* Reads a length-prefixed host into dst (REPL_HOST_MAX + 1 bytes). */
static void get_host(reader_t *r, char *dst) {
    size_t n = (size_t)get_uint(r, 1);
    const uint8_t *bytes = get_bytes(r, n);
    dst[0] = '\0';
    if (bytes && memchr(bytes, '\0', n) == NULL) {
        memcpy(dst, bytes, n);
        dst[n] = '\0';
    } else {
        r->bad = true;
    }
}

void repl_node_info_encode(buf_t *out, const repl_node_info_t *n) {
    put_uint(out, WIRE_VERSION, 1);
    put_uint(out, n->incarnation, 8);
    put_uint(out, n->client_port, 2);
    put_host(out, n->client_host);
}

int repl_node_info_decode(const uint8_t *p, size_t len, repl_node_info_t *n) {
    reader_t r = {p, p + len, false};
    memset(n, 0, sizeof *n);
    if (!version_ok(&r)) {
        return -EBADMSG;
    }
    n->incarnation = get_uint(&r, 8);
    n->client_port = (uint16_t)get_uint(&r, 2);
    get_host(&r, n->client_host);
    return finished(&r) ? 0 : -EBADMSG;
}

/* ---- Members and snapshot metadata ---- */

static void put_member_address(buf_t *out, const repl_member_t *m) {
    put_uint(out, m->flags, 1);
    put_uint(out, m->bus_port, 2);
    put_host(out, m->host);
}

static void get_member_address(reader_t *r, repl_member_t *m) {
    m->flags = (uint8_t)get_uint(r, 1);
    m->bus_port = (uint16_t)get_uint(r, 2);
    get_host(r, m->host);
}

void repl_member_encode(buf_t *out, const repl_member_t *m) {
    put_uint(out, WIRE_VERSION, 1);
    put_member_address(out, m);
}

int repl_member_decode(const char *p, size_t len, repl_member_t *m) {
    reader_t r = {(const uint8_t *)p, (const uint8_t *)p + len, false};
    if (!version_ok(&r)) {
        return -EBADMSG;
    }
    get_member_address(&r, m);
    return finished(&r) ? 0 : -EBADMSG;
}

static void put_ids(buf_t *out, const uint64_t *ids, uint32_t count) {
    put_uint(out, count, 1);
    for (uint32_t i = 0; i < count; i++) {
        put_uint(out, ids[i], 8);
    }
}

static uint32_t get_ids(reader_t *r, uint64_t *ids) {
    uint32_t count = (uint32_t)get_uint(r, 1);
    if (count > RAFT_MEMBERS_MAX) {
        r->bad = true;
        return 0;
    }
    for (uint32_t i = 0; i < count; i++) {
        ids[i] = get_uint(r, 8);
    }
    return count;
}

void repl_meta_encode(buf_t *out, const raft_conf_t *conf, const repl_member_t *members,
                      size_t count) {
    assert(count <= REPL_MEMBERS_MAX);
    put_uint(out, WIRE_VERSION, 1);
    put_ids(out, conf->voters, conf->voters_count);
    put_ids(out, conf->learners, conf->learners_count);
    put_uint(out, count, 1);
    for (size_t i = 0; i < count; i++) {
        put_uint(out, members[i].id, 8);
        put_member_address(out, &members[i]);
    }
}

int repl_meta_decode(const char *p, size_t len, raft_conf_t *conf, repl_member_t *members,
                     size_t max, size_t *count) {
    if (len == 0) {
        return -ENOENT;
    }
    reader_t r = {(const uint8_t *)p, (const uint8_t *)p + len, false};
    memset(conf, 0, sizeof *conf);
    *count = 0;
    if (!version_ok(&r)) {
        return -EBADMSG;
    }
    conf->voters_count = get_ids(&r, conf->voters);
    conf->learners_count = get_ids(&r, conf->learners);
    size_t n = (size_t)get_uint(&r, 1);
    if (n > max || n > REPL_MEMBERS_MAX) {
        return -EBADMSG;
    }
    for (size_t i = 0; i < n && !r.bad; i++) {
        memset(&members[i], 0, sizeof members[i]);
        members[i].id = get_uint(&r, 8);
        get_member_address(&r, &members[i]);
    }
    if (!finished(&r)) {
        return -EBADMSG;
    }
    *count = n;
    return 0;
}

int repl_member_parse_address(const char *text, size_t len, repl_member_t *m) {
    char spec[REPL_HOST_MAX + 32];
    char err[128];
    if (len > REPL_HOST_MAX + 8) {
        return -EINVAL;
    }
    /* The bus' peer syntax with a dummy id: one parser for addresses everywhere. */
    int n = snprintf(spec, sizeof spec, "1@%.*s", (int)len, text);
    bus_peer_addr_t addr;
    size_t count = 0;
    if (n <= 0 || memchr(text, ',', len) || bus_peers_parse(spec, &addr, 1, &count, err, sizeof err) != 0 ||
        count != 1) {
        return -EINVAL;
    }
    snprintf(m->host, sizeof m->host, "%s", addr.host);
    m->bus_port = addr.port;
    return 0;
}
