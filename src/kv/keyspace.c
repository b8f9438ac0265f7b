/* keyspace: the table of keys, logical expiry, the volatile-key index, active expiry and
 * eviction sampling. Commands live in kv_keys.c, kv_string.c, kv_hash.c and kv_polis.c; the
 * record format in record.c; snapshots in snapshot.c. Design: docs/ARCHITECTURE.md, "Keyspace". */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "core/mem.h"
#include "kv/db.h"
#include "kv/hashobj.h"

static slice_t entry_dict_key(const dict_node_t *node) {
    return entry_key((const kv_entry_t *)node);
}

static const dict_type_t keyspace_dict_type = {entry_dict_key};

keyspace_t *keyspace_create(uint64_t seed) {
    keyspace_t *ks = mem_calloc(1, sizeof *ks);
    ks->seed = seed;
    dict_init(&ks->keys, &keyspace_dict_type, seed);
    return ks;
}

void keyspace_free(keyspace_t *ks) {
    if (!ks) {
        return;
    }
    db_clear(ks);
    mem_free(ks->volatiles);
    mem_free(ks);
}

size_t keyspace_key_count(const keyspace_t *ks) { return dict_count(&ks->keys); }

size_t keyspace_expires_count(const keyspace_t *ks) { return ks->volatile_count; }

void keyspace_get_stats(const keyspace_t *ks, keyspace_stats_t *stats) { *stats = ks->stats; }

void keyspace_reset_stats(keyspace_t *ks) { memset(&ks->stats, 0, sizeof ks->stats); }

/* ---- the volatile-key index ---- */

static void volatile_add(keyspace_t *ks, kv_entry_t *e) {
    assert(entry_has_expire(e));
    assert(ks->volatile_count < UINT32_MAX);
    if (ks->volatile_count == ks->volatile_cap) {
        ks->volatile_cap = ks->volatile_cap ? ks->volatile_cap * 2 : 16;
        ks->volatiles = mem_realloc(ks->volatiles, ks->volatile_cap * sizeof *ks->volatiles);
    }
    entry_volatile_index_put(e, (uint32_t)ks->volatile_count);
    ks->volatiles[ks->volatile_count++] = e;
}

static void volatile_remove(keyspace_t *ks, const kv_entry_t *e) {
    uint32_t i = entry_volatile_index(e);
    assert(i < ks->volatile_count);
    assert(ks->volatiles[i] == e);
    kv_entry_t *last = ks->volatiles[--ks->volatile_count];
    ks->volatiles[i] = last;
    entry_volatile_index_put(last, i);
    if (ks->volatile_cap > 64 && ks->volatile_count * 4 < ks->volatile_cap) {
        ks->volatile_cap /= 2;
        ks->volatiles = mem_realloc(ks->volatiles, ks->volatile_cap * sizeof *ks->volatiles);
    }
}

/* ---- lookups ---- */

kv_entry_t *db_peek(exec_ctx_t *ctx, slice_t key) {
    keyspace_t *ks = ctx->ks;
    kv_entry_t *e = (kv_entry_t *)dict_find(&ks->keys, key, dict_hash(&ks->keys, key));
    if (e && entry_expired(e, ctx->now_ms)) {
        return NULL;
    }
    return e;
}

kv_entry_t *db_read(exec_ctx_t *ctx, slice_t key) {
    kv_entry_t *e = db_peek(ctx, key);
    if (!e) {
        ctx->ks->stats.misses++;
        return NULL;
    }
    ctx->ks->stats.hits++;
    entry_touch(e, ctx->now_ms);
    return e;
}

void db_entry_free(kv_entry_t *e) {
    if (entry_type(e) == KV_HASH) {
        hash_free_value(e);
    }
    entry_free(e);
}

static kv_entry_t *detach_at(keyspace_t *ks, db_slot_t *slot) {
    assert(slot->link);
    kv_entry_t *e = (kv_entry_t *)dict_unlink(&ks->keys, slot->link);
    slot->link = NULL;
    if (entry_has_expire(e)) {
        volatile_remove(ks, e);
    }
    return e;
}

static void remove_at(keyspace_t *ks, db_slot_t *slot) { db_entry_free(detach_at(ks, slot)); }

kv_entry_t *db_detach(exec_ctx_t *ctx, db_slot_t *slot) {
    ctx->dirty++;
    return detach_at(ctx->ks, slot);
}

void db_replace(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *n) {
    assert(slot->link);
    kv_entry_t *old = (kv_entry_t *)*slot->link;
    if (entry_has_expire(old)) {
        volatile_remove(ctx->ks, old);
    }
    dict_relink(slot->link, &n->node);
    db_entry_free(old);
    if (entry_has_expire(n)) {
        volatile_add(ctx->ks, n);
    }
    n->version = ctx->stamp;
    entry_touch(n, ctx->now_ms);
    ctx->dirty++;
}

kv_entry_t *db_write(exec_ctx_t *ctx, slice_t key, db_slot_t *slot) {
    keyspace_t *ks = ctx->ks;
    slot->hash = dict_hash(&ks->keys, key);
    slot->link = dict_find_link(&ks->keys, key, slot->hash);
    if (!slot->link) {
        return NULL;
    }
    kv_entry_t *e = (kv_entry_t *)*slot->link;
    if (entry_expired(e, ctx->now_ms)) {
        /* Physically remove it now: a write at this record's time sees it gone. */
        remove_at(ks, slot);
        ks->stats.expired_keys++;
        return NULL;
    }
    return e;
}

void db_add(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e) {
    assert(!slot->link);
    e->version = ctx->stamp;
    entry_touch(e, ctx->now_ms);
    if (entry_has_expire(e)) {
        volatile_add(ctx->ks, e);
    }
    dict_add(&ctx->ks->keys, &e->node, slot->hash);
    slot->link = NULL; /* the table changed: the slot is spent */
    ctx->dirty++;
}

void db_relink(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e) {
    assert(slot->link);
    *slot->link = &e->node;
    if (entry_has_expire(e)) {
        ctx->ks->volatiles[entry_volatile_index(e)] = e;
    }
}

void db_update(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e) {
    db_relink(ctx, slot, e);
    e->version = ctx->stamp;
    entry_touch(e, ctx->now_ms);
    ctx->dirty++;
}

void db_remove(exec_ctx_t *ctx, db_slot_t *slot) {
    remove_at(ctx->ks, slot);
    ctx->dirty++;
}

kv_entry_t *db_set_expire(exec_ctx_t *ctx, db_slot_t *slot, kv_entry_t *e, int64_t when_ms) {
    assert(slot->link && *slot->link == &e->node);
    keyspace_t *ks = ctx->ks;
    if (when_ms < 0) {
        if (entry_has_expire(e)) {
            volatile_remove(ks, e);
            e = entry_set_has_expire(e, 0);
            *slot->link = &e->node;
        }
        return e;
    }
    if (!entry_has_expire(e)) {
        e = entry_set_has_expire(e, 1);
        *slot->link = &e->node;
        volatile_add(ks, e);
    }
    entry_expire_put(e, when_ms);
    return e;
}

int db_load_entry(keyspace_t *ks, kv_entry_t *e) {
    slice_t key = entry_key(e);
    uint64_t hash = dict_hash(&ks->keys, key);
    if (dict_find(&ks->keys, key, hash)) {
        return -EEXIST;
    }
    if (entry_has_expire(e)) {
        volatile_add(ks, e);
    }
    dict_add(&ks->keys, &e->node, hash);
    return 0;
}

static void free_entry_cb(void *arg, dict_node_t *node) {
    (void)arg;
    db_entry_free((kv_entry_t *)node);
}

void db_clear(keyspace_t *ks) {
    dict_clear(&ks->keys, free_entry_cb, NULL);
    ks->volatile_count = 0;
    ks->expire_cursor = 0;
}

void keyspace_clear(keyspace_t *ks) { db_clear(ks); }

/* Tries this many random picks for a live key before sweeping the table. */
#define RANDOM_LIVE_TRIES 100

kv_entry_t *db_random_live(keyspace_t *ks, int64_t now_ms, uint64_t *rng) {
    for (int i = 0; i < RANDOM_LIVE_TRIES; i++) {
        kv_entry_t *e = (kv_entry_t *)dict_random(&ks->keys, rng);
        if (!e || !entry_expired(e, now_ms)) {
            return e;
        }
    }
    /* Nearly every key has expired but not been removed yet: look at them all. */
    dict_iter_t it;
    dict_iter_init(&it, &ks->keys);
    for (const dict_node_t *n = dict_iter_next(&it); n; n = dict_iter_next(&it)) {
        if (!entry_expired((const kv_entry_t *)n, now_ms)) {
            return (kv_entry_t *)n;
        }
    }
    return NULL;
}

/* ---- execution ---- */

void keyspace_execute(const command_t *cmd, exec_ctx_t *ctx) {
    assert(cmd && ctx);
    assert(ctx->ks && ctx->reply && ctx->argc >= 1);
    ctx->dirty = 0;
    cmd->fn(ctx);
}

/* ---- active expiry ---- */

/* Keys examined per batch of the expire cycle; a batch with fewer than 1 in
 * EXPIRE_CYCLE_STOP_RATIO expired ends the cycle. */
#define EXPIRE_CYCLE_BATCH 20
#define EXPIRE_CYCLE_STOP_RATIO 10
/* Buckets of an ongoing resize moved per cycle. */
#define EXPIRE_CYCLE_REHASH_BUCKETS 100

size_t keyspace_expire_cycle(keyspace_t *ks, int64_t now_ms, size_t max_keys, uint64_t *rng,
                             void (*found)(void *arg, slice_t key), void *arg) {
    assert(ks && found);
    (void)rng; /* a cursor sweeps the index: no key is reported twice within one call */
    dict_rehash_steps(&ks->keys, EXPIRE_CYCLE_REHASH_BUCKETS);
    size_t total = ks->volatile_count, examined = 0, reported = 0;
    while (reported < max_keys && examined < total) {
        size_t batch = 0, expired = 0;
        while (batch < EXPIRE_CYCLE_BATCH && examined < total && reported < max_keys) {
            if (ks->expire_cursor >= ks->volatile_count) {
                ks->expire_cursor = 0;
            }
            const kv_entry_t *e = ks->volatiles[ks->expire_cursor++];
            batch++;
            examined++;
            if (entry_expired(e, now_ms)) {
                found(arg, entry_key(e));
                expired++;
                reported++;
            }
        }
        if (expired * EXPIRE_CYCLE_STOP_RATIO < batch) {
            break;
        }
    }
    return reported;
}

int64_t keyspace_avg_ttl_ms(const keyspace_t *ks, int64_t now_ms) {
    size_t n = ks->volatile_count;
    if (n == 0) {
        return 0;
    }
    /* An estimate from evenly spaced samples, as INFO needs no more. */
    size_t samples = n < 64 ? n : 64, step = n / samples;
    long double sum = 0;
    size_t counted = 0;
    for (size_t i = 0; i < samples; i++) {
        int64_t ttl = entry_expire(ks->volatiles[i * step]) - now_ms;
        if (ttl > 0) {
            sum += (long double)ttl;
            counted++;
        }
    }
    return counted ? (int64_t)(sum / counted) : 0;
}

/* ---- eviction ---- */

/* A higher score is a better eviction candidate. */
static uint64_t evict_score(const kv_entry_t *e, enum evict_policy policy, int64_t now_ms) {
    if (entry_expired(e, now_ms)) {
        return UINT64_MAX;
    }
    if (policy == EVICT_VOLATILE_TTL) {
        return (uint64_t)INT64_MAX - (uint64_t)entry_expire(e);
    }
    return entry_idle_s(e, now_ms);
}

int keyspace_evict_pick(keyspace_t *ks, enum evict_policy policy, int64_t now_ms, uint64_t *rng,
                        slice_t *key) {
    assert(ks && rng);
    assert(key);
    int volatile_only = policy == EVICT_VOLATILE_LRU || policy == EVICT_VOLATILE_TTL;
    if (policy == EVICT_NOEVICTION || dict_count(&ks->keys) == 0 ||
        (volatile_only && ks->volatile_count == 0)) {
        return 0;
    }
    if (policy == EVICT_ALLKEYS_RANDOM) {
        *key = entry_key((const kv_entry_t *)dict_random(&ks->keys, rng));
        return 1;
    }
    const kv_entry_t *best = NULL;
    uint64_t best_score = 0;
    for (int i = 0; i < KV_EVICT_SAMPLES; i++) {
        const kv_entry_t *e =
            volatile_only ? ks->volatiles[rng_below(rng, ks->volatile_count)]
                          : (const kv_entry_t *)dict_random(&ks->keys, rng);
        uint64_t score = evict_score(e, policy, now_ms);
        if (!best || score > best_score) {
            best = e;
            best_score = score;
        }
    }
    *key = entry_key(best);
    return 1;
}

/* ---- checking ---- */

int keyspace_check(const keyspace_t *ks) {
    if (dict_check(&ks->keys) != 0) {
        return -EINVAL;
    }
    size_t with_expire = 0;
    dict_iter_t it;
    dict_iter_init(&it, &ks->keys);
    for (const dict_node_t *n = dict_iter_next(&it); n; n = dict_iter_next(&it)) {
        const kv_entry_t *e = (const kv_entry_t *)n;
        if (entry_has_expire(e)) {
            uint32_t i = entry_volatile_index(e);
            if (i >= ks->volatile_count || ks->volatiles[i] != e) {
                return -EINVAL;
            }
            with_expire++;
        }
        if (entry_type(e) == KV_HASH && (hash_check(e) != 0 || hash_len(e) == 0)) {
            return -EINVAL;
        }
    }
    return with_expire == ks->volatile_count ? 0 : -EINVAL;
}
