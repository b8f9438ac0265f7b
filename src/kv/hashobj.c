/* hashobj: small (packed in the entry) and table encodings of hash values (see hashobj.h). */
#include "kv/hashobj.h"

#include <assert.h>
#include <errno.h>

#include "core/mem.h"
#include "core/rng.h"

/* ---- table form ---- */

static slice_t field_key(const dict_node_t *node) {
    const hash_field_t *f = (const hash_field_t *)node;
    uint64_t flen, vlen;
    const uint8_t *p = f->data;
    p += varint_get(p, &flen);
    p += varint_get(p, &vlen);
    return (slice_t){(const char *)p, (size_t)flen};
}

static const dict_type_t field_dict_type = {field_key};

void hash_field_pair(const dict_node_t *node, slice_t *field, slice_t *value) {
    const hash_field_t *f = (const hash_field_t *)node;
    uint64_t flen, vlen;
    const uint8_t *p = f->data;
    p += varint_get(p, &flen);
    p += varint_get(p, &vlen);
    *field = (slice_t){(const char *)p, (size_t)flen};
    *value = (slice_t){(const char *)p + flen, (size_t)vlen};
}

static hash_field_t *field_new(slice_t field, slice_t value) {
    size_t size = sizeof(hash_field_t) + varint_size(field.len) + varint_size(value.len) +
                  field.len + value.len;
    hash_field_t *f = mem_alloc(size);
    f->node.next = NULL;
    uint8_t *p = f->data;
    p += varint_put(p, field.len);
    p += varint_put(p, value.len);
    if (field.len) {
        memcpy(p, field.ptr, field.len);
    }
    if (value.len) {
        memcpy(p + field.len, value.ptr, value.len);
    }
    return f;
}

static void field_free_cb(void *arg, dict_node_t *node) {
    (void)arg;
    mem_free(node);
}

dict_t *hash_table(const kv_entry_t *e) {
    assert(entry_type(e) == KV_HASH);
    if (!entry_is_table(e)) {
        return NULL;
    }
    dict_t *d;
    memcpy(&d, entry_layout(e).blob, sizeof d);
    return d;
}

static int table_set(dict_t *d, slice_t field, slice_t value) {
    uint64_t h = dict_hash(d, field);
    dict_node_t **link = dict_find_link(d, field, h);
    if (!link) {
        dict_add(d, &field_new(field, value)->node, h);
        return 1;
    }
    slice_t old_field, old_value;
    hash_field_pair(*link, &old_field, &old_value);
    if (old_value.len == value.len) {
        if (value.len) {
            memcpy((char *)old_value.ptr, value.ptr, value.len);
        }
        return 0;
    }
    dict_node_t *old = *link;
    dict_relink(link, &field_new(field, value)->node);
    mem_free(old);
    return 0;
}

/* ---- small form ---- */

kv_entry_t *hash_new(slice_t key) {
    kv_entry_t *e = entry_new(key, 1, KV_HASH, 0);
    entry_layout(e).blob[0] = 0; /* count 0 */
    return e;
}

typedef struct small_pos {
    size_t offset;     /* of the pair in the blob */
    size_t pair_bytes; /* encoded size of the pair */
    slice_t value;
} small_pos_t;

/* Finds field in a small hash; 1 and *pos when found. */
static int small_find(const kv_entry_t *e, slice_t field, small_pos_t *pos) {
    entry_layout_t l = entry_layout(e);
    uint64_t count, flen, vlen;
    const uint8_t *p = l.blob + varint_get(l.blob, &count);
    for (uint64_t i = 0; i < count; i++) {
        const uint8_t *start = p;
        p += varint_get(p, &flen);
        const uint8_t *f = p;
        p += flen;
        p += varint_get(p, &vlen);
        if (flen == field.len && (flen == 0 || memcmp(f, field.ptr, flen) == 0)) {
            pos->offset = (size_t)(start - l.blob);
            pos->pair_bytes = (size_t)(p + vlen - start);
            pos->value = (slice_t){(const char *)p, (size_t)vlen};
            return 1;
        }
        p += vlen;
    }
    return 0;
}

static uint64_t small_count(const kv_entry_t *e) {
    uint64_t count;
    varint_get(entry_layout(e).blob, &count);
    return count;
}

/* Rewrites the count varint at the head of the blob (its width may change). */
static kv_entry_t *small_put_count(kv_entry_t *e, uint64_t count) {
    uint8_t tmp[10];
    size_t n = varint_put(tmp, count);
    return entry_splice_blob(e, 0, varint_size(small_count(e)), tmp, n);
}

static size_t pair_encode(uint8_t *dst, slice_t field, slice_t value) {
    size_t n = varint_put(dst, field.len);
    if (field.len) {
        memcpy(dst + n, field.ptr, field.len);
    }
    n += field.len;
    n += varint_put(dst + n, value.len);
    if (value.len) {
        memcpy(dst + n, value.ptr, value.len);
    }
    return n + value.len;
}

/* Converts a small hash to table form; returns the (moved) entry. */
static kv_entry_t *small_to_table(kv_entry_t *e, uint64_t seed) {
    dict_t *d = mem_alloc(sizeof *d);
    dict_init(d, &field_dict_type, seed);
    hash_iter_t it;
    slice_t f, v;
    hash_iter_init(&it, e);
    while (hash_iter_next(&it, &f, &v)) {
        dict_add(d, &field_new(f, v)->node, dict_hash(d, f));
    }
    e = entry_resize_blob(e, sizeof d);
    memcpy(entry_layout(e).blob, &d, sizeof d);
    e->meta |= ENTRY_META_TABLE;
    return e;
}

int hash_set(kv_entry_t **ep, slice_t field, slice_t value, uint64_t seed) {
    assert(ep && *ep);
    assert(entry_type(*ep) == KV_HASH);
    kv_entry_t *e = *ep;
    if (!entry_is_table(e)) {
        small_pos_t pos;
        int found = small_find(e, field, &pos);
        if (found && pos.value.len == value.len) {
            if (value.len) {
                memcpy((char *)pos.value.ptr, value.ptr, value.len);
            }
            return 0;
        }
        int fits = field.len <= HASH_SMALL_VALUE_MAX && value.len <= HASH_SMALL_VALUE_MAX &&
                   (found || small_count(e) < HASH_SMALL_ENTRIES_MAX);
        if (fits) {
            uint8_t pair[2 * (HASH_SMALL_VALUE_MAX + 2)];
            size_t n = pair_encode(pair, field, value);
            if (found) {
                *ep = entry_splice_blob(e, pos.offset, pos.pair_bytes, pair, n);
                return 0;
            }
            e = entry_splice_blob(e, entry_layout(e).blob_len, 0, pair, n);
            *ep = small_put_count(e, small_count(e) + 1);
            return 1;
        }
        e = small_to_table(e, seed);
        *ep = e;
    }
    return table_set(hash_table(e), field, value);
}

int hash_delete(kv_entry_t **ep, slice_t field) {
    assert(ep && *ep);
    kv_entry_t *e = *ep;
    if (entry_is_table(e)) {
        dict_t *d = hash_table(e);
        dict_node_t **link = dict_find_link(d, field, dict_hash(d, field));
        if (!link) {
            return 0;
        }
        mem_free(dict_unlink(d, link));
        return 1;
    }
    small_pos_t pos;
    if (!small_find(e, field, &pos)) {
        return 0;
    }
    e = entry_splice_blob(e, pos.offset, pos.pair_bytes, NULL, 0);
    *ep = small_put_count(e, small_count(e) - 1);
    return 1;
}

size_t hash_len(const kv_entry_t *e) {
    dict_t *d = hash_table(e);
    return d ? dict_count(d) : (size_t)small_count(e);
}

int hash_get(const kv_entry_t *e, slice_t field, slice_t *value) {
    dict_t *d = hash_table(e);
    if (d) {
        dict_node_t *node = dict_find(d, field, dict_hash(d, field));
        if (!node) {
            return 0;
        }
        slice_t f;
        hash_field_pair(node, &f, value);
        return 1;
    }
    small_pos_t pos;
    if (!small_find(e, field, &pos)) {
        return 0;
    }
    *value = pos.value;
    return 1;
}

void hash_free_value(kv_entry_t *e) {
    dict_t *d = hash_table(e);
    if (d) {
        dict_clear(d, field_free_cb, NULL);
        mem_free(d);
    }
}

kv_entry_t *hash_clone(const kv_entry_t *e, slice_t key, uint64_t seed) {
    kv_entry_t *n = entry_clone(e, key);
    dict_t *src = hash_table(e);
    if (src) {
        dict_t *d = mem_alloc(sizeof *d);
        dict_init(d, &field_dict_type, seed);
        dict_iter_t it;
        dict_iter_init(&it, src);
        for (const dict_node_t *node = dict_iter_next(&it); node; node = dict_iter_next(&it)) {
            slice_t f, v;
            hash_field_pair(node, &f, &v);
            dict_add(d, &field_new(f, v)->node, dict_hash(d, f));
        }
        memcpy(entry_layout(n).blob, &d, sizeof d);
    }
    return n;
}

/* ---- iteration and sampling ---- */

void hash_iter_init(hash_iter_t *it, const kv_entry_t *e) {
    dict_t *d = hash_table(e);
    it->table = d != NULL;
    if (d) {
        dict_iter_init(&it->it, d);
        return;
    }
    entry_layout_t l = entry_layout(e);
    uint64_t count;
    it->p = l.blob + varint_get(l.blob, &count);
    it->end = l.blob + l.blob_len;
}

int hash_iter_next(hash_iter_t *it, slice_t *field, slice_t *value) {
    if (it->table) {
        const dict_node_t *node = dict_iter_next(&it->it);
        if (!node) {
            return 0;
        }
        hash_field_pair(node, field, value);
        return 1;
    }
    if (it->p >= it->end) {
        return 0;
    }
    uint64_t flen, vlen;
    it->p += varint_get(it->p, &flen);
    *field = (slice_t){(const char *)it->p, (size_t)flen};
    it->p += flen;
    it->p += varint_get(it->p, &vlen);
    *value = (slice_t){(const char *)it->p, (size_t)vlen};
    it->p += vlen;
    return 1;
}

void hash_small_pair_at(const kv_entry_t *e, size_t index, slice_t *field, slice_t *value) {
    assert(!entry_is_table(e));
    assert(index < small_count(e));
    hash_iter_t it;
    hash_iter_init(&it, e);
    for (size_t i = 0; i <= index; i++) {
        hash_iter_next(&it, field, value);
    }
}

void hash_random_pair(const kv_entry_t *e, uint64_t *rng, slice_t *field, slice_t *value) {
    size_t n = hash_len(e);
    assert(n > 0);
    dict_t *d = hash_table(e);
    if (d) {
        hash_field_pair(dict_random(d, rng), field, value);
        return;
    }
    hash_small_pair_at(e, (size_t)rng_below(rng, n), field, value);
}

int hash_check(const kv_entry_t *e) {
    dict_t *d = hash_table(e);
    if (d) {
        return dict_check(d);
    }
    entry_layout_t l = entry_layout(e);
    uint64_t count, flen, vlen, seen = 0;
    const uint8_t *p = l.blob + varint_get(l.blob, &count), *end = l.blob + l.blob_len;
    while (p < end) {
        p += varint_get(p, &flen);
        p += flen;
        p += varint_get(p, &vlen);
        p += vlen;
        seen++;
    }
    return (p == end && seen == count && count <= HASH_SMALL_ENTRIES_MAX) ? 0 : -EINVAL;
}
