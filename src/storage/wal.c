/* wal: the log over segment files — open and recovery, append, group-commit flush, segment
 * rolling, truncation, compaction, read-back (see wal.h; formats in record.h). */
#include "storage/wal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "storage/record.h"

static void segment_name(char *out, size_t size, uint64_t first_index) {
    snprintf(out, size, "wal-%020" PRIu64 ".log", first_index);
}

int wal_fail(wal_t *w, int code, const char *fmt, ...) {
    assert(code < 0);
    if (!w->failed) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(w->failure, sizeof w->failure, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof w->failure) {
            snprintf(w->failure + n, sizeof w->failure - (size_t)n, ": %s", strerror(-code));
        }
        w->failed = 1;
        log_warning("storage", "persistence failed, refusing writes from now on: %s",
                    w->failure);
    }
    return code;
}

/* ---- Term runs ---- */

static void runs_push(wal_t *w, uint64_t index, uint64_t term) {
    if (w->run_count > 0 && w->runs[w->run_count - 1].term == term) {
        return;
    }
    if (w->run_count == w->run_cap) {
        w->run_cap = w->run_cap ? w->run_cap * 2 : 8;
        w->runs = mem_realloc(w->runs, w->run_cap * sizeof *w->runs);
    }
    w->runs[w->run_count++] = (wal_term_run_t){index, term};
}

/* Forgets the terms of indexes above index. */
static void runs_cut(wal_t *w, uint64_t index) {
    while (w->run_count > 1 && w->runs[w->run_count - 1].index > index) {
        w->run_count--;
    }
}

int wal_term_at(const wal_t *w, uint64_t index, uint64_t *term) {
    assert(term != NULL);
    if (w->run_count == 0 || index < w->runs[0].index || index > w->last_index) {
        return -ENOENT;
    }
    size_t lo = 0;
    size_t hi = w->run_count; /* the answer is the last run with runs[i].index <= index */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (w->runs[mid].index <= index) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    if (w->runs[lo].index > index) {
        return -ENOENT;
    }
    *term = w->runs[lo].term;
    return 0;
}

uint64_t wal_first_index(const wal_t *w) {
    if (w->seg_count == 0 || w->segs[0].last_index < w->segs[0].first_index) {
        return w->base_index + 1;
    }
    return w->segs[0].first_index;
}

/* ---- Segment table ---- */

static wal_segment_t *seg_push(wal_t *w, uint64_t first_index) {
    if (w->seg_count == w->seg_cap) {
        w->seg_cap = w->seg_cap ? w->seg_cap * 2 : 16;
        w->segs = mem_realloc(w->segs, w->seg_cap * sizeof *w->segs);
    }
    wal_segment_t *s = &w->segs[w->seg_count++];
    *s = (wal_segment_t){first_index, first_index - 1, SEGMENT_HEADER_SIZE};
    return s;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Fills the segment table from the directory's wal-*.log names, sorted by first index. */
static int segments_list(wal_t *w, char *err, size_t err_size) {
    int fd = dup(w->dir_fd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        snprintf(err, err_size, "cannot list %s: %s", w->dir, strerror(errno));
        return -errno;
    }
    rewinddir(d);
    uint64_t *firsts = NULL;
    size_t count = 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char digits[21];
        char tail[8];
        if (strlen(e->d_name) != 28 || sscanf(e->d_name, "wal-%20[0-9]%7s", digits, tail) != 2 ||
            strcmp(tail, ".log") != 0 || strlen(digits) != 20) {
            continue;
        }
        if (count == WAL_SEGMENTS_MAX) {
            closedir(d);
            mem_free(firsts);
            snprintf(err, err_size, "more than %u log segments in %s", WAL_SEGMENTS_MAX, w->dir);
            return -EMFILE;
        }
        if (count == cap) {
            cap = cap ? cap * 2 : 16;
            firsts = mem_realloc(firsts, cap * sizeof *firsts);
        }
        firsts[count++] = strtoull(digits, NULL, 10);
    }
    closedir(d);
    if (count > 0) {
        qsort(firsts, count, sizeof *firsts, cmp_u64);
    }
    for (size_t i = 0; i < count; i++) {
        seg_push(w, firsts[i]);
    }
    mem_free(firsts);
    return 0;
}

/* ---- Recovery ---- */

typedef struct replay {
    wal_t *w;
    persist_record_cb *apply;
    void *arg;
} replay_t;

static int replay_record(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                         size_t len) {
    replay_t *r = arg;
    runs_push(r->w, index, term);
    if (index <= r->w->base_index || r->apply == NULL) {
        return 0;
    }
    r->w->records_recovered++;
    return r->apply(r->arg, term, index, type, data, len);
}

/* Checks one segment and replays its records; is_last allows a torn tail (cut later). */
static int segment_recover(wal_t *w, size_t i, replay_t *r, char *err, size_t err_size) {
    wal_segment_t *s = &w->segs[i];
    int is_last = i + 1 == w->seg_count;
    char name[STORAGE_NAME_MAX];
    segment_name(name, sizeof name, s->first_index);
    char *data = NULL;
    size_t len = 0;
    int rc = fileio_read_file(w->dir_fd, name, (size_t)w->segment_bytes + PERSIST_RECORD_MAX * 2ull,
                              &data, &len);
    if (rc < 0) {
        snprintf(err, err_size, "cannot read %s/%s: %s", w->dir, name, strerror(-rc));
        return rc;
    }
    uint64_t first = 0;
    const char *why = "segment header names another index";
    if (segment_header_decode(data, len, &first, &why) < 0 || first != s->first_index) {
        snprintf(err, err_size, "corrupt record in %s/%s at offset 0: %s", w->dir, name, why);
        mem_free(data);
        return -EINVAL;
    }
    if (i > 0 && w->segs[i - 1].last_index + 1 != s->first_index) {
        snprintf(err, err_size,
                 "corrupt record in %s/%s at offset 0: log gap (previous segment ends at index "
                 "%" PRIu64 ")",
                 w->dir, name, w->segs[i - 1].last_index);
        mem_free(data);
        return -EINVAL;
    }
    wal_scan_t scan = {.next_index = s->first_index, .last_term = w->last_term};
    rc = wal_scan(data, len, SEGMENT_HEADER_SIZE, &scan, replay_record, r);
    mem_free(data);
    if (rc < 0) {
        snprintf(err, err_size, "replaying %s/%s failed at index %" PRIu64 ": %s", w->dir, name,
                 scan.next_index, strerror(-rc));
        return rc;
    }
    if (rc == WAL_SCAN_CORRUPT || (rc == WAL_SCAN_TORN && !is_last)) {
        snprintf(err, err_size, "corrupt record in %s/%s at offset %zu: %s", w->dir, name,
                 scan.end, scan.reason);
        return -EINVAL;
    }
    if (rc == WAL_SCAN_TORN) {
        w->torn_bytes_cut = scan.data_end - scan.end;
        log_warning("storage",
                    "torn record at the end of the log cut off: %s/%s offset %zu, %" PRIu64
                    " bytes (%s); it was never reported durable",
                    w->dir, name, scan.end, w->torn_bytes_cut, scan.reason);
    }
    s->bytes = scan.end;
    s->last_index = scan.next_index - 1;
    if (scan.records > 0) {
        w->last_index = s->last_index;
        w->last_term = scan.last_term;
    }
    return 0;
}

/* ---- Segment files ---- */

/* Creates the segment starting at first_index atomically (a temporary name, preallocated,
 * header written and synced, renamed, directory synced) and makes it the active one. */
static int segment_create(wal_t *w, uint64_t first_index) {
    assert(w->fd < 0);
    char name[STORAGE_NAME_MAX];
    char tmp[STORAGE_NAME_MAX + 8];
    segment_name(name, sizeof name, first_index);
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(w->dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return wal_fail(w, -errno, "cannot create %s/%s", w->dir, tmp);
    }
    /* Preallocation is an optimisation: without it (no support, or no room for the whole
     * segment) writes still work until the disk is really full, and then fail cleanly. */
    int rc = w->io->fallocate(w->io->ctx, fd, 0, w->segment_bytes);
    if (rc < 0 && rc != -EOPNOTSUPP && rc != -ENOSPC) {
        log_warning("storage", "fallocate of %s/%s failed: %s", w->dir, tmp, strerror(-rc));
    }
    unsigned char header[SEGMENT_HEADER_SIZE];
    segment_header_encode(header, first_index);
    const char *step = "write";
    rc = fileio_pwrite_all(w->io, fd, header, sizeof header, 0);
    if (rc == 0) {
        step = "fdatasync";
        rc = w->io->sync(w->io->ctx, fd, 1);
    }
    if (rc == 0) {
        step = "rename";
        rc = w->io->rename(w->io->ctx, w->dir_fd, tmp, name);
    }
    if (rc == 0) {
        step = "directory fsync";
        rc = fileio_sync_dir(w->io, w->dir_fd);
    }
    if (rc < 0) {
        close(fd);
        unlinkat(w->dir_fd, tmp, 0);
        return wal_fail(w, rc, "%s of new log segment %s/%s failed", step, w->dir, name);
    }
    w->fd = fd;
    w->zeroed_end = SEGMENT_HEADER_SIZE;
    seg_push(w, first_index);
    return 0;
}

/* Opens the last segment for writing at its end: whatever lies beyond the last good record
 * (a torn tail, stale bytes) is cut away and the space preallocated again, durably. */
static int segment_reopen_active(wal_t *w) {
    wal_segment_t *s = &w->segs[w->seg_count - 1];
    char name[STORAGE_NAME_MAX];
    segment_name(name, sizeof name, s->first_index);
    int fd = openat(w->dir_fd, name, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return wal_fail(w, -errno, "cannot open %s/%s", w->dir, name);
    }
    int rc = w->io->ftruncate(w->io->ctx, fd, s->bytes);
    if (rc == 0 && s->bytes < w->segment_bytes) {
        int fa = w->io->fallocate(w->io->ctx, fd, s->bytes, w->segment_bytes - s->bytes);
        if (fa < 0 && fa != -EOPNOTSUPP && fa != -ENOSPC) {
            log_warning("storage", "fallocate of %s/%s failed: %s", w->dir, name, strerror(-fa));
        }
    }
    if (rc == 0) {
        rc = w->io->sync(w->io->ctx, fd, 0);
    }
    if (rc < 0) {
        close(fd);
        return wal_fail(w, rc, "cannot prepare %s/%s for appending", w->dir, name);
    }
    w->fd = fd;
    w->zeroed_end = s->bytes;
    return 0;
}

/* Removes segment i's file (the caller syncs the directory afterwards). */
static int segment_unlink(wal_t *w, size_t i) {
    char name[STORAGE_NAME_MAX];
    segment_name(name, sizeof name, w->segs[i].first_index);
    if (unlinkat(w->dir_fd, name, 0) < 0 && errno != ENOENT) {
        return wal_fail(w, -errno, "cannot remove %s/%s", w->dir, name);
    }
    return 0;
}

/* Removes every segment from index `from` on, last first, so a crash midway leaves a prefix. */
static int segments_remove_from(wal_t *w, size_t from) {
    if (w->seg_count > from && w->fd >= 0) {
        close(w->fd); /* the active segment goes first */
        w->fd = -1;
    }
    while (w->seg_count > from) {
        int rc = segment_unlink(w, w->seg_count - 1);
        if (rc < 0) {
            return rc;
        }
        w->seg_count--;
    }
    int rc = fileio_sync_dir(w->io, w->dir_fd);
    return rc < 0 ? wal_fail(w, rc, "directory fsync of %s failed", w->dir) : 0;
}

int wal_open(wal_t *w, int dir_fd, const char *dir, const storage_io_t *io,
             uint64_t segment_bytes, uint64_t base_index, uint64_t base_term,
             persist_record_cb *apply, void *arg, char *err, size_t err_size) {
    assert(w != NULL);
    assert(io != NULL);
    memset(w, 0, sizeof *w);
    w->dir_fd = dir_fd;
    w->dir = dir;
    w->io = io;
    w->fd = -1;
    w->segment_bytes = segment_bytes;
    w->base_index = base_index;
    w->base_term = base_term;
    w->zeros = mem_calloc(1, WAL_ZERO_CHUNK);
    buf_init(&w->pending);
    int rc = segments_list(w, err, err_size);
    if (rc < 0) {
        return rc;
    }
    if (w->seg_count > 0 && w->segs[0].first_index > base_index + 1) {
        snprintf(err, err_size,
                 "log in %s starts at index %" PRIu64 " but the snapshot covers only up to %" PRIu64
                 ": records are missing",
                 dir, w->segs[0].first_index, base_index);
        return -EINVAL;
    }
    if (w->seg_count == 0 || w->segs[0].first_index > base_index) {
        runs_push(w, base_index, base_term);
    }
    replay_t r = {w, apply, arg};
    for (size_t i = 0; i < w->seg_count; i++) {
        rc = segment_recover(w, i, &r, err, err_size);
        if (rc < 0) {
            return rc;
        }
    }
    if (w->seg_count == 0 || w->last_index < base_index) {
        /* Nothing in the log goes past the snapshot: start a fresh log after it. */
        w->run_count = 0;
        runs_push(w, base_index, base_term);
        w->last_index = base_index;
        w->last_term = base_term;
        rc = segments_remove_from(w, 0);
        if (rc == 0) {
            rc = segment_create(w, base_index + 1);
        }
    } else {
        rc = segment_reopen_active(w);
    }
    if (rc < 0) {
        snprintf(err, err_size, "%s", w->failure);
        return rc;
    }
    w->written_index = w->last_index;
    w->synced_index = w->last_index;
    return 0;
}

void wal_close(wal_t *w) {
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    buf_free(&w->pending);
    mem_free(w->segs);
    mem_free(w->runs);
    mem_free(w->zeros);
    w->segs = NULL;
    w->runs = NULL;
    w->zeros = NULL;
}

/* ---- Appending and group commit ---- */

int wal_append(wal_t *w, uint64_t term, uint64_t index, int type, const char *data, size_t len) {
    assert(w != NULL);
    assert(data != NULL || len == 0);
    if (w->failed) {
        return -EIO;
    }
    if (len > PERSIST_RECORD_MAX) {
        return -E2BIG;
    }
    if (index != w->last_index + 1 || term < w->last_term || type <= 0 || type > 255) {
        return -EINVAL;
    }
    record_encode(&w->pending, term, index, type, data, len);
    runs_push(w, index, term);
    w->last_index = index;
    w->last_term = term;
    return 0;
}

int wal_sync(wal_t *w) {
    if (w->failed) {
        return -EIO;
    }
    if (w->synced_index == w->written_index || w->fd < 0) {
        return 0;
    }
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = w->io->sync(w->io->ctx, w->fd, 1);
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    w->fsync_count++;
    w->last_fsync_us =
        (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
    if (rc < 0) {
        char name[STORAGE_NAME_MAX];
        segment_name(name, sizeof name, w->segs[w->seg_count - 1].first_index);
        return wal_fail(w, rc, "fdatasync of %s/%s failed", w->dir, name);
    }
    w->synced_index = w->written_index;
    return 0;
}

/* Syncs the active segment and starts the next one at written_index + 1. */
static int wal_roll(wal_t *w) {
    int rc = wal_sync(w);
    if (rc < 0) {
        return rc;
    }
    close(w->fd);
    w->fd = -1;
    return segment_create(w, w->written_index + 1);
}

/* Writes zeros ahead so that [.., end) of the active segment is allocated and written. */
static int zero_fill_to(wal_t *w, uint64_t end) {
    while (w->zeroed_end < end) {
        int rc = fileio_pwrite_all(w->io, w->fd, w->zeros, WAL_ZERO_CHUNK, w->zeroed_end);
        if (rc < 0) {
            return rc;
        }
        w->zeroed_end += WAL_ZERO_CHUNK;
    }
    return 0;
}

/* Writes pending[from..to) (whole records) at the end of the active segment. */
static int write_chunk(wal_t *w, size_t from, size_t to) {
    wal_segment_t *s = &w->segs[w->seg_count - 1];
    int rc = zero_fill_to(w, s->bytes + (to - from));
    if (rc == 0) {
        rc = fileio_pwrite_all(w->io, w->fd, w->pending.data + from, to - from, s->bytes);
    }
    if (rc < 0) {
        char name[STORAGE_NAME_MAX];
        segment_name(name, sizeof name, s->first_index);
        return wal_fail(w, rc, "write to %s/%s failed", w->dir, name);
    }
    s->bytes += to - from;
    w->bytes_written += to - from;
    return 0;
}

int wal_flush(wal_t *w, int sync) {
    assert(w != NULL);
    if (w->failed) {
        return -EIO;
    }
    size_t off = 0;
    while (off < w->pending.len) {
        wal_segment_t *s = &w->segs[w->seg_count - 1];
        size_t end = off;
        uint64_t last = 0;
        while (end < w->pending.len) {
            size_t size = RECORD_HEADER_SIZE + record_payload_len(w->pending.data + end);
            int empty = s->bytes == SEGMENT_HEADER_SIZE && end == off;
            if (!empty && s->bytes + (end - off) + size > w->segment_bytes) {
                break; /* a record larger than a segment gets a segment of its own */
            }
            last = record_index(w->pending.data + end);
            end += size;
        }
        if (end > off) {
            int rc = write_chunk(w, off, end);
            if (rc < 0) {
                return rc;
            }
            s->last_index = last;
            w->written_index = last;
            off = end;
        }
        if (off < w->pending.len) {
            int rc = wal_roll(w);
            if (rc < 0) {
                return rc;
            }
        }
    }
    buf_clear(&w->pending);
    if (w->pending.cap > WAL_PENDING_KEEP) {
        buf_free(&w->pending); /* do not hold on to the memory of one huge batch */
        buf_init(&w->pending);
    }
    return sync ? wal_sync(w) : 0;
}

/* ---- Truncation, compaction, reset ---- */

/* Drops buffered records with indexes above index. */
static void pending_cut(wal_t *w, uint64_t index) {
    size_t off = 0;
    while (off < w->pending.len && record_index(w->pending.data + off) <= index) {
        off += RECORD_HEADER_SIZE + record_payload_len(w->pending.data + off);
    }
    w->pending.len = off;
}

/* Reads segment s's records (its first s->bytes bytes) into *data (caller frees). */
static int segment_read(wal_t *w, const wal_segment_t *s, char **data, size_t *len) {
    char name[STORAGE_NAME_MAX];
    segment_name(name, sizeof name, s->first_index);
    int fd = openat(w->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    *data = mem_alloc((size_t)s->bytes);
    int rc = fileio_pread_all(fd, *data, (size_t)s->bytes, 0, len);
    close(fd);
    if (rc < 0) {
        mem_free(*data);
        *data = NULL;
    }
    return rc;
}

/* Offset of the first record above index in segment s (its end when there is none). */
static int segment_offset_after(wal_t *w, const wal_segment_t *s, uint64_t index, size_t *off) {
    char *data = NULL;
    size_t len = 0;
    int rc = segment_read(w, s, &data, &len);
    if (rc < 0) {
        return rc;
    }
    wal_scan_t scan = {.next_index = s->first_index, .stop_after = index};
    rc = wal_scan(data, len, SEGMENT_HEADER_SIZE, &scan, NULL, NULL);
    mem_free(data);
    if (rc != WAL_SCAN_CLEAN) {
        return -EIO;
    }
    *off = scan.end;
    return 0;
}

int wal_truncate_after(wal_t *w, uint64_t index) {
    assert(w != NULL);
    if (w->failed) {
        return -EIO;
    }
    if (index < w->base_index || index < wal_first_index(w) - 1 || index > w->last_index) {
        return -EINVAL;
    }
    pending_cut(w, index);
    runs_cut(w, index);
    w->last_index = index;
    int rc = wal_term_at(w, index, &w->last_term);
    assert(rc == 0);
    if (index >= w->written_index) {
        return 0; /* only buffered records went */
    }
    size_t keep = w->seg_count;
    while (keep > 1 && w->segs[keep - 1].first_index > index + 1) {
        keep--;
    }
    if (keep < w->seg_count) {
        rc = segments_remove_from(w, keep);
        if (rc < 0) {
            return rc;
        }
    }
    wal_segment_t *s = &w->segs[keep - 1];
    size_t off = 0;
    rc = segment_offset_after(w, s, index, &off);
    if (rc < 0) {
        return wal_fail(w, rc, "cannot read back the log in %s for truncation", w->dir);
    }
    s->bytes = off;
    s->last_index = index;
    w->written_index = index;
    w->synced_index = index;
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    return segment_reopen_active(w); /* cuts at off and fsyncs: the cut is durable */
}

int wal_compact(wal_t *w, uint64_t index) {
    assert(w != NULL);
    size_t drop = 0;
    while (drop + 1 < w->seg_count && w->segs[drop + 1].first_index <= index + 1) {
        drop++;
    }
    if (drop == 0) {
        return 0;
    }
    for (size_t i = 0; i < drop; i++) { /* oldest first: a crash leaves a suffix */
        int rc = segment_unlink(w, i);
        if (rc < 0) {
            return rc;
        }
    }
    memmove(w->segs, w->segs + drop, (w->seg_count - drop) * sizeof *w->segs);
    w->seg_count -= drop;
    int rc = fileio_sync_dir(w->io, w->dir_fd);
    if (rc < 0) {
        return wal_fail(w, rc, "directory fsync of %s failed", w->dir);
    }
    uint64_t first = wal_first_index(w);
    size_t keep_from = 0;
    while (keep_from + 1 < w->run_count && w->runs[keep_from + 1].index <= first - 1) {
        keep_from++;
    }
    memmove(w->runs, w->runs + keep_from, (w->run_count - keep_from) * sizeof *w->runs);
    w->run_count -= keep_from;
    return 0;
}

int wal_reset(wal_t *w, uint64_t index, uint64_t term) {
    assert(w != NULL);
    if (w->failed) {
        return -EIO;
    }
    buf_clear(&w->pending);
    int rc = segments_remove_from(w, 0);
    if (rc < 0) {
        return rc;
    }
    w->base_index = index;
    w->base_term = term;
    w->run_count = 0;
    runs_push(w, index, term);
    w->last_index = index;
    w->last_term = term;
    w->written_index = index;
    w->synced_index = index;
    return segment_create(w, index + 1);
}

/* ---- Reading back ---- */

typedef struct read_filter {
    uint64_t after;
    persist_record_cb *cb;
    void *arg;
} read_filter_t;

static int read_filter(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                       size_t len) {
    read_filter_t *f = arg;
    return index <= f->after ? 0 : f->cb(f->arg, term, index, type, data, len);
}

int wal_read_after(wal_t *w, uint64_t after_index, persist_record_cb *cb, void *arg) {
    assert(w != NULL);
    assert(cb != NULL);
    if (after_index + 1 < wal_first_index(w)) {
        return -ENOENT;
    }
    read_filter_t f = {after_index, cb, arg};
    for (size_t i = 0; i < w->seg_count; i++) {
        wal_segment_t *s = &w->segs[i];
        if (s->last_index <= after_index || s->last_index < s->first_index) {
            continue;
        }
        char *data = NULL;
        size_t len = 0;
        int rc = segment_read(w, s, &data, &len);
        if (rc < 0) {
            return rc;
        }
        wal_scan_t scan = {.next_index = s->first_index, .stop_after = s->last_index};
        rc = wal_scan(data, len, SEGMENT_HEADER_SIZE, &scan, read_filter, &f);
        mem_free(data);
        if (rc == 0 && scan.next_index != s->last_index + 1) {
            rc = -EIO; /* records that were there at open no longer check out */
        }
        if (rc != 0) {
            return rc > 0 ? -EIO : rc;
        }
    }
    wal_scan_t scan = {.next_index = w->written_index + 1};
    int rc = wal_scan(w->pending.data, w->pending.len, 0, &scan, read_filter, &f);
    return rc > 0 ? -EIO : rc;
}
