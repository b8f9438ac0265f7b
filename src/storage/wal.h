/* wal: the log as a sequence of segment files (internal to storage; persist.h is the API).
 *
 * Records are buffered in `pending` by wal_append and written by wal_flush with one pwrite per
 * segment touched. The active (last) segment is preallocated with fallocate and zero-filled a
 * chunk ahead of the write position, so the fdatasync of a group commit writes into blocks that
 * already exist and never has to journal a size or extent change. A segment is fsynced before
 * the next one is started, so only the last segment can ever end in a torn record.
 * Any failed write or sync puts the log in the failed state (wal_fail): it is never retried. */
#ifndef POLIS_STORAGE_WAL_H
#define POLIS_STORAGE_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "storage/fileio.h"
#include "storage/persist.h"

#define WAL_ZERO_CHUNK (256u * 1024u) /* zero-fill ahead of the write position by this much */
#define WAL_PENDING_KEEP (8u * 1024u * 1024u) /* larger batch buffers are freed after use */
#define WAL_SEGMENTS_MAX 100000u      /* more segment files than this: refuse to open */

typedef struct wal_segment {
    uint64_t first_index;
    uint64_t last_index; /* first_index - 1 while empty */
    uint64_t bytes;      /* end of its records (the write position of the active segment) */
} wal_segment_t;

/* Terms change rarely: the log's terms are kept as runs ("from index on, term t"). */
typedef struct wal_term_run {
    uint64_t index;
    uint64_t term;
} wal_term_run_t;

typedef struct wal {
    int dir_fd;
    const char *dir;
    const storage_io_t *io;
    uint64_t segment_bytes;
    wal_segment_t *segs;
    size_t seg_count;
    size_t seg_cap;
    int fd;              /* the active segment, open for writing; -1 when none */
    uint64_t zeroed_end; /* the active segment is written (data or zeros) up to here */
    char *zeros;         /* WAL_ZERO_CHUNK zero bytes */
    buf_t pending;       /* encoded records appended but not yet written */
    uint64_t base_index; /* index the log follows (the snapshot's); records start at +1 */
    uint64_t base_term;
    uint64_t last_index; /* including pending records */
    uint64_t last_term;
    uint64_t written_index; /* last record handed to the kernel */
    uint64_t synced_index;  /* last record on stable storage */
    wal_term_run_t *runs;
    size_t run_count;
    size_t run_cap;
    uint64_t bytes_written; /* record bytes written since open */
    uint64_t fsync_count;
    int64_t last_fsync_us;
    uint64_t torn_bytes_cut;
    uint64_t records_recovered;
    int failed;
    char failure[256];
} wal_t;

/* Opens the log in dir_fd after a snapshot at (base_index, base_term) (0, 0: none): checks
 * every segment, hands records above base_index to apply (may be NULL), cuts a torn tail, and
 * makes the last segment ready for appending. 0, or negative with a message in err. */
int wal_open(wal_t *w, int dir_fd, const char *dir, const storage_io_t *io,
             uint64_t segment_bytes, uint64_t base_index, uint64_t base_term,
             persist_record_cb *apply, void *arg, char *err, size_t err_size);
void wal_close(wal_t *w);

int wal_append(wal_t *w, uint64_t term, uint64_t index, int type, const char *data, size_t len);
/* Writes pending records; then fdatasyncs when sync is set. 0 or negative (failed state). */
int wal_flush(wal_t *w, int sync);
/* fdatasync of the active segment if anything written is not yet synced. */
int wal_sync(wal_t *w);
int wal_truncate_after(wal_t *w, uint64_t index);
/* Removes segments whose records all have indexes <= index (never the active one). */
int wal_compact(wal_t *w, uint64_t index);
/* Discards the whole log and restarts it after (index, term) (a snapshot installed past it). */
int wal_reset(wal_t *w, uint64_t index, uint64_t term);
int wal_read_after(wal_t *w, uint64_t after_index, persist_record_cb *cb, void *arg);
int wal_term_at(const wal_t *w, uint64_t index, uint64_t *term);
uint64_t wal_first_index(const wal_t *w);
/* Enters the failed state with a message (the first failure wins). Returns code (< 0). */
int wal_fail(wal_t *w, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
