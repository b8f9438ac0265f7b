/* persist: a single node's durability — the write-ahead log plus snapshots, and recovery.
 *
 * The WAL is the log the Raft log will become: every record carries (term, index, type) in its
 * header, is length-prefixed and CRC32C-checksummed, and lives in segment files under dir.
 * The node drives it (see src/server):
 *   - persist_open recovers: loads the newest valid snapshot through hooks.load_snapshot, then
 *     hands every later log record to hooks.apply in order;
 *   - during a loop turn the node persist_append()s the records of the writes it accepted;
 *   - at the end of the turn persist_flush() writes them all and, under fsync always, issues one
 *     fdatasync for the whole batch (group commit); only then does the node apply them and reply;
 *   - persist_poll() runs from a timer: everysec fsync, reaping a snapshot child, the automatic
 *     snapshot when the log has grown past snapshot_log_bytes, removing covered segments.
 * A failed write or fsync is never retried as if it had worked: persist enters the failed state,
 * refuses every later append, and says why (persist_failure); the node then refuses writes with
 * a MISCONF-style error and keeps serving reads.
 * Snapshots are written by a forked child (the parent's memory is copy-on-write), so clients are
 * never stalled; the child writes to a temporary file, fsyncs it, renames it into place. */
#ifndef POLIS_STORAGE_PERSIST_H
#define POLIS_STORAGE_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/io.h"

typedef struct persist persist_t;

enum fsync_policy { FSYNC_ALWAYS = 0, FSYNC_EVERYSEC, FSYNC_NO };

enum record_type {
    RECORD_KV = 1, /* a kv write record (kv_record_encode) */
};

typedef struct persist_hooks {
    /* Restores the state machine from a snapshot stream (keyspace_load). 0 or negative. */
    int (*load_snapshot)(void *arg, io_read_fn *read, void *read_ctx);
    /* Applies one recovered log record. 0, or negative to abort recovery. */
    int (*apply)(void *arg, uint64_t term, uint64_t index, int type, const char *data, size_t len);
    /* Writes the state machine to a snapshot stream (keyspace_dump); runs in the forked child
     * for background snapshots and in the caller for SAVE. */
    int (*dump_snapshot)(void *arg, io_write_fn *write, void *write_ctx);
    void *arg;
} persist_hooks_t;

typedef struct persist_options {
    const char *dir;
    enum fsync_policy fsync;
    uint64_t segment_bytes;      /* roll to a new segment file past this size */
    uint64_t snapshot_log_bytes; /* automatic snapshot once the log since the last passes this */
} persist_options_t;

typedef struct persist_status {
    uint64_t last_index;        /* index of the last appended record */
    uint64_t snapshot_index;    /* index the newest snapshot covers */
    uint64_t log_bytes;         /* bytes of log since that snapshot */
    uint64_t segment_count;
    int64_t last_save_unix;     /* time of the last successful snapshot (LASTSAVE) */
    int snapshot_in_progress;   /* a child is writing one */
    int last_snapshot_ok;       /* 1 ok, 0 failed */
    uint64_t snapshot_count;
    uint64_t fsync_count;
    uint64_t records_recovered; /* log records replayed at open */
    uint64_t torn_bytes_cut;    /* bytes of a torn tail cut off at open */
    const char *failure;        /* NULL, or why writes are refused */
} persist_status_t;

/* Opens (creating dir if needed) and recovers. On failure returns a negative code and writes a
 * message into err; a corrupt record before the log's tail names the file and byte offset
 * ("corrupt record in DIR/wal-....log at offset N: ..."), and the node refuses to start. */
int persist_open(const persist_options_t *options, const persist_hooks_t *hooks,
                 persist_t **out, char *err, size_t err_size);
void persist_close(persist_t *p);

/* Buffers one record; assigns and returns its index (> 0), or 0 when in the failed state. */
uint64_t persist_append(persist_t *p, int type, const char *data, size_t len);
/* Writes every buffered record and syncs per the policy. 0 when they are durable (under
 * always) or handed to the kernel (everysec/no); negative on failure (failed state entered). */
int persist_flush(persist_t *p);
/* Periodic work; call about every 100 ms with the wall clock. Never blocks on a child. */
void persist_poll(persist_t *p, int64_t now_ms);

/* BGSAVE: starts a snapshot in a forked child. 0 started, -EBUSY one is running, negative on
 * failure. The caller guarantees every appended record has been applied. */
int persist_snapshot_background(persist_t *p);
/* SAVE: writes a snapshot in the foreground. 0 or negative. Same guarantee. */
int persist_snapshot_now(persist_t *p);

void persist_get_status(const persist_t *p, persist_status_t *status);
const char *persist_failure(const persist_t *p);

#endif
