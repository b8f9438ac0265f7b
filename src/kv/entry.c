/* entry: allocation and reshaping of keyspace entries (layout in entry.h). */
#include "kv/entry.h"

#include <assert.h>

#include "core/mem.h"

static size_t header_size(int has_expire) {
    return offsetof(kv_entry_t, data) + (has_expire ? ENTRY_EXPIRE_BYTES : 0);
}

static size_t alloc_size(int has_expire, size_t key_len, size_t blob_len) {
    return header_size(has_expire) + varint_size(key_len) + varint_size(blob_len) + key_len +
           blob_len;
}

/* Writes the two lengths and the key after the header; returns where the blob starts. */
static uint8_t *write_lengths_and_key(kv_entry_t *e, slice_t key, size_t blob_len) {
    uint8_t *p = e->data + (entry_has_expire(e) ? ENTRY_EXPIRE_BYTES : 0);
    p += varint_put(p, key.len);
    p += varint_put(p, blob_len);
    if (key.len) {
        memcpy(p, key.ptr, key.len);
    }
    return p + key.len;
}

kv_entry_t *entry_new(slice_t key, size_t blob_len, int type, int has_expire) {
    assert(key.len <= KV_STRING_MAX);
    assert(type == KV_STRING || type == KV_HASH);
    kv_entry_t *e = mem_alloc(alloc_size(has_expire, key.len, blob_len));
    e->node.next = NULL;
    e->version = 0;
    e->meta = ((uint32_t)type << ENTRY_META_TYPE_SHIFT) | (has_expire ? ENTRY_META_EXPIRE : 0);
    if (has_expire) {
        entry_expire_put(e, 0);
        entry_volatile_index_put(e, 0);
    }
    write_lengths_and_key(e, key, blob_len);
    return e;
}

/* Builds a copy of e with the given expire flag and blob length, keeping min(old,new) blob
 * bytes; the caller frees e. */
static kv_entry_t *rebuild(const kv_entry_t *e, int has_expire, size_t blob_len) {
    entry_layout_t l = entry_layout(e);
    slice_t key = {(const char *)l.key, l.key_len};
    kv_entry_t *n = mem_alloc(alloc_size(has_expire, key.len, blob_len));
    n->node.next = e->node.next; /* the chain stays intact: re-linking is `*link = n` */
    n->version = e->version;
    n->meta = (e->meta & ~ENTRY_META_EXPIRE) | (has_expire ? ENTRY_META_EXPIRE : 0);
    if (has_expire) {
        entry_expire_put(n, entry_has_expire(e) ? entry_expire(e) : 0);
        entry_volatile_index_put(n, entry_has_expire(e) ? entry_volatile_index(e) : 0);
    }
    uint8_t *blob = write_lengths_and_key(n, key, blob_len);
    size_t keep = l.blob_len < blob_len ? l.blob_len : blob_len;
    if (keep) {
        memcpy(blob, l.blob, keep);
    }
    return n;
}

static kv_entry_t *resize(kv_entry_t *e, size_t blob_len, int greedy) {
    assert(e);
    entry_layout_t l = entry_layout(e);
    if (varint_size(blob_len) != varint_size(l.blob_len)) {
        kv_entry_t *n = rebuild(e, entry_has_expire(e), blob_len);
        entry_free(e);
        return n;
    }
    /* Same layout up to the blob: grow or shrink the block in place where malloc can. */
    size_t offset = (size_t)(l.blob - (uint8_t *)e);
    size_t need = offset + blob_len, have = mem_block_size(e);
    if (need > have) {
        size_t slack = greedy ? blob_len / 2 : 0;
        e = mem_realloc(e, need + (slack < ENTRY_GROW_SLACK_MAX ? slack : ENTRY_GROW_SLACK_MAX));
    } else if (!greedy && need + 64 < have) {
        e = mem_realloc(e, need);
    }
    uint8_t *p = e->data + (entry_has_expire(e) ? ENTRY_EXPIRE_BYTES : 0);
    p += varint_size(l.key_len);
    varint_put(p, blob_len);
    return e;
}

kv_entry_t *entry_resize_blob(kv_entry_t *e, size_t blob_len) { return resize(e, blob_len, 0); }

kv_entry_t *entry_grow_blob(kv_entry_t *e, size_t blob_len) { return resize(e, blob_len, 1); }

kv_entry_t *entry_set_has_expire(kv_entry_t *e, int has_expire) {
    assert(e);
    if (entry_has_expire(e) == (has_expire != 0)) {
        return e;
    }
    kv_entry_t *n = rebuild(e, has_expire, entry_layout(e).blob_len);
    entry_free(e);
    return n;
}

kv_entry_t *entry_clone(const kv_entry_t *e, slice_t key) {
    assert(e);
    entry_layout_t l = entry_layout(e);
    kv_entry_t *n = entry_new(key, l.blob_len, entry_type(e), entry_has_expire(e));
    n->version = e->version;
    n->meta = e->meta;
    if (entry_has_expire(e)) {
        entry_expire_put(n, entry_expire(e));
    }
    if (l.blob_len) {
        memcpy(entry_layout(n).blob, l.blob, l.blob_len);
    }
    return n;
}

void entry_free(kv_entry_t *e) { mem_free(e); }

kv_entry_t *entry_splice_blob(kv_entry_t *e, size_t offset, size_t old_n, const void *bytes,
                              size_t new_n) {
    entry_layout_t l = entry_layout(e);
    assert(offset + old_n <= l.blob_len);
    size_t tail = l.blob_len - offset - old_n;
    size_t new_len = l.blob_len - old_n + new_n;
    if (new_n > old_n) {
        e = entry_resize_blob(e, new_len);
        l = entry_layout(e);
        memmove(l.blob + offset + new_n, l.blob + offset + old_n, tail);
    } else if (new_n < old_n) {
        memmove(l.blob + offset + new_n, l.blob + offset + old_n, tail);
        e = entry_resize_blob(e, new_len);
        l = entry_layout(e);
    }
    if (bytes && new_n) {
        memcpy(l.blob + offset, bytes, new_n);
    }
    return e;
}
