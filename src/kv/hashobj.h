/* hashobj: the value of a hash key, in one of two encodings.
 *
 * Small (the default): the entry's blob itself holds the pairs, packed as
 *     varint count, then count times (varint field_len, field, varint value_len, value)
 * so a small hash is one allocation with its key, and an update is a search plus a memmove.
 * Table: once a hash holds more than HASH_SMALL_ENTRIES_MAX fields, or a field or value longer
 * than HASH_SMALL_VALUE_MAX bytes, it converts (for good) to a dict whose entries are one
 * allocation each (chain link, lengths, field, value); the blob then holds the dict's address.
 * The thresholds are Redis' defaults for its listpack encoding, for the same reason: linear
 * search of a few cache lines beats hashing, up to about there.
 *
 * Functions that change a hash take kv_entry_t ** and may move the entry (the caller re-links
 * it: see db_commit). */
#ifndef POLIS_KV_HASHOBJ_H
#define POLIS_KV_HASHOBJ_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/dict.h"
#include "kv/entry.h"

#define HASH_SMALL_ENTRIES_MAX 128
#define HASH_SMALL_VALUE_MAX 64

/* A new hash entry with no fields (the caller adds at least one before anyone sees it). */
kv_entry_t *hash_new(slice_t key);
size_t hash_len(const kv_entry_t *e);
/* 1 and *value (valid until the hash next changes) when field is present, else 0. */
int hash_get(const kv_entry_t *e, slice_t field, slice_t *value);
/* Sets field to value; returns 1 when the field is new, 0 when it was overwritten. seed keys
 * the dict if the hash converts to a table. */
int hash_set(kv_entry_t **ep, slice_t field, slice_t value, uint64_t seed);
/* Removes field; returns 1 when it was present. */
int hash_delete(kv_entry_t **ep, slice_t field);
/* The dict of a hash in table form, or NULL for a small hash. */
dict_t *hash_table(const kv_entry_t *e);
/* Frees what the entry points at (the table form's dict and fields), not the entry. */
void hash_free_value(kv_entry_t *e);
/* A deep copy of hash entry e under key (version and expire block copied). */
kv_entry_t *hash_clone(const kv_entry_t *e, slice_t key, uint64_t seed);

/* Iteration over field/value pairs of a hash that does not change meanwhile. */
typedef struct hash_iter {
    const uint8_t *p, *end; /* small form */
    dict_iter_t it;         /* table form */
    int table;
} hash_iter_t;

void hash_iter_init(hash_iter_t *it, const kv_entry_t *e);
/* 1 and the next pair, or 0 at the end. */
int hash_iter_next(hash_iter_t *it, slice_t *field, slice_t *value);

/* A table-form field entry, and its pair. */
typedef struct hash_field {
    dict_node_t node;
    uint8_t data[]; /* varint field_len, varint value_len, field, value */
} hash_field_t;

void hash_field_pair(const dict_node_t *node, slice_t *field, slice_t *value);

/* A random pair: uniform for a small hash, approximately so for a table. Precondition:
 * hash_len(e) > 0. */
void hash_random_pair(const kv_entry_t *e, uint64_t *rng, slice_t *field, slice_t *value);
/* The pair at position index (0 <= index < hash_len) of a small hash (O(index)). */
void hash_small_pair_at(const kv_entry_t *e, size_t index, slice_t *field, slice_t *value);

/* Checks a small hash's packing or a table's invariants. 0 or -EINVAL. For tests. */
int hash_check(const kv_entry_t *e);

#endif
