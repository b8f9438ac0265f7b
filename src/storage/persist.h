/* persist: a node's durability — the write-ahead log (which is the Raft log), the Raft hard
 * state, snapshots, and recovery. Design and on-disk formats: docs/ARCHITECTURE.md, "Storage".
 *
 * Files under dir:
 *   wal-<first index, 20 digits>.log   log segments; names sort by the first index they hold
 *   snap-<index, 20 digits>.snap       snapshots (only the newest is kept)
 *   hardstate                          Raft term, vote and commit index (two checksummed slots)
 *   LOCK                               held (flock) while a process has the directory open
 *   *.tmp                              files being written; left by a crash, removed at open
 * Every log record carries (term, index, type), is length-prefixed and CRC32C-checksummed.
 *
 * A single node drives it like this (src/server):
 *   - persist_open recovers: loads the newest valid snapshot through hooks.load_snapshot, then
 *     hands every later log record to hooks.apply in order;
 *   - during a loop turn the node persist_append()s the records of the writes it accepted;
 *   - at the end of the turn persist_flush() writes them all with one write and, under
 *     FSYNC_ALWAYS, one fdatasync for the whole batch (group commit); only then does the node
 *     apply them and reply;
 *   - persist_poll() runs from a timer: everysec fsync, reaping a snapshot child, the automatic
 *     snapshot once the log has grown past snapshot_log_bytes, removing covered segments.
 * A Raft node (next step) drives the same log with caller-given indexes: persist_append_entry,
 * persist_truncate_after for a conflicting suffix, persist_hard_state_save before it sends votes
 * or acknowledgements, persist_snapshot_*_at with the applied point and the membership as
 * metadata, persist_install_* for a snapshot received from the leader, persist_read_after to
 * restore its in-memory log at start (open it with hooks.apply NULL: nothing is applied then).
 *
 * A failed write or fsync is never retried as if it had worked (after a failed fsync the kernel
 * may have dropped the dirty pages): persist enters the failed state, refuses every later
 * append, truncation, hard state save and snapshot, and says why (persist_failure). The node then
 * refuses writes with a MISCONF-style error and keeps serving reads; only a restart (which
 * re-reads what is really on disk) leaves the failed state.
 *
 * Snapshots are written by a forked child (the parent's memory is copy-on-write), so clients are
 * never stalled; the child writes a temporary file and fsyncs it; the parent renames it into
 * place, fsyncs the directory, then removes older snapshots and covered log segments.
 *
 * Everything here runs on the caller's thread (the event loop); there are no hidden threads. */
#ifndef POLIS_STORAGE_PERSIST_H
#define POLIS_STORAGE_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/io.h"
#include "storage/fileio.h"

typedef struct persist persist_t;

enum fsync_policy { FSYNC_ALWAYS = 0, FSYNC_EVERYSEC, FSYNC_NO };

/* Record types are the caller's (1..255); persist stores and returns them untouched. */
enum record_type {
    RECORD_KV = 1, /* a kv write record (kv_record_encode) */
};

#define PERSIST_RECORD_MAX (1024u * 1024u * 1024u) /* largest record payload: 1 GiB */
#define PERSIST_META_MAX (1024u * 1024u)           /* largest snapshot metadata blob */
#define PERSIST_SEGMENT_BYTES_DEFAULT (64u * 1024u * 1024u)

/* One log record as it is handed back (recovery, persist_read_after). data is valid only
 * during the callback. Return 0 to go on, negative to stop (that value is returned). */
typedef int persist_record_cb(void *arg, uint64_t term, uint64_t index, int type,
                              const char *data, size_t len);

typedef struct persist_hooks {
    /* Restores the state machine from a snapshot stream (keyspace_load); the stream yields
     * exactly what dump_snapshot wrote. 0 or negative. May be NULL (snapshot not loaded). */
    int (*load_snapshot)(void *arg, io_read_fn *read, void *read_ctx);
    /* Applies one recovered log record at open. NULL: nothing is replayed (a Raft node reads
     * the log back with persist_read_after instead). */
    persist_record_cb *apply;
    /* Writes the state machine to a snapshot stream (keyspace_dump); runs in the forked child
     * for background snapshots and in the caller for SAVE. Must only read. */
    int (*dump_snapshot)(void *arg, io_write_fn *write, void *write_ctx);
    void *arg;
} persist_hooks_t;

typedef struct persist_options {
    const char *dir;
    enum fsync_policy fsync;
    uint64_t segment_bytes;      /* roll to a new segment past this size; 0: 64 MiB default */
    uint64_t snapshot_log_bytes; /* automatic snapshot (persist_poll) once the log written since
                                    the last snapshot passes this; 0: never automatic */
    uint64_t retain_entries;     /* after a snapshot at S, keep segments holding indexes above
                                    S - retain_entries (slow Raft followers); 0 for a single node */
    const storage_io_t *io;      /* the write-side system calls; NULL: the real ones. Tests
                                    inject failures through it (fileio.h). */
} persist_options_t;

/* The point a snapshot covers: the last applied index, its term, and opaque metadata (the
 * Raft membership; NULL/0 for a single node). */
typedef struct persist_snapshot_point {
    uint64_t index;
    uint64_t term;
    const void *meta;
    size_t meta_len;
} persist_snapshot_point_t;

/* Raft's persistent state besides the log: saved durably and atomically. */
typedef struct persist_hard_state {
    uint64_t term;
    uint64_t voted_for; /* 0: none */
    uint64_t commit;
} persist_hard_state_t;

typedef struct persist_status {
    uint64_t first_index;       /* first index still in the log (snapshot_index + 1 if empty) */
    uint64_t last_index;        /* index of the last appended record (or of the snapshot) */
    uint64_t last_term;
    uint64_t durable_index;     /* last index known on stable storage (fdatasync returned) */
    uint64_t snapshot_index;    /* index the newest snapshot covers (0: none) */
    uint64_t snapshot_term;
    uint64_t log_bytes;         /* bytes of log written since the last snapshot */
    uint64_t segment_count;
    int64_t last_save_unix;     /* time of the last successful snapshot (LASTSAVE) */
    int snapshot_in_progress;   /* a child is writing one */
    int last_snapshot_ok;       /* 1 ok (or none tried), 0 the last attempt failed */
    uint64_t snapshot_count;    /* snapshots completed since open */
    uint64_t fsync_count;       /* fdatasync calls on the log */
    uint64_t flush_count;       /* persist_flush calls that wrote something */
    uint64_t records_recovered; /* log records replayed at open */
    uint64_t torn_bytes_cut;    /* bytes of a torn tail cut off at open */
    int64_t last_fsync_us;      /* duration of the last log fdatasync */
    const char *failure;        /* NULL, or why writes are refused (valid until close) */
} persist_status_t;

/* Opens (creating dir if needed), takes the directory lock, and recovers. On failure returns a
 * negative code and writes a message into err; a corrupt record before the log's tail names
 * the file and byte offset ("corrupt record in DIR/wal-....log at offset N: reason"), and the
 * node must refuse to start. A torn last record (a crash mid-write) is cut off with a log line.
 * hooks is copied. */
int persist_open(const persist_options_t *options, const persist_hooks_t *hooks,
                 persist_t **out, char *err, size_t err_size);
/* Stops a running snapshot child (its temporary file is removed), writes and syncs whatever is
 * buffered (best effort), closes everything. NULL is allowed. */
void persist_close(persist_t *p);

/* ---- The log ---- */

/* Single node: buffers one record at index last_index + 1 with the current term (the hard
 * state's term, at least the last record's, at least 1). Returns the index, or 0 when refused
 * (failed state, or len > PERSIST_RECORD_MAX). The record is durable only after persist_flush. */
uint64_t persist_append(persist_t *p, int type, const char *data, size_t len);
/* Raft: buffers one record with a caller-given (term, index). 0; -EINVAL unless
 * index == last_index + 1 and term >= last_term (truncate first to overwrite); -E2BIG when
 * too large; -EIO in the failed state. */
int persist_append_entry(persist_t *p, uint64_t term, uint64_t index, int type, const char *data,
                         size_t len);
/* Writes every buffered record (one write; rolls segments as needed) and syncs per the policy:
 * returns 0 once they are durable (always: fdatasync returned) or handed to the kernel
 * (everysec/no); negative on failure (the failed state is entered; none of the buffered
 * records may be reported durable). Nothing buffered: 0 at once. */
int persist_flush(persist_t *p);
/* Removes every record with an index above `index` (snapshot_index <= index <= last_index),
 * buffered or on disk. Durable when it returns 0, whatever the policy: nothing appended
 * afterwards can be followed by a resurrected old record after a crash. */
int persist_truncate_after(persist_t *p, uint64_t index);
/* Calls cb for every record with index > after_index, in order (on disk, then buffered),
 * re-checking checksums. 0, cb's negative value, -ENOENT if after_index < first_index - 1
 * (compacted away), -EIO if a record no longer checks out. */
int persist_read_after(persist_t *p, uint64_t after_index, persist_record_cb *cb, void *arg);
/* The term of the record at index (or of the snapshot when index == snapshot_index).
 * 0, or -ENOENT when index is outside [snapshot_index, last_index]. */
int persist_term_at(const persist_t *p, uint64_t index, uint64_t *term);

/* ---- Hard state ---- */

/* Writes (term, voted_for, commit) durably (fdatasync, whatever the policy) and atomically
 * (two alternating checksummed slots: a torn write leaves the previous state). 0 or negative
 * (the failed state is entered). */
int persist_hard_state_save(persist_t *p, const persist_hard_state_t *hs);
/* The state loaded at open or last saved (all zero when never saved). */
void persist_hard_state_get(const persist_t *p, persist_hard_state_t *hs);

/* ---- Snapshots ---- */

/* Called periodically (about every 100 ms) with the monotonic clock in ms: everysec fsync,
 * reaping a finished snapshot child, the automatic snapshot. Never blocks on a child. */
void persist_poll(persist_t *p, int64_t now_ms);

/* BGSAVE: starts a snapshot in a forked child covering `at` (at->index <= the last flushed
 * index, at->index >= snapshot_index; the caller's state machine reflects exactly the records
 * up to at->index). 0 started, -EBUSY one is running, negative on failure. */
int persist_snapshot_background_at(persist_t *p, const persist_snapshot_point_t *at);
/* SAVE: the same in the foreground; returns once the snapshot is durable and in place. */
int persist_snapshot_now_at(persist_t *p, const persist_snapshot_point_t *at);
/* Single-node forms: the point is the last flushed record (its index and term, no metadata).
 * The caller guarantees every appended record has been flushed and applied (else -EAGAIN). */
int persist_snapshot_background(persist_t *p);
int persist_snapshot_now(persist_t *p);
/* The newest durable snapshot's point (index 0: none). meta stays valid until the next
 * snapshot is taken or installed. */
void persist_snapshot_get(const persist_t *p, persist_snapshot_point_t *out);
/* Opens the newest snapshot file read-only, for sending it to a follower: *fd (the caller
 * closes it; it stays readable even after the file is replaced) and its size. -ENOENT if none. */
int persist_snapshot_open(persist_t *p, int *fd, uint64_t *size);

/* Installing a snapshot received from the leader: the bytes of the leader's snapshot file (as
 * persist_snapshot_open gives them), in order, in chunks. finish checks the file (checksum,
 * header), fsyncs it, renames it into place, fsyncs the directory, then drops the covered log:
 * if the log holds the snapshot's (index, term), the records after it are kept; otherwise the
 * whole log is discarded and the next record must be index + 1. Finally it loads the snapshot
 * through hooks.load_snapshot. The handle is freed by finish and abort, whatever they return. */
typedef struct persist_install persist_install_t;
int persist_install_begin(persist_t *p, persist_install_t **out);
int persist_install_write(persist_install_t *in, const void *data, size_t len);
int persist_install_finish(persist_install_t *in, persist_snapshot_point_t *installed);
void persist_install_abort(persist_install_t *in);

void persist_get_status(const persist_t *p, persist_status_t *status);
const char *persist_failure(const persist_t *p);
const char *persist_fsync_policy_name(enum fsync_policy policy);

#endif
