/* db: the keyspace's internals shared by the command files (kv_keys.c, kv_string.c, kv_hash.c,
 * kv_polis.c): lookups that honour logical expiry, and the few calls that change the table,
 * which keep the hash table, the volatile-key array and each key's version consistent.
 *
 * The rule for handlers: a db_slot_t from db_write is valid until the next call that adds or
 * removes a key (db_add, db_remove, db_write of an expired key). Between those a handler may
 * change the entry it got as it likes (resize, hash_set ...) and then calls db_update once. */
#ifndef POLIS_KV_DB_H
#define POLIS_KV_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/dict.h"
#include "kv/command.h"
#include "kv/entry.h"
#include "kv/keyspace.h"

struct keyspace {
    dict_t keys;
    uint64_t seed;            /* keys the main table and every hash's table */
    kv_entry_t **volatiles;   /* every entry with an expire time; entry_volatile_index is its slot */
    size_t volatile_count;
    size_t volatile_cap;
    size_t expire_cursor;     /* where the active expire cycle resumes in `volatiles` */
    keyspace_stats_t stats;
};

typedef struct db_slot {
    uint64_t hash;
    dict_node_t **link; /* the link to the live entry, or NULL when the key is absent */
} db_slot_t;

/* The live entry under key, or NULL (absent or expired at ctx->now_ms). Touches its LRU clock
 * and counts a keyspace hit or miss. */
kv_entry_t *db_read(exec_ctx_t *ctx, slice_t key);
/* As db_read, without touching the LRU clock or the hit counters (EXISTS-like probes inside
 * writes, TYPE, TTL). */
kv_entry_t *db_peek(exec_ctx_t *ctx, slice_t key);
/* The live entry under key for a write, or NULL; an expired entry found is removed first.
 * Fills *slot for db_add / db_update / db_remove. */
kv_entry_t *db_write(exec_ctx_t *ctx, slice_t key, db_slot_t *slot);
/* Adds e (absent key, slot from db_write) stamped with ctx->stamp; registers its expire time. */
void db_add(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e);
/* Points the table (and the volatile index) at e, the entry at slot after it moved. */
void db_relink(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e);
/* After the entry at slot was changed (e may be its new address): re-links it, stamps it with
 * ctx->stamp and counts one change. */
void db_update(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e);
/* Puts n (same key) in place of the entry at slot, which is freed; stamps n. */
void db_replace(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *n);
/* Takes the entry at slot out of the table without freeing it (RENAME); the caller owns it. */
kv_entry_t *db_detach(exec_ctx_t *ctx, db_slot_t *slot);
/* Removes and frees the entry at slot (counted as one change). */
void db_remove(exec_ctx_t *ctx, db_slot_t *slot);
/* Sets (when_ms >= 0) or removes (when_ms < 0) the expire time of the entry at slot; returns
 * its (possibly moved) address. Does not stamp: call db_update after. */
kv_entry_t *db_set_expire(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e, int64_t when_ms);
/* Adds a restored entry as it is (version, expire time and LRU clock kept). 0, or -EEXIST
 * when its key is present already. */
int db_load_entry(keyspace_t *ks, kv_entry_t *e);
/* Removes every key. */
void db_clear(keyspace_t *ks);
/* Frees an entry that is in no table (its hash value too). */
void db_entry_free(kv_entry_t *e);
/* A live key chosen at random (RANDOMKEY, allkeys-* eviction), or NULL. */
kv_entry_t *db_random_live(keyspace_t *ks, int64_t now_ms, uint64_t *rng);

/* ---- shared argument parsing and reply helpers (kv_util.c) ---- */

/* Parses a whole signed 64-bit decimal integer (no spaces, no '+', Redis' rules). 0 or -1. */
int parse_ll(slice_t s, long long *out);
/* Longest text of a long double, parsed or formatted (Redis' MAX_LONG_DOUBLE_CHARS): "%.17Lf"
 * of the largest double has 309 integer digits, of a long double far more. */
#define LONG_DOUBLE_TEXT_MAX (5 * 1024)
/* Parses a long double as Redis does for INCRBYFLOAT (no spaces, finite or inf). 0 or -1. */
int parse_long_double(slice_t s, long double *out);
/* parse_ll or replies ERR_NOT_INTEGER; 0 or -1. */
int arg_ll(exec_ctx_t *ctx, int index, long long *out);
/* An expire time argument with its unit: ms on success (absolute, from ctx->now_ms for the
 * relative units), or -1 after replying "invalid expire time in '<cmd>' command". */
enum expire_unit { UNIT_EX, UNIT_PX, UNIT_EXAT, UNIT_PXAT };
int arg_expire_time(exec_ctx_t *ctx, slice_t arg, enum expire_unit unit, int64_t *when_ms);
/* Replies "ERR invalid expire time in '<cmd>' command". */
void reply_invalid_expire(exec_ctx_t *ctx);
/* The command name as typed, lowered, into dst (at least 32 bytes); returns dst. */
const char *command_name_lower(exec_ctx_t *ctx, char *dst, size_t dst_size);

/* Arrays whose length is only known at the end (KEYS, SCAN): begin returns a mark; end writes
 * the header `*count` (or the RESP3 map/set header) in front of what was written since. */
size_t reply_defer(exec_ctx_t *ctx);
void reply_defer_array(exec_ctx_t *ctx, size_t mark, size_t count);
void reply_defer_map(exec_ctx_t *ctx, size_t mark, size_t pairs);

static inline int arg_is(exec_ctx_t *ctx, int index, const char *lit) {
    return slice_eq_nocase(ctx->argv[index], lit);
}

#endif
