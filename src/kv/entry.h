/* entry: one key of the keyspace in one allocation (see docs/ARCHITECTURE.md, "Keyspace").
 *
 *   offset 0   dict_node_t  next     chain link of the keyspace's hash table
 *          8   stamp_t      version  HLC stamp of the key's last write
 *         16   uint32_t     meta     lru:24 | type:2 | has_expire:1 | table:1
 *         20   [int64 expire_ms, uint32 volatile_index]   only when has_expire
 *              varint key_len, varint blob_len, key bytes, blob bytes
 *
 * The blob is the value: a string's bytes; a small hash's field/value list (kv/hashobj.h); or,
 * for a hash in table form (the `table` bit), the pointer to its dict. A 16-byte key with a
 * 100-byte value takes 138 bytes, one malloc block (152 usable), where a Redis key takes four
 * (dict entry, key, object header, value).
 *
 * Entries move: any change of a blob's length or of has_expire may reallocate the entry; the
 * functions that can do so return the new address, with the chain link (node.next) and the
 * volatile index carried over, and the caller (kv/db.c) re-links it. */
#ifndef POLIS_KV_ENTRY_H
#define POLIS_KV_ENTRY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/dict.h"
#include "core/hlc.h"

enum kv_type { KV_STRING = 0, KV_HASH = 1 };

typedef struct kv_entry {
    dict_node_t node;
    stamp_t version;
    uint32_t meta;
    uint8_t data[];
} kv_entry_t;

#define ENTRY_LRU_BITS 24
#define ENTRY_LRU_MAX ((1u << ENTRY_LRU_BITS) - 1)
/* The LRU clock ticks once a second (as Redis' does); 24 bits wrap after 194 days. */
#define ENTRY_LRU_RESOLUTION_MS 1000
#define ENTRY_META_TYPE_SHIFT 24
#define ENTRY_META_EXPIRE (1u << 26)
#define ENTRY_META_TABLE (1u << 27)
#define ENTRY_EXPIRE_BYTES 12
/* A string or a field may hold at most this many bytes (Redis' proto-max-bulk-len default). */
#define KV_STRING_MAX ((size_t)512 * 1024 * 1024)

/* ---- varints (LEB128, at most 5 bytes for the 32-bit lengths used here) ---- */
static inline size_t varint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static inline size_t varint_put(uint8_t *p, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Trusted input only (bytes this process wrote). */
static inline size_t varint_get(const uint8_t *p, uint64_t *v) {
    uint64_t x = 0;
    size_t n = 0;
    int shift = 0;
    while (p[n] & 0x80) {
        x |= (uint64_t)(p[n++] & 0x7f) << shift;
        shift += 7;
    }
    x |= (uint64_t)p[n++] << shift;
    *v = x;
    return n;
}

/* ---- meta ---- */
static inline int entry_type(const kv_entry_t *e) {
    return (int)((e->meta >> ENTRY_META_TYPE_SHIFT) & 3u);
}
static inline int entry_has_expire(const kv_entry_t *e) { return (e->meta & ENTRY_META_EXPIRE) != 0; }
static inline int entry_is_table(const kv_entry_t *e) { return (e->meta & ENTRY_META_TABLE) != 0; }
static inline uint32_t entry_lru(const kv_entry_t *e) { return e->meta & ENTRY_LRU_MAX; }
static inline uint32_t lru_clock(int64_t now_ms) {
    return (uint32_t)((now_ms < 0 ? 0 : now_ms) / ENTRY_LRU_RESOLUTION_MS) & ENTRY_LRU_MAX;
}
static inline void entry_touch(kv_entry_t *e, int64_t now_ms) {
    e->meta = (e->meta & ~ENTRY_LRU_MAX) | lru_clock(now_ms);
}
/* Seconds since the entry was last touched, allowing for one wrap of the clock. */
static inline uint32_t entry_idle_s(const kv_entry_t *e, int64_t now_ms) {
    uint32_t now = lru_clock(now_ms), then = entry_lru(e);
    return now >= then ? now - then : (ENTRY_LRU_MAX - then) + now;
}

/* ---- expire block ---- */
static inline int64_t entry_expire(const kv_entry_t *e) {
    if (!entry_has_expire(e)) {
        return -1;
    }
    int64_t ms;
    memcpy(&ms, e->data, sizeof ms);
    return ms;
}
static inline void entry_expire_put(kv_entry_t *e, int64_t ms) { memcpy(e->data, &ms, sizeof ms); }
static inline uint32_t entry_volatile_index(const kv_entry_t *e) {
    uint32_t i;
    memcpy(&i, e->data + 8, sizeof i);
    return i;
}
static inline void entry_volatile_index_put(kv_entry_t *e, uint32_t i) {
    memcpy(e->data + 8, &i, sizeof i);
}
/* Expired at now_ms: an expire time at or before now. */
static inline int entry_expired(const kv_entry_t *e, int64_t now_ms) {
    return entry_has_expire(e) && entry_expire(e) <= now_ms;
}

/* ---- key and blob ---- */
typedef struct entry_layout {
    const uint8_t *key;
    size_t key_len;
    uint8_t *blob;
    size_t blob_len;
} entry_layout_t;

static inline entry_layout_t entry_layout(const kv_entry_t *e) {
    const uint8_t *p = e->data + (entry_has_expire(e) ? ENTRY_EXPIRE_BYTES : 0);
    uint64_t klen, blen;
    p += varint_get(p, &klen);
    p += varint_get(p, &blen);
    entry_layout_t l = {p, (size_t)klen, (uint8_t *)p + klen, (size_t)blen};
    return l;
}
static inline slice_t entry_key(const kv_entry_t *e) {
    entry_layout_t l = entry_layout(e);
    return (slice_t){(const char *)l.key, l.key_len};
}
static inline slice_t entry_blob(const kv_entry_t *e) {
    entry_layout_t l = entry_layout(e);
    return (slice_t){(const char *)l.blob, l.blob_len};
}

/* A new entry for key with room for blob_len blob bytes (left uninitialised), the given type,
 * no expire time, version 0, LRU clock 0. Never NULL (allocation failure aborts). */
kv_entry_t *entry_new(slice_t key, size_t blob_len, int type, int has_expire);
/* Returns an entry with the same key, meta, version and expire block whose blob is blob_len
 * bytes long; the first min(old, new) blob bytes are kept. May move the entry (e is then
 * freed). */
kv_entry_t *entry_resize_blob(kv_entry_t *e, size_t blob_len);
/* As entry_resize_blob, but a block that must grow gets room for half as much again (capped at
 * ENTRY_GROW_SLACK_MAX), so a string built by repeated APPEND is copied O(log n) times. */
#define ENTRY_GROW_SLACK_MAX ((size_t)1 << 20)
kv_entry_t *entry_grow_blob(kv_entry_t *e, size_t blob_len);
/* Replaces blob bytes [offset, offset+old_n) with bytes[0..new_n) (bytes may be NULL: the new
 * bytes are left for the caller to write), moving the rest of the blob. May move the entry. */
kv_entry_t *entry_splice_blob(kv_entry_t *e, size_t offset, size_t old_n, const void *bytes,
                              size_t new_n);
/* Returns the entry with an expire block added (expire time left for the caller to write) or
 * removed. May move the entry. */
kv_entry_t *entry_set_has_expire(kv_entry_t *e, int has_expire);
/* A copy of e (string blob bytes copied; a hash table's pointer is copied as is) under `key`. */
kv_entry_t *entry_clone(const kv_entry_t *e, slice_t key);
/* Frees the entry's own block (not a hash table it points at: see hashobj_free). */
void entry_free(kv_entry_t *e);

#endif
