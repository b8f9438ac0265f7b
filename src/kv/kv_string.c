/* kv_string: the string commands (GET, SET and its variants, MGET/MSET, APPEND, ranges,
 * counters), with Redis 7's replies and error texts. */
#include <assert.h>
#include <limits.h>
#include <math.h>

#include "kv/db.h"

#define ERR_STRING_TOO_LONG "ERR string exceeds maximum allowed size (proto-max-bulk-len)"

/* Makes the key at slot (e: its live entry, or NULL) a string of len bytes with expire time
 * `when` (-1: none), keeping the first bytes of an existing string; stamps it. greedy leaves
 * room to grow (APPEND, SETRANGE). Returns the entry for the caller to fill; it stays valid
 * until the table next changes. */
static kv_entry_t *string_write(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e, slice_t key,
                                size_t len, int64_t when, int greedy) {
    if (e && entry_type(e) == KV_STRING) {
        if ((when >= 0) != entry_has_expire(e)) {
            e = db_set_expire(ctx, slot, e, when);
        } else if (when >= 0) {
            entry_expire_put(e, when);
        }
        e = greedy ? entry_grow_blob(e, len) : entry_resize_blob(e, len);
        db_update(ctx, slot, e);
        return e;
    }
    kv_entry_t *n = entry_new(key, len, KV_STRING, when >= 0);
    if (when >= 0) {
        entry_expire_put(n, when);
    }
    if (e) {
        db_replace(ctx, slot, n);
    } else {
        db_add(ctx, slot, n);
    }
    return n;
}

/* string_write with the value's bytes. */
static void string_store(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e, slice_t key,
                         slice_t value, int64_t when) {
    kv_entry_t *n = string_write(ctx, slot, e, key, value.len, when, 0);
    if (value.len) {
        memcpy(entry_layout(n).blob, value.ptr, value.len);
    }
}

/* string_store, except that an expire time already past leaves the key absent. */
static void store_unless_past(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e, slice_t key,
                              slice_t value, int64_t when) {
    if (when >= 0 && when <= ctx->now_ms) {
        if (e) {
            db_remove(ctx, slot);
        }
        return;
    }
    string_store(ctx, slot, e, key, value, when);
}

/* Replies with a string entry's value, a null for NULL, or WRONGTYPE. -1 after WRONGTYPE. */
static int reply_string_or_null(exec_ctx_t *ctx, const kv_entry_t *e) {
    if (!e) {
        reply_null(ctx->reply);
        return 0;
    }
    if (entry_type(e) != KV_STRING) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return -1;
    }
    slice_t v = entry_blob(e);
    reply_bulk(ctx->reply, v.ptr, v.len);
    return 0;
}

void cmd_get(exec_ctx_t *ctx) { reply_string_or_null(ctx, db_read(ctx, ctx->argv[1])); }

/* ---- SET and its option parser (shared with GETEX and POLIS.CAS) ---- */

enum set_flag {
    SET_NX = 1 << 0,
    SET_XX = 1 << 1,
    SET_GET = 1 << 2,
    SET_KEEPTTL = 1 << 3,
    SET_PERSIST = 1 << 4,
    SET_EX = 1 << 5,
    SET_PX = 1 << 6,
    SET_EXAT = 1 << 7,
    SET_PXAT = 1 << 8,
};
#define SET_ANY_EXPIRE (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

/* Which options a command takes: SET all but PERSIST; GETEX the expire ones and PERSIST;
 * POLIS.CAS the expire ones and KEEPTTL. */
enum set_syntax { SYNTAX_SET, SYNTAX_GETEX, SYNTAX_CAS };

typedef struct set_options {
    unsigned flags;
    slice_t expire_arg;
    enum expire_unit unit;
} set_options_t;

static int parse_expire_option(exec_ctx_t *ctx, int j, unsigned *flags, set_options_t *o) {
    static const struct {
        const char *name;
        unsigned flag;
        enum expire_unit unit;
    } units[] = {{"ex", SET_EX, UNIT_EX},
                 {"px", SET_PX, UNIT_PX},
                 {"exat", SET_EXAT, UNIT_EXAT},
                 {"pxat", SET_PXAT, UNIT_PXAT}};
    for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
        unsigned others = (SET_ANY_EXPIRE & ~units[u].flag) | SET_KEEPTTL | SET_PERSIST;
        if (arg_is(ctx, j, units[u].name) && !(*flags & others) && j + 1 < ctx->argc) {
            *flags |= units[u].flag;
            o->expire_arg = ctx->argv[j + 1];
            o->unit = units[u].unit;
            return 1;
        }
    }
    return 0;
}

/* Parses options from argv[first]; replies ERR_SYNTAX and returns -1 on a bad one. */
static int parse_set_options(exec_ctx_t *ctx, int first, enum set_syntax syntax, set_options_t *o) {
    memset(o, 0, sizeof *o);
    unsigned *flags = &o->flags;
    for (int j = first; j < ctx->argc; j++) {
        int is_set = syntax == SYNTAX_SET;
        if (is_set && arg_is(ctx, j, "nx") && !(*flags & SET_XX)) {
            *flags |= SET_NX;
        } else if (is_set && arg_is(ctx, j, "xx") && !(*flags & SET_NX)) {
            *flags |= SET_XX;
        } else if (is_set && arg_is(ctx, j, "get")) {
            *flags |= SET_GET;
        } else if (syntax != SYNTAX_GETEX && arg_is(ctx, j, "keepttl") &&
                   !(*flags & (SET_PERSIST | SET_ANY_EXPIRE))) {
            *flags |= SET_KEEPTTL;
        } else if (syntax == SYNTAX_GETEX && arg_is(ctx, j, "persist") &&
                   !(*flags & (SET_KEEPTTL | SET_ANY_EXPIRE))) {
            *flags |= SET_PERSIST;
        } else if (parse_expire_option(ctx, j, flags, o)) {
            j++;
        } else {
            reply_error(ctx->reply, ERR_SYNTAX);
            return -1;
        }
    }
    return 0;
}

/* The expire time the options ask for: -1 none, or ms; replies and returns -2 on error. */
static int64_t set_options_when(exec_ctx_t *ctx, const set_options_t *o) {
    if (!(o->flags & SET_ANY_EXPIRE)) {
        return -1;
    }
    int64_t when;
    if (arg_expire_time(ctx, o->expire_arg, o->unit, &when) != 0) {
        return -2;
    }
    return when;
}

/* SET key value with parsed options, the shared core of SET, SETNX, SETEX, PSETEX, GETSET. */
static void set_generic(exec_ctx_t *ctx, slice_t key, slice_t value, const set_options_t *o,
                        int reply_int_result) {
    int64_t when = set_options_when(ctx, o);
    if (when == -2) {
        return;
    }
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, key, &slot);
    if ((o->flags & SET_GET) && reply_string_or_null(ctx, e) != 0) {
        return;
    }
    if (((o->flags & SET_NX) && e) || ((o->flags & SET_XX) && !e)) {
        if (reply_int_result) {
            reply_int(ctx->reply, 0);
        } else if (!(o->flags & SET_GET)) {
            reply_null(ctx->reply);
        }
        return;
    }
    if (o->flags & SET_KEEPTTL) {
        when = e ? entry_expire(e) : -1;
    }
    store_unless_past(ctx, &slot, e, key, value, when);
    if (reply_int_result) {
        reply_int(ctx->reply, 1);
    } else if (!(o->flags & SET_GET)) {
        reply_ok(ctx->reply);
    }
}

void cmd_set(exec_ctx_t *ctx) {
    set_options_t o;
    if (parse_set_options(ctx, 3, SYNTAX_SET, &o) == 0) {
        set_generic(ctx, ctx->argv[1], ctx->argv[2], &o, 0);
    }
}

void cmd_setnx(exec_ctx_t *ctx) {
    set_options_t o = {.flags = SET_NX};
    set_generic(ctx, ctx->argv[1], ctx->argv[2], &o, 1);
}

static void setex_generic(exec_ctx_t *ctx, unsigned flag, enum expire_unit unit) {
    set_options_t o = {.flags = flag, .expire_arg = ctx->argv[2], .unit = unit};
    set_generic(ctx, ctx->argv[1], ctx->argv[3], &o, 0);
}

void cmd_setex(exec_ctx_t *ctx) { setex_generic(ctx, SET_EX, UNIT_EX); }

void cmd_psetex(exec_ctx_t *ctx) { setex_generic(ctx, SET_PX, UNIT_PX); }

void cmd_getset(exec_ctx_t *ctx) {
    set_options_t o = {.flags = SET_GET};
    set_generic(ctx, ctx->argv[1], ctx->argv[2], &o, 0);
}

void cmd_getdel(exec_ctx_t *ctx) {
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, ctx->argv[1], &slot);
    if (reply_string_or_null(ctx, e) == 0 && e) {
        db_remove(ctx, &slot);
    }
}

void cmd_getex(exec_ctx_t *ctx) {
    set_options_t o;
    if (parse_set_options(ctx, 2, SYNTAX_GETEX, &o) != 0) {
        return;
    }
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, ctx->argv[1], &slot);
    if (!e || entry_type(e) != KV_STRING) {
        reply_string_or_null(ctx, e);
        return;
    }
    int64_t when = set_options_when(ctx, &o);
    if (when == -2) {
        return;
    }
    reply_string_or_null(ctx, e);
    if (when >= 0 && when <= ctx->now_ms) {
        db_remove(ctx, &slot);
    } else if (when >= 0) {
        db_update(ctx, &slot, db_set_expire(ctx, &slot, e, when));
    } else if ((o.flags & SET_PERSIST) && entry_has_expire(e)) {
        db_update(ctx, &slot, db_set_expire(ctx, &slot, e, -1));
    }
}

/* ---- multi-key ---- */

void cmd_mget(exec_ctx_t *ctx) {
    reply_array(ctx->reply, (size_t)ctx->argc - 1);
    for (int j = 1; j < ctx->argc; j++) {
        kv_entry_t *e = db_read(ctx, ctx->argv[j]);
        if (e && entry_type(e) == KV_STRING) {
            slice_t v = entry_blob(e);
            reply_bulk(ctx->reply, v.ptr, v.len);
        } else {
            reply_null(ctx->reply);
        }
    }
}

static void mset_generic(exec_ctx_t *ctx, int nx) {
    if (ctx->argc % 2 == 0) {
        reply_error_arity(ctx->reply, ctx->argv[0].ptr, ctx->argv[0].len);
        return;
    }
    if (nx) {
        for (int j = 1; j < ctx->argc; j += 2) {
            if (db_peek(ctx, ctx->argv[j])) {
                reply_int(ctx->reply, 0);
                return;
            }
        }
    }
    for (int j = 1; j < ctx->argc; j += 2) {
        db_slot_t slot;
        kv_entry_t *e = db_write(ctx, ctx->argv[j], &slot);
        string_store(ctx, &slot, e, ctx->argv[j], ctx->argv[j + 1], -1);
    }
    if (nx) {
        reply_int(ctx->reply, 1);
    } else {
        reply_ok(ctx->reply);
    }
}

void cmd_mset(exec_ctx_t *ctx) { mset_generic(ctx, 0); }

void cmd_msetnx(exec_ctx_t *ctx) { mset_generic(ctx, 1); }

/* ---- APPEND, STRLEN, ranges ---- */

/* The live string at key for a write; replies WRONGTYPE and returns -1 for another type. */
static int string_for_write(exec_ctx_t *ctx, slice_t key, db_slot_t *slot, kv_entry_t **e) {
    *e = db_write(ctx, key, slot);
    if (*e && entry_type(*e) != KV_STRING) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return -1;
    }
    return 0;
}

void cmd_append(exec_ctx_t *ctx) {
    db_slot_t slot;
    kv_entry_t *e;
    if (string_for_write(ctx, ctx->argv[1], &slot, &e) != 0) {
        return;
    }
    slice_t add = ctx->argv[2];
    size_t old = e ? entry_blob(e).len : 0;
    if (old + add.len > KV_STRING_MAX) {
        reply_error(ctx->reply, ERR_STRING_TOO_LONG);
        return;
    }
    kv_entry_t *n =
        string_write(ctx, &slot, e, ctx->argv[1], old + add.len, e ? entry_expire(e) : -1, 1);
    if (add.len) {
        memcpy(entry_layout(n).blob + old, add.ptr, add.len);
    }
    reply_int(ctx->reply, (long long)(old + add.len));
}

void cmd_strlen(exec_ctx_t *ctx) {
    kv_entry_t *e = db_read(ctx, ctx->argv[1]);
    if (e && entry_type(e) != KV_STRING) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return;
    }
    reply_int(ctx->reply, e ? (long long)entry_blob(e).len : 0);
}

void cmd_getrange(exec_ctx_t *ctx) {
    long long start, end;
    if (arg_ll(ctx, 2, &start) != 0 || arg_ll(ctx, 3, &end) != 0) {
        return;
    }
    kv_entry_t *e = db_read(ctx, ctx->argv[1]);
    if (!e) {
        reply_bulk(ctx->reply, "", 0);
        return;
    }
    if (entry_type(e) != KV_STRING) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return;
    }
    slice_t v = entry_blob(e);
    long long len = (long long)v.len;
    if (start < 0 && end < 0 && start > end) {
        reply_bulk(ctx->reply, "", 0);
        return;
    }
    if (start < 0) {
        start = len + start;
    }
    if (end < 0) {
        end = len + end;
    }
    start = start < 0 ? 0 : start;
    end = end < 0 ? 0 : end;
    if (end >= len) {
        end = len - 1;
    }
    if (start > end || len == 0) {
        reply_bulk(ctx->reply, "", 0);
        return;
    }
    reply_bulk(ctx->reply, v.ptr + start, (size_t)(end - start + 1));
}

void cmd_setrange(exec_ctx_t *ctx) {
    long long offset;
    if (arg_ll(ctx, 2, &offset) != 0) {
        return;
    }
    if (offset < 0) {
        reply_error(ctx->reply, "ERR offset is out of range");
        return;
    }
    db_slot_t slot;
    kv_entry_t *e;
    if (string_for_write(ctx, ctx->argv[1], &slot, &e) != 0) {
        return;
    }
    slice_t part = ctx->argv[3];
    size_t old = e ? entry_blob(e).len : 0;
    if (part.len == 0) {
        reply_int(ctx->reply, (long long)old);
        return;
    }
    if ((unsigned long long)offset + part.len > KV_STRING_MAX) {
        reply_error(ctx->reply, ERR_STRING_TOO_LONG);
        return;
    }
    size_t need = (size_t)offset + part.len, len = need > old ? need : old;
    kv_entry_t *n = string_write(ctx, &slot, e, ctx->argv[1], len, e ? entry_expire(e) : -1, 1);
    uint8_t *blob = entry_layout(n).blob;
    if ((size_t)offset > old) {
        memset(blob + old, 0, (size_t)offset - old);
    }
    memcpy(blob + offset, part.ptr, part.len);
    reply_int(ctx->reply, (long long)len);
}

/* ---- counters ---- */

/* Stores text as the new value of the string at slot, keeping its expire time. */
static void store_number_text(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e, slice_t text) {
    string_store(ctx, slot, e, ctx->argv[1], text, e ? entry_expire(e) : -1);
}

static void incr_generic(exec_ctx_t *ctx, long long incr) {
    db_slot_t slot;
    kv_entry_t *e;
    if (string_for_write(ctx, ctx->argv[1], &slot, &e) != 0) {
        return;
    }
    long long value = 0;
    if (e && parse_ll(entry_blob(e), &value) != 0) {
        reply_error(ctx->reply, ERR_NOT_INTEGER);
        return;
    }
    if ((incr < 0 && value < 0 && incr < LLONG_MIN - value) ||
        (incr > 0 && value > 0 && incr > LLONG_MAX - value)) {
        reply_error(ctx->reply, ERR_OVERFLOW);
        return;
    }
    value += incr;
    char text[24];
    size_t n = format_ll(text, value);
    store_number_text(ctx, &slot, e, (slice_t){text, n});
    reply_int(ctx->reply, value);
}

void cmd_incr(exec_ctx_t *ctx) { incr_generic(ctx, 1); }

void cmd_decr(exec_ctx_t *ctx) { incr_generic(ctx, -1); }

void cmd_incrby(exec_ctx_t *ctx) {
    long long incr;
    if (arg_ll(ctx, 2, &incr) == 0) {
        incr_generic(ctx, incr);
    }
}

void cmd_decrby(exec_ctx_t *ctx) {
    long long incr;
    if (arg_ll(ctx, 2, &incr) != 0) {
        return;
    }
    if (incr == LLONG_MIN) {
        reply_error(ctx->reply, "ERR decrement would overflow");
        return;
    }
    incr_generic(ctx, -incr);
}

void cmd_incrbyfloat(exec_ctx_t *ctx) {
    db_slot_t slot;
    kv_entry_t *e;
    if (string_for_write(ctx, ctx->argv[1], &slot, &e) != 0) {
        return;
    }
    long double value = 0, incr;
    if ((e && parse_long_double(entry_blob(e), &value) != 0) ||
        parse_long_double(ctx->argv[2], &incr) != 0) {
        reply_error(ctx->reply, ERR_NOT_FLOAT);
        return;
    }
    value += incr;
    char text[LONG_DOUBLE_TEXT_MAX];
    size_t n = format_long_double(text, sizeof text, value);
    if (n == 0) {
        reply_error(ctx->reply, "ERR increment would produce NaN or Infinity");
        return;
    }
    store_number_text(ctx, &slot, e, (slice_t){text, n});
    reply_bulk(ctx->reply, text, n);
}

/* ---- POLIS.CAS key version value [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL] ----
 * SET that happens only while the key's version (the stamp of its last write; 0 when absent)
 * still equals `version`. Replies the new version, or a null when the versions differ. */
void cmd_polis_cas(exec_ctx_t *ctx) {
    long long expected;
    if (arg_ll(ctx, 2, &expected) != 0) {
        return;
    }
    if (expected < 0) {
        reply_error(ctx->reply, ERR_NOT_INTEGER);
        return;
    }
    set_options_t o;
    if (parse_set_options(ctx, 4, SYNTAX_CAS, &o) != 0) {
        return;
    }
    int64_t when = set_options_when(ctx, &o);
    if (when == -2) {
        return;
    }
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, ctx->argv[1], &slot);
    if ((e ? e->version : 0) != (stamp_t)expected) {
        reply_null(ctx->reply);
        return;
    }
    if (o.flags & SET_KEEPTTL) {
        when = e ? entry_expire(e) : -1;
    }
    store_unless_past(ctx, &slot, e, ctx->argv[1], ctx->argv[3], when);
    reply_int(ctx->reply, (long long)ctx->stamp);
}
