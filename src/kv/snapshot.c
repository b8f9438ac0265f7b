/* snapshot: the keyspace as a byte stream (keyspace_dump) and back (keyspace_load).
 *
 * Format (little endian):
 *   "PKV" u8 format=1
 *   per key: u8 kind (1 string, 2 hash), u64 version, i64 expire_ms (-1: none),
 *            u32 key_len, key,
 *            string: u32 len, bytes
 *            hash:   u32 count (> 0), count times (u32 field_len, field, u32 value_len, value)
 *   u8 0xFF, u64 number of keys
 * Expired keys not yet removed are written too: they are logically absent either way, and the
 * dump must not depend on the time (it runs in a forked child, read only). */
#include <assert.h>
#include <errno.h>

#include "core/mem.h"
#include "kv/db.h"
#include "kv/hashobj.h"

#define SNAP_MAGIC "PKV"
#define SNAP_FORMAT 1
#define SNAP_KIND_STRING 1
#define SNAP_KIND_HASH 2
#define SNAP_END 0xFF
/* Bytes gathered before each call of the writer. */
#define SNAP_CHUNK_BYTES 16384

typedef struct snap_writer {
    io_write_fn *write;
    void *ctx;
    int rc;
    size_t len;
    uint8_t chunk[SNAP_CHUNK_BYTES];
} snap_writer_t;

static void w_flush(snap_writer_t *w) {
    if (w->rc == 0 && w->len > 0) {
        w->rc = w->write(w->ctx, w->chunk, w->len);
    }
    w->len = 0;
}

static void w_bytes(snap_writer_t *w, const void *p, size_t n) {
    const uint8_t *s = p;
    while (n > 0 && w->rc == 0) {
        if (w->len == sizeof w->chunk) {
            w_flush(w);
        }
        size_t take = sizeof w->chunk - w->len < n ? sizeof w->chunk - w->len : n;
        memcpy(w->chunk + w->len, s, take);
        w->len += take;
        s += take;
        n -= take;
    }
}

static void w_u64(snap_writer_t *w, uint64_t v) {
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    w_bytes(w, b, 8);
}

static void w_u32(snap_writer_t *w, uint32_t v) {
    uint8_t b[4];
    for (int i = 0; i < 4; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    w_bytes(w, b, 4);
}

static void w_slice(snap_writer_t *w, slice_t s) {
    w_u32(w, (uint32_t)s.len);
    w_bytes(w, s.ptr, s.len);
}

static void dump_entry(snap_writer_t *w, const kv_entry_t *e) {
    uint8_t kind = entry_type(e) == KV_HASH ? SNAP_KIND_HASH : SNAP_KIND_STRING;
    w_bytes(w, &kind, 1);
    w_u64(w, e->version);
    w_u64(w, (uint64_t)entry_expire(e));
    w_slice(w, entry_key(e));
    if (kind == SNAP_KIND_STRING) {
        w_slice(w, entry_blob(e));
        return;
    }
    w_u32(w, (uint32_t)hash_len(e));
    hash_iter_t it;
    slice_t f, v;
    hash_iter_init(&it, e);
    while (hash_iter_next(&it, &f, &v)) {
        w_slice(w, f);
        w_slice(w, v);
    }
}

int keyspace_dump(const keyspace_t *ks, io_write_fn *write, void *write_ctx) {
    assert(ks && write);
    snap_writer_t *w = mem_alloc(sizeof *w);
    w->write = write;
    w->ctx = write_ctx;
    w->rc = 0;
    w->len = 0;
    uint8_t format = SNAP_FORMAT, end = SNAP_END;
    w_bytes(w, SNAP_MAGIC, 3);
    w_bytes(w, &format, 1);
    dict_iter_t it;
    dict_iter_init(&it, &ks->keys);
    for (const dict_node_t *n = dict_iter_next(&it); n && w->rc == 0; n = dict_iter_next(&it)) {
        dump_entry(w, (const kv_entry_t *)n);
    }
    w_bytes(w, &end, 1);
    w_u64(w, dict_count(&ks->keys));
    w_flush(w);
    int rc = w->rc;
    mem_free(w);
    return rc;
}

/* ---- load ---- */

typedef struct snap_reader {
    io_read_fn *read;
    void *ctx;
} snap_reader_t;

static int r_u64(snap_reader_t *r, uint64_t *v) {
    uint8_t b[8];
    int rc = r->read(r->ctx, b, 8);
    *v = 0;
    for (int i = 0; i < 8 && rc == 0; i++) {
        *v |= (uint64_t)b[i] << (8 * i);
    }
    return rc;
}

static int r_u32(snap_reader_t *r, uint32_t *v) {
    uint8_t b[4];
    int rc = r->read(r->ctx, b, 4);
    *v = 0;
    for (int i = 0; i < 4 && rc == 0; i++) {
        *v |= (uint32_t)b[i] << (8 * i);
    }
    return rc;
}

/* Reads a u32 length and that many bytes into b (replacing its contents). */
static int r_slice(snap_reader_t *r, buf_t *b) {
    uint32_t n;
    int rc = r_u32(r, &n);
    if (rc != 0) {
        return rc;
    }
    if (n > KV_STRING_MAX) {
        return -EINVAL;
    }
    buf_clear(b);
    buf_reserve(b, n);
    b->len = n;
    return n ? r->read(r->ctx, b->data, n) : 0;
}

static slice_t buf_slice(const buf_t *b) { return (slice_t){b->data ? b->data : "", b->len}; }

/* Reads a hash's pairs into e (a new empty hash). */
static int load_hash(snap_reader_t *r, kv_entry_t **e, uint64_t seed, buf_t *f, buf_t *v) {
    uint32_t count;
    int rc = r_u32(r, &count);
    if (rc == 0 && count == 0) {
        rc = -EINVAL;
    }
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        if ((rc = r_slice(r, f)) != 0 || (rc = r_slice(r, v)) != 0) {
            break;
        }
        if (!hash_set(e, buf_slice(f), buf_slice(v), seed)) {
            rc = -EINVAL; /* a field twice */
        }
    }
    return rc;
}

/* Reads one key after its kind byte; adds it to ks. */
static int load_entry(keyspace_t *ks, snap_reader_t *r, uint8_t kind, buf_t *key, buf_t *f,
                      buf_t *v, stamp_t *max_stamp) {
    uint64_t version, expire;
    int rc;
    if ((rc = r_u64(r, &version)) != 0 || (rc = r_u64(r, &expire)) != 0 ||
        (rc = r_slice(r, key)) != 0) {
        return rc;
    }
    int64_t when = (int64_t)expire;
    if (when < -1 || (kind != SNAP_KIND_STRING && kind != SNAP_KIND_HASH)) {
        return -EINVAL;
    }
    kv_entry_t *e;
    if (kind == SNAP_KIND_STRING) {
        if ((rc = r_slice(r, v)) != 0) {
            return rc;
        }
        e = entry_new(buf_slice(key), v->len, KV_STRING, 0);
        if (v->len) {
            memcpy(entry_layout(e).blob, v->data, v->len);
        }
    } else {
        e = hash_new(buf_slice(key));
        rc = load_hash(r, &e, ks->seed, f, v);
    }
    if (rc == 0 && when >= 0) {
        e = entry_set_has_expire(e, 1);
        entry_expire_put(e, when);
    }
    e->version = version;
    if (rc == 0) {
        rc = db_load_entry(ks, e) == 0 ? 0 : -EINVAL;
    }
    if (rc != 0) {
        db_entry_free(e);
        return rc;
    }
    *max_stamp = version > *max_stamp ? version : *max_stamp;
    return 0;
}

int keyspace_load(keyspace_t *ks, io_read_fn *read, void *read_ctx, stamp_t *max_stamp) {
    assert(ks && read);
    assert(max_stamp);
    snap_reader_t r = {read, read_ctx};
    buf_t key, f, v;
    buf_init(&key);
    buf_init(&f);
    buf_init(&v);
    db_clear(ks);
    *max_stamp = 0;
    uint8_t head[4];
    int rc = read(read_ctx, head, 4);
    if (rc == 0 && (memcmp(head, SNAP_MAGIC, 3) != 0 || head[3] != SNAP_FORMAT)) {
        rc = -EINVAL;
    }
    for (;;) {
        uint8_t kind;
        if (rc != 0 || (rc = read(read_ctx, &kind, 1)) != 0) {
            break;
        }
        if (kind == SNAP_END) {
            uint64_t count;
            if ((rc = r_u64(&r, &count)) == 0 && count != dict_count(&ks->keys)) {
                rc = -EINVAL;
            }
            break;
        }
        rc = load_entry(ks, &r, kind, &key, &f, &v, max_stamp);
    }
    buf_free(&key);
    buf_free(&f);
    buf_free(&v);
    if (rc != 0) {
        db_clear(ks);
        *max_stamp = 0;
    }
    return rc;
}
