/* command: the command table's shape and the context a keyspace command runs in.
 *
 * One handler per command, `void getCommand(exec_ctx_t *c)`: parse argv, reply and return early
 * on error, then change the keyspace. A handler is deterministic: everything it may not compute
 * itself (the time, the write's stamp, randomness) is in the context. That is what lets a write
 * be logged as its argv and applied identically on every replica and at every replay:
 *   - reads run at once with now_ms = the node's wall clock and stamp = 0;
 *   - writes (CMD_WRITE) are encoded as a record (kv_record_encode), made durable / committed,
 *     then applied with now_ms and stamp taken from the record (kv_record_apply).
 * Relative expiry (EX, PX, EXPIRE …) is computed from ctx->now_ms, so it replays exactly.
 *
 * Node-level commands (CLIENT, CONFIG, INFO, SAVE …) live in src/server with their own table;
 * COMMAND lists both tables. */
#ifndef POLIS_KV_COMMAND_H
#define POLIS_KV_COMMAND_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hlc.h"
#include "core/rng.h" /* rng_next: the PRNG handed to handlers through ctx->rng */
#include "proto/reply.h"

struct keyspace;

enum command_flag {
    CMD_WRITE = 1u << 0,    /* changes the keyspace: goes through the log */
    CMD_READONLY = 1u << 1, /* reads the keyspace only */
    CMD_DENYOOM = 1u << 2,  /* may grow memory: refused over maxmemory (after eviction) */
    CMD_FAST = 1u << 3,     /* O(1) or O(log N) */
    CMD_ADMIN = 1u << 4,
    CMD_NOSCRIPT = 1u << 5,
    CMD_LOADING = 1u << 6, /* allowed while loading */
    CMD_STALE = 1u << 7,
    CMD_RANDOM = 1u << 8, /* reply depends on ctx->rng */
};

typedef struct exec_ctx {
    struct keyspace *ks;
    reply_t *reply;
    int argc;
    const slice_t *argv; /* argv[0] is the command name as sent */
    int64_t now_ms;      /* wall-clock ms of the record (writes) or of now (reads) */
    stamp_t stamp;       /* the write's HLC stamp, the new version of every key it changes */
    hlc_t *clock;        /* the node's clock: CLOCK merges into it */
    uint64_t *rng;       /* PRNG state for RANDOMKEY, HRANDFIELD, sampling (splitmix64) */
    uint64_t dirty;      /* out: how many changes the command made (0 = no change) */
} exec_ctx_t;

typedef void command_fn(exec_ctx_t *ctx);

typedef struct command {
    const char *name; /* lower case */
    command_fn *fn;
    int arity; /* Redis' convention: N exactly N arguments (name included), -N at least N */
    uint32_t flags;
    int first_key, last_key, key_step; /* as COMMAND INFO reports them */
    const char *group;                 /* "string" "hash" "generic" "server" "connection" */
    const char *since;                 /* Redis version that introduced it ("1.0.0"), or "polis" */
    const char *summary;               /* one line, for COMMAND DOCS */
} command_t;

/* The keyspace commands, sorted by name (kv_command_lookup searches it). */
extern const command_t kv_command_table[];
extern const size_t kv_command_count;

#endif
