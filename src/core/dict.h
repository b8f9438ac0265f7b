/* dict: an intrusive, chained hash table with incremental rehashing and a resize-proof cursor.
 *
 * Entries are the caller's allocations; each begins with a dict_node_t (the chain link), so a
 * table costs one pointer per bucket and one per entry and nothing else (no separate node
 * allocation). The table finds an entry's key through dict_type_t.key.
 *
 * Sizes are powers of two. The table grows to twice its size when it holds as many entries as
 * buckets, and shrinks when it is less than 1/8 full. A resize never moves everything at once:
 * a second table is allocated and every later insertion or removal moves a few buckets
 * (dict_rehash_steps moves more, from a timer), so no single call is slow.
 *
 * Scanning uses the reverse-binary cursor: the cursor's bits are incremented from the most
 * significant end of the bucket index, so growing or shrinking the table between two calls
 * never makes the scan skip a bucket it has not covered yet. Every entry present for the whole
 * scan is returned at least once; some may be returned more than once.
 *
 * Links: dict_find_link returns the address of the pointer that points at an entry (a bucket
 * slot or the previous entry's next field). It stays valid until the next call that changes
 * the table (dict_add, dict_unlink, dict_rehash_steps, dict_clear).
 *
 * The hash is keyed by a per-table seed, so bucket placement cannot be predicted by a client
 * that does not know it (hash flooding). */
#ifndef POLIS_CORE_DICT_H
#define POLIS_CORE_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef struct dict_node {
    struct dict_node *next;
} dict_node_t;

typedef struct dict_type {
    /* The key the entry is filed under. */
    slice_t (*key)(const dict_node_t *node);
} dict_type_t;

typedef struct dict {
    const dict_type_t *type;
    uint64_t seed;
    dict_node_t **table[2]; /* table[1] exists only while rehashing */
    size_t size[2];         /* buckets; 0 when the table is absent */
    size_t count;           /* entries in both tables */
    size_t rehash_index;    /* next bucket of table[0] to move, while table[1] exists */
} dict_t;

#define DICT_SIZE_MIN 4
/* The largest table (2^40 buckets): growth stops there and chains get longer instead. */
#define DICT_SIZE_MAX ((size_t)1 << 40)
/* Empty buckets one rehash step may pass over for each bucket it is asked to move. */
#define DICT_REHASH_EMPTY_VISITS 10

/* A seeded 64-bit hash of n bytes (multiply-fold mixing; the seed keys every step). */
uint64_t hash_bytes(uint64_t seed, const void *p, size_t n);

void dict_init(dict_t *d, const dict_type_t *type, uint64_t seed);
/* Frees the tables; calls free_node(arg, node) for every entry first, if given. The dict is
 * empty and reusable afterwards. */
void dict_clear(dict_t *d, void (*free_node)(void *arg, dict_node_t *node), void *arg);

static inline size_t dict_count(const dict_t *d) { return d->count; }
static inline int dict_is_rehashing(const dict_t *d) { return d->table[1] != NULL; }
static inline uint64_t dict_hash(const dict_t *d, slice_t key) {
    return hash_bytes(d->seed, key.ptr, key.len);
}

/* The entry filed under key (whose hash is `hash`), or NULL. Changes nothing. */
dict_node_t *dict_find(const dict_t *d, slice_t key, uint64_t hash);
/* The link pointing at the entry filed under key, or NULL. Changes nothing. */
dict_node_t **dict_find_link(const dict_t *d, slice_t key, uint64_t hash);
/* Starts loading what a lookup of `hash` will read, without waiting for it: the bucket slot,
 * or with chain set the entry the slot points at (read the slot only once its load was started
 * a little earlier, or this waits for it). Changes nothing; a hint for runs of lookups. */
void dict_prefetch(const dict_t *d, uint64_t hash, bool chain);
/* Files node under its key. Precondition: no entry with that key is present. */
void dict_add(dict_t *d, dict_node_t *node, uint64_t hash);
/* Removes the entry *link points at (from dict_find_link) and returns it; the caller owns it. */
dict_node_t *dict_unlink(dict_t *d, dict_node_t **link);

/* Puts replacement where *link's entry was (same key; the old entry is the caller's again). */
static inline void dict_relink(dict_node_t **link, dict_node_t *replacement) {
    replacement->next = (*link)->next;
    *link = replacement;
}

/* Moves up to `buckets` buckets of an ongoing rehash (passing at most
 * buckets * DICT_REHASH_EMPTY_VISITS empty ones); with none in progress, starts shrinking a
 * sparse table. Returns 1 while rehashing remains. Called from a timer, it finishes resizes of
 * tables nobody writes to. */
int dict_rehash_steps(dict_t *d, size_t buckets);

typedef void dict_visit_cb(void *arg, const dict_node_t *node);

/* One scan step: calls visit for every entry of the bucket(s) the cursor names and returns the
 * next cursor (0 when the scan is complete). Start with cursor 0. Changes nothing; visit must
 * not change the dict. */
uint64_t dict_scan(const dict_t *d, uint64_t cursor, dict_visit_cb *visit, void *arg);

/* A random entry (every entry has a chance; chains make it approximately uniform), or NULL
 * when empty. Changes nothing but *rng. */
dict_node_t *dict_random(const dict_t *d, uint64_t *rng);

/* Plain iteration over a dict that does not change meanwhile (dump, KEYS). */
typedef struct dict_iter {
    const dict_t *d;
    int table;
    size_t bucket;
    const dict_node_t *next;
} dict_iter_t;

void dict_iter_init(dict_iter_t *it, const dict_t *d);
/* The next entry, or NULL at the end. */
const dict_node_t *dict_iter_next(dict_iter_t *it);

/* Checks the table's invariants (counts, every entry in the bucket its hash names, no entry
 * left in table[0] below rehash_index). For tests and assertions; O(n). Returns 0 or -EINVAL. */
int dict_check(const dict_t *d);

#endif
