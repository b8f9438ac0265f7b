/* expiry: the node's side of key expiry and maxmemory eviction. The keyspace finds candidates
 * (keyspace_expire_cycle, keyspace_evict_pick); the node turns them into log records so every
 * replica and every replay removes the same keys at the same log position.
 * Design: docs/ARCHITECTURE.md, "Data node". */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

/* Keys found by one expire round, copied (the keyspace's bytes are valid in the callback only). */
typedef struct expired_batch {
    buf_t bytes;
    size_t offsets[EXPIRE_KEYS_PER_ROUND + 1];
    size_t count;
} expired_batch_t;

static void found_cb(void *arg, slice_t key) {
    expired_batch_t *b = arg;
    assert(b->count < EXPIRE_KEYS_PER_ROUND);
    buf_append(&b->bytes, key.ptr, key.len);
    b->offsets[++b->count] = b->bytes.len;
}

/* Proposes one record removing the batch's keys if they are still expired when it applies. */
static void propose_expired(server_t *s, const command_t *cmd, expired_batch_t *b) {
    slice_t argv[EXPIRE_KEYS_PER_ROUND + 1];
    argv[0] = SLICE_LIT(KV_CMD_DELEXPIRED);
    for (size_t i = 0; i < b->count; i++) {
        argv[i + 1] = (slice_t){b->bytes.data + b->offsets[i], b->offsets[i + 1] - b->offsets[i]};
    }
    server_propose(s, NULL, cmd, (int)b->count + 1, argv); /* the keyspace counts removals */
}

void server_expire_cycle(server_t *s) {
    if (server_write_failure(s) || (s->group && s->role != RAFT_LEADER)) {
        return; /* reads still hide expired keys; removing them needs the log (the leader's) */
    }
    const command_t *cmd = kv_command_lookup(KV_CMD_DELEXPIRED, strlen(KV_CMD_DELEXPIRED));
    assert(cmd);
    int64_t start = time_mono_ms();
    expired_batch_t batch;
    buf_init(&batch.bytes);
    /* The keyspace resumes its walk where the last round stopped, so rounds find new keys even
     * while the records of earlier rounds wait for the commit at the end of the turn. */
    for (;;) {
        batch.count = 0;
        batch.offsets[0] = 0;
        buf_clear(&batch.bytes);
        size_t n = keyspace_expire_cycle(s->ks, time_wall_ms(), EXPIRE_KEYS_PER_ROUND, &s->rng,
                                         found_cb, &batch);
        assert(n == batch.count);
        if (n > 0) {
            propose_expired(s, cmd, &batch);
        }
        if (n < EXPIRE_KEYS_PER_ROUND || time_mono_ms() - start >= EXPIRE_BUDGET_MS) {
            break;
        }
    }
    buf_free(&batch.bytes);
}

size_t server_used_memory(server_t *s) {
    (void)s;
    return mem_used();
}

/* As Redis leaves its replication buffers out of maxmemory, the Raft log held in memory for
 * followers (bounded by snapshot-log-size) is not counted against it. */
static int over_limit(server_t *s) {
    if (s->config.maxmemory <= 0) {
        return 0;
    }
    size_t used = server_used_memory(s);
    if (s->group) {
        uint64_t log_bytes = repl_group_log_bytes(s->group);
        used = used > log_bytes ? used - (size_t)log_bytes : 0;
    }
    return used > (size_t)s->config.maxmemory;
}

int server_evict(server_t *s) {
    if (!over_limit(s)) {
        return 0;
    }
    if (s->config.maxmemory_policy == EVICT_NOEVICTION || server_write_failure(s)) {
        return -ENOMEM;
    }
    char key_copy[512];
    int evicted = 0;
    for (; evicted < EVICT_KEYS_MAX && over_limit(s); evicted++) {
        /* The pick must see every proposed write, or it could pick a key a pending record is
         * about to change (and memory would not drop until that commit anyway). */
        server_commit(s);
        slice_t key;
        if (!keyspace_evict_pick(s->ks, (enum evict_policy)s->config.maxmemory_policy,
                                 time_wall_ms(), &s->rng, &key)) {
            break;
        }
        /* The key's bytes belong to the keyspace, which the DEL changes: copy them first. */
        char *heap = key.len > sizeof key_copy ? mem_alloc(key.len) : NULL;
        char *copy = heap ? heap : key_copy;
        memcpy(copy, key.ptr, key.len);
        slice_t argv[2] = {SLICE_LIT("DEL"), {copy, key.len}};
        server_propose(s, NULL, s->del_command, 2, argv);
        s->stats.evicted_keys++;
        mem_free(heap);
    }
    server_commit(s);
    /* As Redis: a command that made eviction progress runs even if the limit is not reached
     * yet (the bound above keeps one command's latency small); only no progress refuses it. */
    return over_limit(s) && evicted == 0 ? -ENOMEM : 0;
}
