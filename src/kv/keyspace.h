/* keyspace: the node's data, a deterministic state machine (the pure core that applies the log).
 *
 * No I/O, no clock reads, no randomness except through arguments. The node (src/server) owns
 * one keyspace, runs read commands against it directly and applies write records to it in log
 * order; snapshots serialise it through io_write_fn and restore it through io_read_fn.
 *
 * Expiry is logical: a key whose expire time is <= ctx->now_ms is absent to every command,
 * whether or not it has been removed yet. Physical removal happens when a write touches it, and
 * through the POLIS.DELEXPIRED records the node proposes for keys that keyspace_expire_cycle
 * finds (so replicas remove the same keys at the same log position). Reads never remove.
 *
 * Pointers the keyspace hands out (reply bytes aside, which are copied) stay valid until the
 * next command that writes. Design and measurements: docs/ARCHITECTURE.md, "Keyspace". */
#ifndef POLIS_KV_KEYSPACE_H
#define POLIS_KV_KEYSPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hlc.h"
#include "core/io.h"
#include "kv/command.h"
#include "proto/reply.h"

typedef struct keyspace keyspace_t;

enum evict_policy {
    EVICT_NOEVICTION = 0,
    EVICT_ALLKEYS_LRU,
    EVICT_VOLATILE_LRU,
    EVICT_ALLKEYS_RANDOM,
    EVICT_VOLATILE_TTL,
};

/* seed keys the hash of every table (pick it at random per process: bucket placement must not
 * be predictable by clients). It changes no observable state except the order of KEYS, SCAN,
 * HGETALL … and the picks of RANDOMKEY, HRANDFIELD, so replicas need not share it. */
keyspace_t *keyspace_create(uint64_t seed);
void keyspace_free(keyspace_t *ks);

/* Counters for INFO (stats section). */
typedef struct keyspace_stats {
    uint64_t hits;         /* keyspace_hits: reads that found their key */
    uint64_t misses;       /* keyspace_misses */
    uint64_t expired_keys; /* keys removed because their time had passed */
} keyspace_stats_t;

void keyspace_get_stats(const keyspace_t *ks, keyspace_stats_t *stats);
/* CONFIG RESETSTAT. */
void keyspace_reset_stats(keyspace_t *ks);
/* A digest of the whole contents (every key's type, value, expire time and version; expired
 * keys not yet removed included) that does not depend on table layout or seed: two keyspaces
 * that applied the same records have the same digest. For tests and replica checks. */
uint64_t keyspace_digest(const keyspace_t *ks);
/* Checks every internal invariant (tables, volatile index, encodings). O(n), for tests.
 * Returns 0 or -EINVAL. */
int keyspace_check(const keyspace_t *ks);

size_t keyspace_key_count(const keyspace_t *ks);
size_t keyspace_expires_count(const keyspace_t *ks);
/* Average remaining TTL in ms over keys with an expiry (an estimate is fine), 0 if none. */
int64_t keyspace_avg_ttl_ms(const keyspace_t *ks, int64_t now_ms);
/* Removes every key (FLUSHALL run by the node itself, e.g. before loading a snapshot). */
void keyspace_clear(keyspace_t *ks);

/* The command named by name[0..len) (any case), or NULL. Binary search of the sorted table. */
const command_t *kv_command_lookup(const char *name, size_t len);

/* Runs one command. The caller checked arity and that the command exists; ctx is complete
 * (ks, reply, argc, argv, now_ms, stamp, clock, rng). Sets ctx->dirty. */
void keyspace_execute(const command_t *cmd, exec_ctx_t *ctx);

/* ---- Write records: a write command as it is logged. ----
 * Layout (little endian): u8 version=1, u64 stamp, i64 time_ms, u32 argc, then argc times
 * (u32 length, bytes). kv_record_apply decodes it, moves the clock to at least the stamp
 * (hlc_observe), runs the command with now_ms = time_ms and stamp = stamp, and writes the reply
 * to `reply` (out == NULL on replay). */
void kv_record_encode(buf_t *out, stamp_t stamp, int64_t time_ms, int argc, const slice_t *argv);
/* The bytes kv_record_encode writes for argv. */
size_t kv_record_size(int argc, const slice_t *argv);
/* 0 on success; -EINVAL for a malformed record, an unknown or non-write command, or a wrong
 * argument count (nothing changed). dirty (may be NULL) receives the number of changes.
 * Applying never allocates for records of up to KV_RECORD_STACK_ARGS arguments. */
#define KV_RECORD_STACK_ARGS 16
int kv_record_apply(keyspace_t *ks, hlc_t *clock, uint64_t *rng, const char *data, size_t len,
                    reply_t *reply, uint64_t *dirty);
/* Starts loading what applying the record will look up first (its first key's table bucket;
 * with chain set, the entry the bucket points at, which waits for the bucket unless that was
 * prefetched a little earlier). Changes nothing. An applier of many records calls it a few
 * records ahead, so their memory loads overlap instead of stalling one key at a time. */
void kv_record_prefetch(const keyspace_t *ks, const char *data, size_t len, bool chain);
/* The stamp inside an encoded record, or 0 if malformed. */
stamp_t kv_record_stamp(const char *data, size_t len);

/* ---- Record batches: the writes of one loop turn as one log entry. ----
 * Layout: u8 version=2, u32 count, then count times (u32 length, record). A batch of one is
 * logged as its bare record, so a log entry holds a record or a batch (kv_batch_open reads
 * both). Build with kv_batch_reset and kv_batch_add; log the bytes kv_batch_entry gives. */
void kv_batch_reset(buf_t *batch);
void kv_batch_add(buf_t *batch, stamp_t stamp, int64_t time_ms, int argc, const slice_t *argv);
#define KV_BATCH_RECORD_BYTES(record_size) ((record_size) + 4) /* a record's room in a batch */
/* The records added since the reset. */
uint32_t kv_batch_count(const buf_t *batch);
/* The bytes to log: the bare record for a batch of one, else the whole batch. */
void kv_batch_entry(const buf_t *batch, const char **data, size_t *len);

typedef struct kv_batch_iter {
    const char *next;
    size_t left;     /* bytes from next to the end */
    uint32_t remain; /* records not yet returned */
    bool bare;       /* the entry is one bare record */
} kv_batch_iter_t;
/* 0, or -EINVAL when data is neither a record nor a batch (then it has nothing to iterate). */
int kv_batch_open(kv_batch_iter_t *it, const char *data, size_t len);
/* 1 and the next record, 0 at the end, -EINVAL when the batch is cut short. */
int kv_batch_next(kv_batch_iter_t *it, const char **record, size_t *len);

/* ---- Expiry and eviction ----
 * The node turns the keys the expire cycle finds into a record of KV_CMD_DELEXPIRED (argv:
 * "polis.delexpired" key [key ...]), not DEL: that command removes a key only if it is still
 * expired at the record's time, so a write to the same key logged between the cycle and the
 * record cannot be undone by it. Evictions are logged as DEL (the leader decided them).
 *
 * Calls found(arg, key) for up to max_keys distinct keys that are expired at now_ms, walking the
 * volatile keys from where the last call stopped and stopping early when fewer than one in ten
 * of a batch are expired (as Redis' active expire cycle does). Returns how many were found. The
 * key bytes are valid only during the callback. Changes no key; it advances its own cursor and
 * moves a few buckets of an ongoing table resize (so an idle node finishes resizes). */
#define KV_CMD_DELEXPIRED "polis.delexpired"
size_t keyspace_expire_cycle(keyspace_t *ks, int64_t now_ms, size_t max_keys, uint64_t *rng,
                             void (*found)(void *arg, slice_t key), void *arg);
/* Picks one key to evict under policy, sampling KV_EVICT_SAMPLES keys (as Redis' approximated
 * LRU does: the least recently used of the sample for *-lru, the soonest to expire for
 * volatile-ttl; a sampled key that has already expired is taken at once). Returns 1 and sets
 * *key (valid until the keyspace next changes), or 0 if none qualifies (noeviction, no key, or
 * no key with an expire time for volatile-*). */
#define KV_EVICT_SAMPLES 5
int keyspace_evict_pick(keyspace_t *ks, enum evict_policy policy, int64_t now_ms, uint64_t *rng,
                        slice_t *key);

/* ---- Snapshots ----
 * Writes every live key (type, key, value, expire time, version) to w. Reads only: safe in a
 * forked child. Returns 0 or the first negative code w returned. */
int keyspace_dump(const keyspace_t *ks, io_write_fn *w, void *w_ctx);
/* Replaces the keyspace's contents with what r yields (a keyspace_dump stream). Sets
 * *max_stamp to the largest version read. Returns 0, or -EINVAL on a malformed stream (or the
 * first negative code r returned); on failure the keyspace is left empty. */
int keyspace_load(keyspace_t *ks, io_read_fn *r, void *r_ctx, stamp_t *max_stamp);

#endif
