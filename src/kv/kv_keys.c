/* kv_keys: the generic key commands (DEL, EXISTS, TYPE, KEYS, SCAN, RENAME, COPY, the expire
 * family, DBSIZE, FLUSHDB/FLUSHALL) and the SCAN machinery HSCAN shares. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "core/glob.h"
#include "core/mem.h"
#include "kv/db.h"
#include "kv/hashobj.h"

static const char *type_name(const kv_entry_t *e) {
    if (!e) {
        return "none";
    }
    return entry_type(e) == KV_HASH ? "hash" : "string";
}

static void del_generic(exec_ctx_t *ctx) {
    long long deleted = 0;
    for (int j = 1; j < ctx->argc; j++) {
        db_slot_t slot;
        if (db_write(ctx, ctx->argv[j], &slot)) {
            db_remove(ctx, &slot);
            deleted++;
        }
    }
    reply_int(ctx->reply, deleted);
}

void cmd_del(exec_ctx_t *ctx) { del_generic(ctx); }

void cmd_unlink(exec_ctx_t *ctx) { del_generic(ctx); }

void cmd_exists(exec_ctx_t *ctx) {
    long long found = 0;
    for (int j = 1; j < ctx->argc; j++) {
        found += db_peek(ctx, ctx->argv[j]) != NULL;
    }
    reply_int(ctx->reply, found);
}

void cmd_touch(exec_ctx_t *ctx) {
    long long found = 0;
    for (int j = 1; j < ctx->argc; j++) {
        found += db_read(ctx, ctx->argv[j]) != NULL;
    }
    reply_int(ctx->reply, found);
}

void cmd_type(exec_ctx_t *ctx) { reply_status(ctx->reply, type_name(db_peek(ctx, ctx->argv[1]))); }

void cmd_randomkey(exec_ctx_t *ctx) {
    kv_entry_t *e = db_random_live(ctx->ks, ctx->now_ms, ctx->rng);
    if (!e) {
        reply_null(ctx->reply);
        return;
    }
    slice_t k = entry_key(e);
    reply_bulk(ctx->reply, k.ptr, k.len);
}

void cmd_keys(exec_ctx_t *ctx) {
    slice_t pattern = ctx->argv[1];
    int all = pattern.len == 1 && pattern.ptr[0] == '*';
    size_t mark = reply_defer(ctx), count = 0;
    dict_iter_t it;
    dict_iter_init(&it, &ctx->ks->keys);
    for (const dict_node_t *n = dict_iter_next(&it); n; n = dict_iter_next(&it)) {
        const kv_entry_t *e = (const kv_entry_t *)n;
        slice_t k = entry_key(e);
        if ((all || glob_match(pattern.ptr, pattern.len, k.ptr, k.len, 0)) &&
            !entry_expired(e, ctx->now_ms)) {
            reply_bulk(ctx->reply, k.ptr, k.len);
            count++;
        }
    }
    reply_defer_array(ctx, mark, count);
}

void cmd_dbsize(exec_ctx_t *ctx) { reply_int(ctx->reply, (long long)dict_count(&ctx->ks->keys)); }

static void flush_generic(exec_ctx_t *ctx) {
    if (ctx->argc > 2 || (ctx->argc == 2 && !arg_is(ctx, 1, "async") && !arg_is(ctx, 1, "sync"))) {
        reply_error(ctx->reply, ERR_SYNTAX);
        return;
    }
    ctx->dirty += dict_count(&ctx->ks->keys) + 1;
    db_clear(ctx->ks);
    reply_ok(ctx->reply);
}

void cmd_flushdb(exec_ctx_t *ctx) { flush_generic(ctx); }

void cmd_flushall(exec_ctx_t *ctx) { flush_generic(ctx); }

/* ---- RENAME, COPY ---- */

static void rename_generic(exec_ctx_t *ctx, int nx) {
    slice_t from = ctx->argv[1], to = ctx->argv[2];
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, from, &slot);
    if (!e) {
        reply_error(ctx->reply, ERR_NO_SUCH_KEY);
        return;
    }
    if (slice_eq(from, to)) {
        if (nx) {
            reply_int(ctx->reply, 0);
        } else {
            reply_ok(ctx->reply);
        }
        return;
    }
    db_slot_t dest;
    if (db_write(ctx, to, &dest)) {
        if (nx) {
            reply_int(ctx->reply, 0);
            return;
        }
        db_remove(ctx, &dest);
    }
    /* The value moves as it is (a hash's table pointer included); only the key changes. */
    db_write(ctx, from, &slot);
    kv_entry_t *old = db_detach(ctx, &slot);
    kv_entry_t *moved = entry_clone(old, to);
    entry_free(old);
    db_write(ctx, to, &dest);
    db_add(ctx, &dest, moved);
    if (nx) {
        reply_int(ctx->reply, 1);
    } else {
        reply_ok(ctx->reply);
    }
}

void cmd_rename(exec_ctx_t *ctx) { rename_generic(ctx, 0); }

void cmd_renamenx(exec_ctx_t *ctx) { rename_generic(ctx, 1); }

void cmd_copy(exec_ctx_t *ctx) {
    int replace = 0;
    for (int j = 3; j < ctx->argc; j++) {
        long long db;
        if (arg_is(ctx, j, "replace")) {
            replace = 1;
        } else if (arg_is(ctx, j, "db") && j + 1 < ctx->argc) {
            if (arg_ll(ctx, j + 1, &db) != 0) {
                return;
            }
            if (db < INT_MIN || db > INT_MAX) {
                reply_errorf(ctx->reply, "ERR value is out of range, value must between %d and %d",
                             INT_MIN, INT_MAX);
                return;
            }
            if (db != 0) {
                reply_error(ctx->reply, "ERR DB index is out of range");
                return;
            }
            j++;
        } else {
            reply_error(ctx->reply, ERR_SYNTAX);
            return;
        }
    }
    slice_t from = ctx->argv[1], to = ctx->argv[2];
    if (slice_eq(from, to)) {
        reply_error(ctx->reply, "ERR source and destination objects are the same");
        return;
    }
    kv_entry_t *src = db_read(ctx, from);
    if (!src) {
        reply_int(ctx->reply, 0);
        return;
    }
    db_slot_t dest;
    kv_entry_t *existing = db_write(ctx, to, &dest);
    if (existing && !replace) {
        reply_int(ctx->reply, 0);
        return;
    }
    /* (db_write may have changed the table, but entries never move when it does: src holds) */
    kv_entry_t *copy = entry_type(src) == KV_HASH ? hash_clone(src, to, ctx->ks->seed)
                                                  : entry_clone(src, to);
    if (existing) {
        db_replace(ctx, &dest, copy);
    } else {
        db_add(ctx, &dest, copy);
    }
    reply_int(ctx->reply, 1);
}

/* ---- expire family ---- */

enum expire_flag { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

static int parse_expire_flags(exec_ctx_t *ctx, unsigned *flags) {
    static const char *names[] = {"nx", "xx", "gt", "lt"};
    *flags = 0;
    for (int j = 3; j < ctx->argc; j++) {
        size_t i = 0;
        while (i < 4 && !arg_is(ctx, j, names[i])) {
            i++;
        }
        if (i == 4) {
            reply_errorf(ctx->reply, "ERR Unsupported option %.*s", (int)ctx->argv[j].len,
                         ctx->argv[j].ptr);
            return -1;
        }
        *flags |= 1u << i;
    }
    if ((*flags & EXP_NX) && (*flags & (EXP_XX | EXP_GT | EXP_LT))) {
        reply_error(ctx->reply, "ERR NX and XX, GT or LT options at the same time are not compatible");
        return -1;
    }
    if ((*flags & EXP_GT) && (*flags & EXP_LT)) {
        reply_error(ctx->reply, "ERR GT and LT options at the same time are not compatible");
        return -1;
    }
    return 0;
}

/* Whether the flags allow replacing expire time `current` (-1: none) by `when`. */
static int expire_allowed(unsigned flags, int64_t current, int64_t when) {
    if ((flags & EXP_NX) && current != -1) {
        return 0;
    }
    if ((flags & EXP_XX) && current == -1) {
        return 0;
    }
    if ((flags & EXP_GT) && (current == -1 || when <= current)) {
        return 0; /* no expire time counts as an infinite one */
    }
    if ((flags & EXP_LT) && current != -1 && when >= current) {
        return 0;
    }
    return 1;
}

static void expire_generic(exec_ctx_t *ctx, int seconds, int absolute) {
    unsigned flags;
    long long when;
    if (parse_expire_flags(ctx, &flags) != 0 || arg_ll(ctx, 2, &when) != 0) {
        return;
    }
    int64_t base = absolute ? 0 : ctx->now_ms;
    if (seconds && (when > LLONG_MAX / 1000 || when < LLONG_MIN / 1000)) {
        reply_invalid_expire(ctx);
        return;
    }
    when = seconds ? when * 1000 : when;
    if (when > LLONG_MAX - base) {
        reply_invalid_expire(ctx);
        return;
    }
    when += base;
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, ctx->argv[1], &slot);
    if (!e || !expire_allowed(flags, entry_expire(e), when)) {
        reply_int(ctx->reply, 0);
        return;
    }
    if (when <= ctx->now_ms) {
        db_remove(ctx, &slot);
    } else {
        db_update(ctx, &slot, db_set_expire(ctx, &slot, e, when));
    }
    reply_int(ctx->reply, 1);
}

void cmd_expire(exec_ctx_t *ctx) { expire_generic(ctx, 1, 0); }

void cmd_pexpire(exec_ctx_t *ctx) { expire_generic(ctx, 0, 0); }

void cmd_expireat(exec_ctx_t *ctx) { expire_generic(ctx, 1, 1); }

void cmd_pexpireat(exec_ctx_t *ctx) { expire_generic(ctx, 0, 1); }

static void ttl_generic(exec_ctx_t *ctx, int ms, int absolute) {
    kv_entry_t *e = db_peek(ctx, ctx->argv[1]);
    if (!e) {
        reply_int(ctx->reply, -2);
        return;
    }
    int64_t expire = entry_expire(e);
    if (expire < 0) {
        reply_int(ctx->reply, -1);
        return;
    }
    int64_t ttl = absolute ? expire : expire - ctx->now_ms;
    ttl = ttl < 0 ? 0 : ttl;
    reply_int(ctx->reply, ms ? ttl : (ttl + 500) / 1000);
}

void cmd_ttl(exec_ctx_t *ctx) { ttl_generic(ctx, 0, 0); }

void cmd_pttl(exec_ctx_t *ctx) { ttl_generic(ctx, 1, 0); }

void cmd_expiretime(exec_ctx_t *ctx) { ttl_generic(ctx, 0, 1); }

void cmd_pexpiretime(exec_ctx_t *ctx) { ttl_generic(ctx, 1, 1); }

void cmd_persist(exec_ctx_t *ctx) {
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, ctx->argv[1], &slot);
    if (!e || !entry_has_expire(e)) {
        reply_int(ctx->reply, 0);
        return;
    }
    db_update(ctx, &slot, db_set_expire(ctx, &slot, e, -1));
    reply_int(ctx->reply, 1);
}

/* ---- SCAN and HSCAN ---- */

/* Longest text accepted as a cursor. */
#define SCAN_CURSOR_TEXT_MAX 512

/* Redis 7.0's cursor syntax: what strtoul reads from the whole C string, no leading space, no
 * overflow ("-1" is 2^64-1, as strtoul has it; "" is 0). */
static int parse_cursor(slice_t s, uint64_t *cursor) {
    char text[SCAN_CURSOR_TEXT_MAX];
    size_t n = strnlen(s.ptr, s.len); /* the C string ends at a NUL, as Redis sees it */
    if (n >= sizeof text) {
        return -1;
    }
    memcpy(text, s.ptr, n);
    text[n] = '\0';
    if (text[0] == ' ' || (text[0] >= '\t' && text[0] <= '\r')) {
        return -1;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno == ERANGE || *end != '\0') {
        return -1;
    }
    *cursor = v;
    return 0;
}

typedef struct scan_state {
    const dict_node_t **nodes;
    size_t count, cap;
} scan_state_t;

static void scan_collect(void *arg, const dict_node_t *node) {
    scan_state_t *s = arg;
    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->nodes = mem_realloc(s->nodes, s->cap * sizeof *s->nodes);
    }
    s->nodes[s->count++] = node;
}

typedef struct scan_options {
    long long count;
    slice_t pattern;
    int use_pattern;
    slice_t type;
    int use_type;
} scan_options_t;

static int parse_scan_options(exec_ctx_t *ctx, int first, int allow_type, scan_options_t *o) {
    memset(o, 0, sizeof *o);
    o->count = 10;
    for (int i = first; i < ctx->argc; i += 2) {
        int has_value = ctx->argc - i >= 2;
        if (arg_is(ctx, i, "count") && has_value) {
            if (arg_ll(ctx, i + 1, &o->count) != 0) {
                return -1;
            }
            if (o->count < 1) {
                reply_error(ctx->reply, ERR_SYNTAX);
                return -1;
            }
        } else if (arg_is(ctx, i, "match") && has_value) {
            o->pattern = ctx->argv[i + 1];
            o->use_pattern = !(o->pattern.len == 1 && o->pattern.ptr[0] == '*');
        } else if (allow_type && arg_is(ctx, i, "type") && has_value) {
            o->type = ctx->argv[i + 1];
            o->use_type = 1;
        } else {
            reply_error(ctx->reply, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

static void reply_cursor(exec_ctx_t *ctx, uint64_t cursor) {
    reply_array(ctx->reply, 2);
    reply_bulk_ll(ctx->reply, (long long)cursor);
}

/* Steps the dict scan at most count*10 times or until count entries are collected. */
static uint64_t scan_steps(const dict_t *d, uint64_t cursor, long long count, scan_state_t *s) {
    long long budget = count > LLONG_MAX / 10 ? LLONG_MAX : count * 10;
    do {
        cursor = dict_scan(d, cursor, scan_collect, s);
    } while (cursor && budget-- > 0 && s->count < (size_t)count);
    return cursor;
}

static int scan_key_wanted(exec_ctx_t *ctx, const scan_options_t *o, const kv_entry_t *e) {
    slice_t k = entry_key(e);
    if (o->use_pattern && !glob_match(o->pattern.ptr, o->pattern.len, k.ptr, k.len, 0)) {
        return 0;
    }
    if (o->use_type && !slice_eq_nocase(o->type, type_name(e))) {
        return 0;
    }
    return !entry_expired(e, ctx->now_ms);
}

void cmd_scan(exec_ctx_t *ctx) {
    uint64_t cursor;
    scan_options_t o;
    if (parse_cursor(ctx->argv[1], &cursor) != 0) {
        reply_error(ctx->reply, "ERR invalid cursor");
        return;
    }
    if (parse_scan_options(ctx, 2, 1, &o) != 0) {
        return;
    }
    scan_state_t s = {0};
    cursor = scan_steps(&ctx->ks->keys, cursor, o.count, &s);
    reply_cursor(ctx, cursor);
    size_t mark = reply_defer(ctx), n = 0;
    for (size_t i = 0; i < s.count; i++) {
        const kv_entry_t *e = (const kv_entry_t *)s.nodes[i];
        if (scan_key_wanted(ctx, &o, e)) {
            slice_t k = entry_key(e);
            reply_bulk(ctx->reply, k.ptr, k.len);
            n++;
        }
    }
    reply_defer_array(ctx, mark, n);
    mem_free(s.nodes);
}

/* Replies the pairs of a small hash (all at once, cursor 0) that match. */
static void hscan_small(exec_ctx_t *ctx, const kv_entry_t *e, const scan_options_t *o) {
    reply_cursor(ctx, 0);
    size_t mark = reply_defer(ctx), n = 0;
    hash_iter_t it;
    slice_t f, v;
    hash_iter_init(&it, e);
    while (hash_iter_next(&it, &f, &v)) {
        if (!o->use_pattern || glob_match(o->pattern.ptr, o->pattern.len, f.ptr, f.len, 0)) {
            reply_bulk(ctx->reply, f.ptr, f.len);
            reply_bulk(ctx->reply, v.ptr, v.len);
            n += 2;
        }
    }
    reply_defer_array(ctx, mark, n);
}

void cmd_hscan(exec_ctx_t *ctx) {
    uint64_t cursor;
    scan_options_t o;
    if (parse_cursor(ctx->argv[2], &cursor) != 0) {
        reply_error(ctx->reply, "ERR invalid cursor");
        return;
    }
    kv_entry_t *e = db_read(ctx, ctx->argv[1]);
    if (!e) {
        reply_cursor(ctx, 0);
        reply_array(ctx->reply, 0);
        return;
    }
    if (entry_type(e) != KV_HASH) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return;
    }
    if (parse_scan_options(ctx, 3, 0, &o) != 0) {
        return;
    }
    dict_t *d = hash_table(e);
    if (!d) {
        hscan_small(ctx, e, &o);
        return;
    }
    scan_state_t s = {0};
    cursor = scan_steps(d, cursor, o.count, &s);
    reply_cursor(ctx, cursor);
    size_t mark = reply_defer(ctx), n = 0;
    for (size_t i = 0; i < s.count; i++) {
        slice_t f, v;
        hash_field_pair(s.nodes[i], &f, &v);
        if (!o.use_pattern || glob_match(o.pattern.ptr, o.pattern.len, f.ptr, f.len, 0)) {
            reply_bulk(ctx->reply, f.ptr, f.len);
            reply_bulk(ctx->reply, v.ptr, v.len);
            n += 2;
        }
    }
    reply_defer_array(ctx, mark, n);
    mem_free(s.nodes);
}
