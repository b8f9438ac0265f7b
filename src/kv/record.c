/* record: a write command as the log holds it, and its application to the keyspace.
 * Layout (little endian; see keyspace.h): u8 version, u64 stamp, i64 time_ms, u32 argc, then
 * argc times (u32 length, bytes). Encoding is one reservation and a copy per argument; applying
 * decodes into slices that point into the record (no copy, no allocation up to
 * KV_RECORD_STACK_ARGS arguments), then runs the command exactly as the node first would have. */
#include <assert.h>
#include <errno.h>

#include "core/mem.h"
#include "kv/db.h"

#define RECORD_VERSION 1
#define RECORD_HEADER_BYTES (1 + 8 + 8 + 4)

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

void kv_record_encode(buf_t *out, stamp_t stamp, int64_t time_ms, int argc, const slice_t *argv) {
    assert(out && argv);
    assert(argc > 0);
    size_t size = RECORD_HEADER_BYTES;
    for (int i = 0; i < argc; i++) {
        assert(argv[i].len <= UINT32_MAX);
        size += 4 + argv[i].len;
    }
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
