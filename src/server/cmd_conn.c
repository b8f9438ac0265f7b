/* cmd_conn: connection commands — PING ECHO HELLO SELECT QUIT RESET and CLIENT. Replies and
 * error texts are Redis 7.0's. */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "server/node.h"

void node_ping(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    if (argc == 1) {
        reply_status(&r, "PONG");
    } else if (argc == 2) {
        reply_bulk(&r, argv[1].ptr, argv[1].len);
    } else {
        reply_error_arity(&r, "ping", 4);
    }
}

void node_echo(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    reply_bulk(&r, argv[1].ptr, argv[1].len);
}

void node_select(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    long long db;
    if (!resp_parse_ll(argv[1].ptr, argv[1].len, &db) || db < -2147483648LL || db > 2147483647LL) {
        reply_error(&r, ERR_NOT_INTEGER);
    } else if (db != 0) {
        reply_error(&r, "ERR DB index is out of range");
    } else {
        reply_ok(&r);
    }
}

void node_quit(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    reply_ok(&r);
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
}

static void set_name(client_t *c, slice_t name) {
    mem_free(c->name);
    c->name = name.len ? mem_strndup(name.ptr, name.len) : NULL;
}

void node_reset(client_t *c, int argc, const slice_t *argv) {
    c->resp = 2;
    c->flags &= ~CLIENT_READONLY;
    set_name(c, (slice_t){NULL, 0});
    reply_t r = client_reply(c);
    reply_status(&r, "RESET");
}

static void hello_reply(client_t *c) {
    reply_t r = client_reply(c);
    reply_map(&r, 7);
    reply_bulk_cstr(&r, "server");
    reply_bulk_cstr(&r, "polis");
    reply_bulk_cstr(&r, "version");
    reply_bulk_cstr(&r, REDIS_COMPAT_VERSION);
    reply_bulk_cstr(&r, "proto");
    reply_int(&r, c->resp);
    reply_bulk_cstr(&r, "id");
    reply_int(&r, (long long)c->id);
    reply_bulk_cstr(&r, "mode");
    reply_bulk_cstr(&r, "standalone");
    reply_bulk_cstr(&r, "role");
    reply_bulk_cstr(&r, "master");
    reply_bulk_cstr(&r, "modules");
    reply_array(&r, 0);
}

/* HELLO [protover [AUTH user pass] [SETNAME name]]: polis has one user, "default", without a
 * password (as Redis before any ACL is set), so AUTH checks the user name only. */
void node_hello(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    long long version = c->resp;
    if (argc >= 2) {
        if (!resp_parse_ll(argv[1].ptr, argv[1].len, &version)) {
            reply_error(&r, "ERR Protocol version is not an integer or out of range");
            return;
        }
        if (version < 2 || version > 3) {
            reply_error(&r, "NOPROTO unsupported protocol version");
            return;
        }
    }
    const slice_t *name = NULL;
    for (int i = 2; i < argc; i++) {
        int more = argc - 1 - i;
        if (slice_eq_nocase(argv[i], "auth") && more >= 2) {
            if (!slice_eq(argv[i + 1], SLICE_LIT("default"))) {
                reply_error(&r, "WRONGPASS invalid username-password pair or user is disabled.");
                return;
            }
            i += 2;
        } else if (slice_eq_nocase(argv[i], "setname") && more >= 1) {
            const char *err;
            if (!client_name_valid(argv[i + 1], &err)) {
                reply_error(&r, err);
                return;
            }
            name = &argv[++i];
        } else {
            reply_errorf(&r, "ERR Syntax error in HELLO option '%.*s'",
                         (int)(argv[i].len > 128 ? 128 : argv[i].len), argv[i].ptr);
            return;
        }
    }
    if (name) {
        set_name(c, *name);
    }
    c->resp = (int)version;
    hello_reply(c);
}

void node_client_id(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    reply_int(&r, (long long)c->id);
}

void node_client_setname(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    const char *err;
    if (!client_name_valid(argv[2], &err)) {
        reply_error(&r, err);
        return;
    }
    set_name(c, argv[2]);
    reply_ok(&r);
}

void node_client_getname(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    if (c->name) {
        reply_bulk_cstr(&r, c->name);
    } else {
        reply_null(&r);
    }
}

void node_client_info(client_t *c, int argc, const slice_t *argv) {
    buf_t text;
    buf_init(&text);
    client_format(c, &text);
    reply_t r = client_reply(c);
    reply_verbatim(&r, text.data, text.len, "txt");
    buf_free(&text);
}

/* Client types: polis has normal clients only (no replicas, no pub/sub yet). Returns 1 for
 * "normal", 0 for another known type, -1 after replying an error for an unknown one. */
static int parse_type(reply_t *r, slice_t type) {
    static const char *const others[] = {"master", "replica", "slave", "pubsub"};
    if (slice_eq_nocase(type, "normal")) {
        return 1;
    }
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        if (slice_eq_nocase(type, others[i])) {
            return 0;
        }
    }
    reply_errorf(r, "ERR Unknown client type '%.*s'", (int)(type.len > 64 ? 64 : type.len),
                 type.ptr);
    return -1;
}

static int parse_client_id(slice_t s, uint64_t *id) {
    long long v;
    if (!resp_parse_ll(s.ptr, s.len, &v) || v <= 0) {
        return 0;
    }
    *id = (uint64_t)v;
    return 1;
}

/* CLIENT LIST [TYPE type | ID id [id ...]] */
void node_client_list(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    int all = argc == 2, by_id = argc >= 4 && slice_eq_nocase(argv[2], "id");
    if (argc == 4 && slice_eq_nocase(argv[2], "type")) {
        int t = parse_type(&r, argv[3]);
        if (t < 0) {
            return;
        }
        all = t;
    } else if (!all && !by_id) {
        reply_error(&r, ERR_SYNTAX);
        return;
    }
    uint64_t id;
    for (int i = 3; by_id && i < argc; i++) {
        if (!parse_client_id(argv[i], &id)) {
            reply_error(&r, "ERR Invalid client ID");
            return;
        }
    }
    buf_t text;
    buf_init(&text);
    for (client_t *o = c->srv->clients; o; o = o->next) {
        int listed = all;
        for (int i = 3; by_id && !listed && i < argc; i++) {
            listed = parse_client_id(argv[i], &id) && id == o->id;
        }
        if (listed) {
            client_format(o, &text);
        }
    }
    reply_verbatim(&r, text.data ? text.data : "", text.len, "txt");
    buf_free(&text);
}

/* The filters of CLIENT KILL's new form. */
typedef struct kill_filter {
    uint64_t id; /* 0: any */
    const slice_t *addr, *laddr;
    int type; /* 1 normal (or no filter), 0 a type polis has no client of */
    int skipme;
    long long maxage_s; /* 0: any */
} kill_filter_t;

static int parse_kill_filter(reply_t *r, int argc, const slice_t *argv, kill_filter_t *f) {
    *f = (kill_filter_t){.type = 1, .skipme = 1};
    if ((argc - 2) % 2 != 0) {
        reply_error(r, ERR_SYNTAX);
        return -1;
    }
    for (int i = 2; i < argc; i += 2) {
        slice_t name = argv[i], value = argv[i + 1];
        if (slice_eq_nocase(name, "id")) {
            if (!parse_client_id(value, &f->id)) {
                reply_error(r, "ERR client-id should be greater than 0");
                return -1;
            }
        } else if (slice_eq_nocase(name, "addr")) {
            f->addr = &argv[i + 1];
        } else if (slice_eq_nocase(name, "laddr")) {
            f->laddr = &argv[i + 1];
        } else if (slice_eq_nocase(name, "type")) {
            if ((f->type = parse_type(r, value)) < 0) {
                return -1;
            }
        } else if (slice_eq_nocase(name, "user")) {
            f->type = f->type && slice_eq(value, SLICE_LIT("default"));
        } else if (slice_eq_nocase(name, "skipme") &&
                   (slice_eq_nocase(value, "yes") || slice_eq_nocase(value, "no"))) {
            f->skipme = slice_eq_nocase(value, "yes");
        } else if (slice_eq_nocase(name, "maxage") &&
                   resp_parse_ll(value.ptr, value.len, &f->maxage_s)) {
            continue;
        } else {
            reply_error(r, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

static int address_is(const client_t *o, const slice_t *want, int peer) {
    if (!want) {
        return 1;
    }
    char addr[96];
    client_address(o, peer, addr, sizeof addr);
    return slice_eq((slice_t){addr, strlen(addr)}, *want);
}

static int kill_matches(const client_t *self, const client_t *o, const kill_filter_t *f) {
    int64_t age_s = ((int64_t)uv_now(&o->srv->loop) - o->created_ms) / 1000;
    return f->type && !(f->skipme && o == self) && (!f->id || f->id == o->id) &&
           (!f->maxage_s || age_s >= f->maxage_s) && address_is(o, f->addr, 1) &&
           address_is(o, f->laddr, 0);
}

/* Closes o for a CLIENT KILL: at once, or after this reply when o is the caller. */
static void kill_client(client_t *self, client_t *o) {
    if (o == self) {
        self->flags |= CLIENT_CLOSE_AFTER_REPLY;
    } else {
        client_close(o);
    }
}

/* CLIENT KILL ip:port | CLIENT KILL filter value [filter value ...] */
void node_client_kill(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    if (argc == 3) {
        for (client_t *o = c->srv->clients; o; o = o->next) {
            if (address_is(o, &argv[2], 1)) {
                reply_ok(&r);
                kill_client(c, o);
                return;
            }
        }
        reply_error(&r, "ERR No such client");
        return;
    }
    kill_filter_t f;
    if (parse_kill_filter(&r, argc, argv, &f) < 0) {
        return;
    }
    long long killed = 0;
    client_t *next;
    for (client_t *o = c->srv->clients; o; o = next) {
        next = o->next;
        if (kill_matches(c, o, &f)) {
            kill_client(c, o);
            killed++;
        }
    }
    reply_int(&r, killed);
}

void reply_help(client_t *c, const char *const *lines) {
    static const char *const help[] = {"HELP", "    Print this help."};
    size_t n = 0;
    while (lines[n]) {
        n++;
    }
    reply_t r = client_reply(c);
    reply_array(&r, n + 2);
    for (size_t i = 0; i < n; i++) {
        reply_status(&r, lines[i]);
    }
    reply_status(&r, help[0]);
    reply_status(&r, help[1]);
}

void node_client_help(client_t *c, int argc, const slice_t *argv) {
    static const char *const lines[] = {
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID <client-id>, TYPE <normal|master|replica|pubsub>,",
        "    USER <username>, ADDR <ip:port>, LADDR <ip:port>, SKIPME (YES|NO), MAXAGE <seconds>.",
        "LIST [options ...]",
        "    Return information about client connections. Options: TYPE <type>, ID <id> [...].",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        NULL,
    };
    reply_help(c, lines);
}
