/* kv_hash: the hash commands, with Redis 7's replies and error texts. The encodings live in
 * hashobj.c; HSCAN shares SCAN's machinery (kv_keys.c). */
#include <assert.h>
#include <limits.h>
#include <math.h>

#include "core/mem.h"
#include "kv/db.h"
#include "kv/hashobj.h"

/* HRANDFIELD with a negative count returns |count| picks; a larger request is refused rather
 * than building a reply of unbounded size. */
#define HRANDFIELD_COUNT_MAX ((long long)1 << 24)

/* The live hash at key for reading, or NULL; replies WRONGTYPE (and sets *wrong) for another
 * type. */
static kv_entry_t *hash_for_read(exec_ctx_t *ctx, slice_t key, int *wrong) {
    kv_entry_t *e = db_read(ctx, key);
    *wrong = e && entry_type(e) != KV_HASH;
    if (*wrong) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return NULL;
    }
    return e;
}

/* The live hash at key for a write (created empty, not yet in the table, when absent: the
 * caller adds it with hash_commit). Replies WRONGTYPE and returns NULL for another type. */
static kv_entry_t *hash_for_write(exec_ctx_t *ctx, slice_t key, db_slot_t *slot) {
    kv_entry_t *e = db_write(ctx, key, slot);
    if (e && entry_type(e) != KV_HASH) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return NULL;
    }
    return e ? e : hash_new(key);
}

/* Puts a changed hash back: adds a new one, re-links an existing one, drops an empty one. */
static void hash_commit(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e) {
    if (!slot->link) {
        if (hash_len(e) == 0) {
            db_entry_free(e);
            return;
        }
        db_add(ctx, slot, e);
        return;
    }
    if (hash_len(e) == 0) {
        db_relink(ctx, slot, e);
        db_remove(ctx, slot);
        return;
    }
    db_update(ctx, slot, e);
}

/* Drops a hash hash_for_write created when the command ends up changing nothing. */
static void hash_abandon(db_slot_t *slot, kv_entry_t *e) {
    if (!slot->link) {
        db_entry_free(e);
    }
}

static void hset_generic(exec_ctx_t *ctx, int reply_added) {
    if (ctx->argc % 2 == 1) {
        reply_error_arity(ctx->reply, ctx->argv[0].ptr, ctx->argv[0].len);
        return;
    }
    db_slot_t slot;
    kv_entry_t *e = hash_for_write(ctx, ctx->argv[1], &slot);
    if (!e) {
        return;
    }
    long long added = 0;
    for (int j = 2; j < ctx->argc; j += 2) {
        added += hash_set(&e, ctx->argv[j], ctx->argv[j + 1], ctx->ks->seed);
    }
    hash_commit(ctx, &slot, e);
    if (reply_added) {
        reply_int(ctx->reply, added);
    } else {
        reply_ok(ctx->reply);
    }
}

void cmd_hset(exec_ctx_t *ctx) { hset_generic(ctx, 1); }

void cmd_hmset(exec_ctx_t *ctx) { hset_generic(ctx, 0); }

void cmd_hsetnx(exec_ctx_t *ctx) {
    db_slot_t slot;
    kv_entry_t *e = hash_for_write(ctx, ctx->argv[1], &slot);
    if (!e) {
        return;
    }
    slice_t old;
    if (hash_get(e, ctx->argv[2], &old)) {
        reply_int(ctx->reply, 0);
        return; /* an existing hash is non-empty, so e is the table's own entry */
    }
    hash_set(&e, ctx->argv[2], ctx->argv[3], ctx->ks->seed);
    hash_commit(ctx, &slot, e);
    reply_int(ctx->reply, 1);
}

void cmd_hget(exec_ctx_t *ctx) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    slice_t v;
    if (wrong) {
        return;
    }
    if (e && hash_get(e, ctx->argv[2], &v)) {
        reply_bulk(ctx->reply, v.ptr, v.len);
    } else {
        reply_null(ctx->reply);
    }
}

void cmd_hmget(exec_ctx_t *ctx) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    if (wrong) {
        return;
    }
    reply_array(ctx->reply, (size_t)ctx->argc - 2);
    for (int j = 2; j < ctx->argc; j++) {
        slice_t v;
        if (e && hash_get(e, ctx->argv[j], &v)) {
            reply_bulk(ctx->reply, v.ptr, v.len);
        } else {
            reply_null(ctx->reply);
        }
    }
}

void cmd_hdel(exec_ctx_t *ctx) {
    db_slot_t slot;
    kv_entry_t *e = db_write(ctx, ctx->argv[1], &slot);
    if (!e) {
        reply_int(ctx->reply, 0);
        return;
    }
    if (entry_type(e) != KV_HASH) {
        reply_error(ctx->reply, ERR_WRONGTYPE);
        return;
    }
    long long deleted = 0;
    for (int j = 2; j < ctx->argc && hash_len(e) > 0; j++) {
        deleted += hash_delete(&e, ctx->argv[j]);
    }
    if (deleted) {
        hash_commit(ctx, &slot, e);
    }
    reply_int(ctx->reply, deleted);
}

void cmd_hlen(exec_ctx_t *ctx) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    if (!wrong) {
        reply_int(ctx->reply, e ? (long long)hash_len(e) : 0);
    }
}

void cmd_hexists(exec_ctx_t *ctx) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    slice_t v;
    if (!wrong) {
        reply_int(ctx->reply, e && hash_get(e, ctx->argv[2], &v) ? 1 : 0);
    }
}

void cmd_hstrlen(exec_ctx_t *ctx) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    slice_t v;
    if (!wrong) {
        reply_int(ctx->reply, e && hash_get(e, ctx->argv[2], &v) ? (long long)v.len : 0);
    }
}

enum hash_part { PART_FIELDS = 1, PART_VALUES = 2, PART_BOTH = 3 };

static void hash_reply_all(exec_ctx_t *ctx, enum hash_part part) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    if (wrong) {
        return;
    }
    size_t n = e ? hash_len(e) : 0;
    if (part == PART_BOTH) {
        reply_map(ctx->reply, n);
    } else {
        reply_array(ctx->reply, n);
    }
    if (!e) {
        return;
    }
    hash_iter_t it;
    slice_t f, v;
    hash_iter_init(&it, e);
    while (hash_iter_next(&it, &f, &v)) {
        if (part & PART_FIELDS) {
            reply_bulk(ctx->reply, f.ptr, f.len);
        }
        if (part & PART_VALUES) {
            reply_bulk(ctx->reply, v.ptr, v.len);
        }
    }
}

void cmd_hgetall(exec_ctx_t *ctx) { hash_reply_all(ctx, PART_BOTH); }

void cmd_hkeys(exec_ctx_t *ctx) { hash_reply_all(ctx, PART_FIELDS); }

void cmd_hvals(exec_ctx_t *ctx) { hash_reply_all(ctx, PART_VALUES); }

/* ---- counters ---- */

void cmd_hincrby(exec_ctx_t *ctx) {
    long long incr, value = 0;
    if (arg_ll(ctx, 3, &incr) != 0) {
        return;
    }
    db_slot_t slot;
    kv_entry_t *e = hash_for_write(ctx, ctx->argv[1], &slot);
    if (!e) {
        return;
    }
    slice_t old;
    const char *error = NULL;
    if (hash_get(e, ctx->argv[2], &old) && parse_ll(old, &value) != 0) {
        error = "ERR hash value is not an integer";
    } else if ((incr < 0 && value < 0 && incr < LLONG_MIN - value) ||
               (incr > 0 && value > 0 && incr > LLONG_MAX - value)) {
        error = ERR_OVERFLOW;
    }
    if (error) {
        reply_error(ctx->reply, error);
        hash_abandon(&slot, e);
        return;
    }
    value += incr;
    char text[24];
    size_t n = format_ll(text, value);
    hash_set(&e, ctx->argv[2], (slice_t){text, n}, ctx->ks->seed);
    hash_commit(ctx, &slot, e);
    reply_int(ctx->reply, value);
}

void cmd_hincrbyfloat(exec_ctx_t *ctx) {
    long double incr, value = 0;
    if (parse_long_double(ctx->argv[3], &incr) != 0) {
        reply_error(ctx->reply, ERR_NOT_FLOAT);
        return;
    }
    if (isnan(incr) || isinf(incr)) {
        reply_error(ctx->reply, "ERR value is NaN or Infinity");
        return;
    }
    db_slot_t slot;
    kv_entry_t *e = hash_for_write(ctx, ctx->argv[1], &slot);
    if (!e) {
        return;
    }
    slice_t old;
    char text[LONG_DOUBLE_TEXT_MAX];
    size_t n = 0;
    const char *error = NULL;
    if (hash_get(e, ctx->argv[2], &old) && parse_long_double(old, &value) != 0) {
        error = "ERR hash value is not a float";
    } else if ((n = format_long_double(text, sizeof text, value + incr)) == 0) {
        error = "ERR increment would produce NaN or Infinity";
    }
    if (error) {
        reply_error(ctx->reply, error);
        hash_abandon(&slot, e);
        return;
    }
    hash_set(&e, ctx->argv[2], (slice_t){text, n}, ctx->ks->seed);
    hash_commit(ctx, &slot, e);
    reply_bulk(ctx->reply, text, n);
}

/* ---- HRANDFIELD ---- */

static void reply_pair(exec_ctx_t *ctx, slice_t f, slice_t v, int withvalues) {
    if (withvalues && ctx->reply->resp == 3) {
        reply_array(ctx->reply, 2);
    }
    reply_bulk(ctx->reply, f.ptr, f.len);
    if (withvalues) {
        reply_bulk(ctx->reply, v.ptr, v.len);
    }
}

static void reply_pairs_header(exec_ctx_t *ctx, size_t count, int withvalues) {
    reply_array(ctx->reply, withvalues && ctx->reply->resp == 2 ? count * 2 : count);
}

/* count distinct random pairs of e (count < hash_len): a partial Fisher-Yates shuffle of all
 * pairs. */
static void hrandfield_distinct(exec_ctx_t *ctx, const kv_entry_t *e, size_t count,
                                int withvalues) {
    size_t n = hash_len(e);
    slice_t *pairs = mem_alloc(n * 2 * sizeof *pairs);
    hash_iter_t it;
    hash_iter_init(&it, e);
    for (size_t i = 0; i < n; i++) {
        hash_iter_next(&it, &pairs[2 * i], &pairs[2 * i + 1]);
    }
    reply_pairs_header(ctx, count, withvalues);
    for (size_t i = 0; i < count; i++) {
        size_t j = i + (size_t)rng_below(ctx->rng, n - i);
        slice_t f = pairs[2 * j], v = pairs[2 * j + 1];
        pairs[2 * j] = pairs[2 * i];
        pairs[2 * j + 1] = pairs[2 * i + 1];
        reply_pair(ctx, f, v, withvalues);
    }
    mem_free(pairs);
}

static void hrandfield_count(exec_ctx_t *ctx, long long l, int withvalues) {
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    if (wrong) {
        return;
    }
    if (!e || l == 0) {
        reply_array(ctx->reply, 0);
        return;
    }
    size_t size = hash_len(e);
    slice_t f, v;
    if (l < 0 || l == 1) {
        size_t count = (size_t)(l < 0 ? -l : l);
        reply_pairs_header(ctx, count, withvalues);
        for (size_t i = 0; i < count; i++) {
            hash_random_pair(e, ctx->rng, &f, &v);
            reply_pair(ctx, f, v, withvalues);
        }
        return;
    }
    if ((size_t)l >= size) {
        hash_iter_t it;
        reply_pairs_header(ctx, size, withvalues);
        hash_iter_init(&it, e);
        while (hash_iter_next(&it, &f, &v)) {
            reply_pair(ctx, f, v, withvalues);
        }
        return;
    }
    hrandfield_distinct(ctx, e, (size_t)l, withvalues);
}

void cmd_hrandfield(exec_ctx_t *ctx) {
    if (ctx->argc >= 3) {
        long long l;
        if (arg_ll(ctx, 2, &l) != 0) {
            return;
        }
        if (l < -LLONG_MAX) {
            reply_errorf(ctx->reply, "ERR value is out of range, value must between %lld and %lld",
                         -LLONG_MAX, LLONG_MAX);
            return;
        }
        int withvalues = ctx->argc == 4;
        if (ctx->argc > 4 || (withvalues && !arg_is(ctx, 3, "withvalues"))) {
            reply_error(ctx->reply, ERR_SYNTAX);
            return;
        }
        if ((withvalues && (l < -LLONG_MAX / 2 || l > LLONG_MAX / 2)) ||
            l < -HRANDFIELD_COUNT_MAX) {
            reply_error(ctx->reply, "ERR value is out of range");
            return;
        }
        hrandfield_count(ctx, l, withvalues);
        return;
    }
    int wrong;
    kv_entry_t *e = hash_for_read(ctx, ctx->argv[1], &wrong);
    if (wrong) {
        return;
    }
    if (!e) {
        reply_null(ctx->reply);
        return;
    }
    slice_t f, v;
    hash_random_pair(e, ctx->rng, &f, &v);
    reply_bulk(ctx->reply, f.ptr, f.len);
}
