/* record: a write command as the log holds it, batches of them, and their application to the
 * keyspace. Layout (little endian; see keyspace.h): u8 version, u64 stamp, i64 time_ms, u32 argc,
 * then argc times (u32 length, bytes); a batch is u8 version=2, u32 count, then count times
 * (u32 length, record). Encoding is one reservation and a copy per argument; applying
 * decodes into slices that point into the record (no copy, no allocation up to
 * KV_RECORD_STACK_ARGS arguments), then runs the command exactly as the node first would have. */
#include <assert.h>
#include <errno.h>

#include "core/mem.h"
#include "kv/db.h"

#define RECORD_VERSION 1
#define RECORD_HEADER_BYTES (1 + 8 + 8 + 4)
#define BATCH_VERSION 2
#define BATCH_HEADER_BYTES (1 + 4)

static inline void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static inline uint32_t get_u32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        v |= (uint32_t)p[i] << (8 * i);
    }
    return v;
}

static inline uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

size_t kv_record_size(int argc, const slice_t *argv) {
    size_t size = RECORD_HEADER_BYTES;
    for (int i = 0; i < argc; i++) {
        assert(argv[i].len <= UINT32_MAX);
        size += 4 + argv[i].len;
    }
    return size;
}

void kv_record_encode(buf_t *out, stamp_t stamp, int64_t time_ms, int argc, const slice_t *argv) {
    assert(out && argv);
    assert(argc > 0);
    size_t size = kv_record_size(argc, argv);
    buf_reserve(out, size);
    uint8_t *p = (uint8_t *)out->data + out->len;
    p[0] = RECORD_VERSION;
    put_u64(p + 1, stamp);
    put_u64(p + 9, (uint64_t)time_ms);
    put_u32(p + 17, (uint32_t)argc);
    p += RECORD_HEADER_BYTES;
    for (int i = 0; i < argc; i++) {
        put_u32(p, (uint32_t)argv[i].len);
        if (argv[i].len) {
            memcpy(p + 4, argv[i].ptr, argv[i].len);
        }
        p += 4 + argv[i].len;
    }
    out->len += size;
}

void kv_record_prefetch(const keyspace_t *ks, const char *data, size_t len, bool chain) {
    const uint8_t *p = (const uint8_t *)data;
    if (len < RECORD_HEADER_BYTES + 4 || p[0] != RECORD_VERSION || get_u32(p + 17) < 2) {
        return;
    }
    /* Every keyed write command takes its first key right after its name. */
    size_t at = RECORD_HEADER_BYTES + 4 + (size_t)get_u32(p + RECORD_HEADER_BYTES);
    if (at > len || len - at < 4 || get_u32(p + at) > len - at - 4) {
        return;
    }
    slice_t key = {(const char *)p + at + 4, get_u32(p + at)};
    dict_prefetch(&ks->keys, dict_hash(&ks->keys, key), chain);
}

stamp_t kv_record_stamp(const char *data, size_t len) {
    if (!data || len < RECORD_HEADER_BYTES || (uint8_t)data[0] != RECORD_VERSION) {
        return 0;
    }
    return get_u64((const uint8_t *)data + 1);
}

/* Decodes the arguments into argv (argc of them). 0, or -EINVAL when they do not fill the
 * record exactly. */
static int decode_args(const uint8_t *p, size_t len, uint32_t argc, slice_t *argv) {
    size_t at = RECORD_HEADER_BYTES;
    for (uint32_t i = 0; i < argc; i++) {
        if (len - at < 4) {
            return -EINVAL;
        }
        uint32_t n = get_u32(p + at);
        at += 4;
        if (len - at < n) {
            return -EINVAL;
        }
        argv[i] = (slice_t){(const char *)p + at, n};
        at += n;
    }
    return at == len ? 0 : -EINVAL;
}

static int arity_ok(const command_t *cmd, uint32_t argc) {
    return cmd->arity >= 0 ? argc == (uint32_t)cmd->arity : argc >= (uint32_t)-cmd->arity;
}

int kv_record_apply(keyspace_t *ks, hlc_t *clock, uint64_t *rng, const char *data, size_t len,
                    reply_t *reply, uint64_t *dirty) {
    assert(ks && clock && rng);
    assert(data || len == 0);
    const uint8_t *p = (const uint8_t *)data;
    if (len < RECORD_HEADER_BYTES || p[0] != RECORD_VERSION) {
        return -EINVAL;
    }
    uint32_t argc = get_u32(p + 17);
    if (argc == 0 || argc > (len - RECORD_HEADER_BYTES) / 4 || argc > INT32_MAX) {
        return -EINVAL;
    }
    slice_t stack_argv[KV_RECORD_STACK_ARGS];
    slice_t *argv = argc <= KV_RECORD_STACK_ARGS ? stack_argv : mem_alloc(argc * sizeof *argv);
    int rc = decode_args(p, len, argc, argv);
    const command_t *cmd = rc == 0 ? kv_command_lookup(argv[0].ptr, argv[0].len) : NULL;
    if (!cmd || !(cmd->flags & CMD_WRITE) || !arity_ok(cmd, argc)) {
        rc = -EINVAL;
        goto done;
    }
    stamp_t stamp = get_u64(p + 1);
    hlc_observe(clock, stamp);
    reply_t discard = {NULL, 2};
    exec_ctx_t ctx = {
        .ks = ks,
        .reply = reply ? reply : &discard,
        .argc = (int)argc,
        .argv = argv,
        .now_ms = (int64_t)get_u64(p + 9),
        .stamp = stamp,
        .clock = clock,
        .rng = rng,
    };
    keyspace_execute(cmd, &ctx);
    if (dirty) {
        *dirty = ctx.dirty;
    }
done:
    if (argv != stack_argv) {
        mem_free(argv);
    }
    return rc;
}

/* ---- batches ---- */

void kv_batch_reset(buf_t *batch) {
    buf_clear(batch);
    buf_reserve(batch, BATCH_HEADER_BYTES);
    uint8_t *p = (uint8_t *)batch->data;
    p[0] = BATCH_VERSION;
    put_u32(p + 1, 0);
    batch->len = BATCH_HEADER_BYTES;
}

uint32_t kv_batch_count(const buf_t *batch) {
    return batch->len >= BATCH_HEADER_BYTES ? get_u32((const uint8_t *)batch->data + 1) : 0;
}

void kv_batch_add(buf_t *batch, stamp_t stamp, int64_t time_ms, int argc, const slice_t *argv) {
    assert(batch->len >= BATCH_HEADER_BYTES);
    size_t at = batch->len;
    buf_reserve(batch, 4);
    batch->len += 4;
    kv_record_encode(batch, stamp, time_ms, argc, argv);
    uint8_t *p = (uint8_t *)batch->data;
    put_u32(p + at, (uint32_t)(batch->len - at - 4));
    put_u32(p + 1, get_u32(p + 1) + 1);
}

void kv_batch_entry(const buf_t *batch, const char **data, size_t *len) {
    assert(kv_batch_count(batch) > 0);
    if (kv_batch_count(batch) == 1) {
        *data = batch->data + BATCH_HEADER_BYTES + 4;
        *len = batch->len - BATCH_HEADER_BYTES - 4;
    } else {
        *data = batch->data;
        *len = batch->len;
    }
}

int kv_batch_open(kv_batch_iter_t *it, const char *data, size_t len) {
    const uint8_t *p = (const uint8_t *)data;
    *it = (kv_batch_iter_t){NULL, 0, 0, false}; /* nothing to iterate, unless set below */
    if (len >= RECORD_HEADER_BYTES && p[0] == RECORD_VERSION) {
        *it = (kv_batch_iter_t){data, len, 1, true};
        return 0;
    }
    if (len < BATCH_HEADER_BYTES || p[0] != BATCH_VERSION) {
        return -EINVAL;
    }
    *it = (kv_batch_iter_t){data + BATCH_HEADER_BYTES, len - BATCH_HEADER_BYTES, get_u32(p + 1),
                            false};
    return 0;
}

int kv_batch_next(kv_batch_iter_t *it, const char **record, size_t *len) {
    if (it->remain == 0) {
        return 0;
    }
    it->remain--;
    if (it->bare) {
        *record = it->next;
        *len = it->left;
        it->left = 0;
        return 1;
    }
    if (it->left < 4 || get_u32((const uint8_t *)it->next) > it->left - 4) {
        it->remain = 0;
        return -EINVAL;
    }
    *len = get_u32((const uint8_t *)it->next);
    *record = it->next + 4;
    it->next += 4 + *len;
    it->left -= 4 + *len;
    return 1;
}
