/* persist: the node's durability facade — log, hard state, snapshots, background snapshot
 * child, fsync policies and the failed state (contract in persist.h; design in
 * docs/ARCHITECTURE.md, "Storage"). */
#include "storage/persist.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "storage/hardstate.h"
#include "storage/record.h"
#include "storage/snapshot.h"
#include "storage/wal.h"

#define SNAPSHOT_RETRY_MS 5000 /* after a failed automatic snapshot, wait this long */
#define EVERYSEC_MS 1000

struct persist {
    char *dir;
    int dir_fd;
    int lock_fd;
    persist_options_t opt;
    persist_hooks_t hooks;
    const storage_io_t *io;
    wal_t wal;
    hardstate_file_t hs;
    snapshot_info_t snap; /* the newest durable snapshot (index 0: none) */
    pid_t child_pid;      /* a background snapshot being written, 0 when none */
    persist_snapshot_point_t child_at;
    char *child_meta;
    uint64_t child_mark;
    uint64_t log_bytes_at_open; /* record bytes in the log at open */
    uint64_t snap_mark;         /* log byte count when the newest snapshot was started */
    int64_t last_save_unix;
    int last_snapshot_ok;
    uint64_t snapshot_count;
    uint64_t flush_count;
    int64_t last_sync_ms;
    int64_t snapshot_retry_ms;
};

struct persist_install {
    persist_t *p;
    int fd;
    uint64_t offset;
};

static const char install_tmp[] = "install.snap.tmp";

const char *persist_fsync_policy_name(enum fsync_policy policy) {
    switch (policy) {
    case FSYNC_ALWAYS:
        return "always";
    case FSYNC_EVERYSEC:
        return "everysec";
    case FSYNC_NO:
        return "no";
    }
    return "?";
}

static uint64_t log_bytes_total(const persist_t *p) {
    return p->log_bytes_at_open + p->wal.bytes_written;
}

/* ---- Opening ---- */

/* Creates dir if missing (syncing its parent so the new entry survives a crash), opens it and
 * takes its lock. */
static int dir_prepare(persist_t *p, char *err, size_t err_size) {
    if (mkdir(p->dir, 0755) == 0) {
        char parent[4096];
        snprintf(parent, sizeof parent, "%s/..", p->dir);
        int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (pfd >= 0) {
            fsync(pfd);
            close(pfd);
        }
    } else if (errno != EEXIST) {
        snprintf(err, err_size, "cannot create directory %s: %s", p->dir, strerror(errno));
        return -errno;
    }
    p->dir_fd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (p->dir_fd < 0) {
        snprintf(err, err_size, "cannot open directory %s: %s", p->dir, strerror(errno));
        return -errno;
    }
    p->lock_fd = openat(p->dir_fd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (p->lock_fd < 0 || flock(p->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        int rc = -errno;
        snprintf(err, err_size, "cannot lock %s/LOCK: %s%s", p->dir, strerror(errno),
                 errno == EWOULDBLOCK ? " (another polis process uses this directory)" : "");
        return rc;
    }
    int removed = storage_remove_temp_files(p->dir_fd);
    if (removed > 0) {
        log_notice("storage", "removed temporary files left in %s by an interrupted write",
                   p->dir);
        removed = fileio_sync_dir(p->io, p->dir_fd);
    }
    if (removed < 0) {
        snprintf(err, err_size, "cannot clean temporary files in %s: %s", p->dir,
                 strerror(-removed));
        return removed;
    }
    return 0;
}

/* Finds the newest snapshot that checks out completely and loads it. */
static int snapshot_recover(persist_t *p, char *err, size_t err_size) {
    uint64_t *indexes = NULL;
    size_t count = 0;
    int rc = snapshot_list(p->dir_fd, &indexes, &count);
    if (rc < 0) {
        snprintf(err, err_size, "cannot list %s: %s", p->dir, strerror(-rc));
        return rc;
    }
    char name[STORAGE_NAME_MAX];
    for (size_t i = 0; i < count && p->snap.index == 0; i++) {
        snapshot_name(name, sizeof name, indexes[i]);
        char why[128];
        snapshot_info_t info;
        if (snapshot_check(p->dir_fd, name, &info, why, sizeof why) < 0 ||
            info.index != indexes[i]) {
            log_warning("storage", "ignoring invalid snapshot %s/%s: %s", p->dir, name,
                        info.index != indexes[i] ? "index differs from its name" : why);
            continue;
        }
        p->snap = info;
    }
    mem_free(indexes);
    if (p->snap.index == 0 || p->hooks.load_snapshot == NULL) {
        return 0;
    }
    snapshot_name(name, sizeof name, p->snap.index);
    rc = snapshot_load(p->dir_fd, name, &p->snap, p->hooks.load_snapshot, p->hooks.arg);
    if (rc < 0) {
        snprintf(err, err_size, "cannot load snapshot %s/%s: %s", p->dir, name, strerror(-rc));
        return rc;
    }
    p->last_save_unix = p->snap.created_unix;
    return 0;
}

int persist_open(const persist_options_t *options, const persist_hooks_t *hooks,
                 persist_t **out, char *err, size_t err_size) {
    assert(options != NULL && options->dir != NULL);
    assert(hooks != NULL);
    persist_t *p = mem_calloc(1, sizeof *p);
    p->dir = mem_strdup(options->dir);
    p->opt = *options;
    p->opt.dir = p->dir;
    if (p->opt.segment_bytes == 0) {
        p->opt.segment_bytes = PERSIST_SEGMENT_BYTES_DEFAULT;
    }
    p->hooks = *hooks;
    p->io = options->io ? options->io : storage_io_default();
    p->dir_fd = -1;
    p->lock_fd = -1;
    p->hs.fd = -1;
    p->wal.fd = -1;
    p->last_snapshot_ok = 1;
    int64_t start_ms = time_mono_ms();
    int rc = dir_prepare(p, err, err_size);
    if (rc == 0) {
        rc = hardstate_load(&p->hs, p->dir_fd, p->dir, err, err_size);
    }
    if (rc == 0) {
        rc = snapshot_recover(p, err, err_size);
    }
    if (rc == 0) {
        rc = wal_open(&p->wal, p->dir_fd, p->dir, p->io, p->opt.segment_bytes, p->snap.index,
                      p->snap.term, p->hooks.apply, p->hooks.arg, err, err_size);
    }
    if (rc < 0) {
        persist_close(p);
        return rc;
    }
    for (size_t i = 0; i < p->wal.seg_count; i++) {
        p->log_bytes_at_open += p->wal.segs[i].bytes - SEGMENT_HEADER_SIZE;
    }
    p->last_sync_ms = time_mono_ms();
    log_notice("storage",
               "opened %s in %" PRId64 " ms: snapshot index %" PRIu64 ", %" PRIu64
               " log records replayed, last index %" PRIu64 ", %zu segments, fsync %s",
               p->dir, time_mono_ms() - start_ms, p->snap.index, p->wal.records_recovered,
               p->wal.last_index, p->wal.seg_count, persist_fsync_policy_name(p->opt.fsync));
    *out = p;
    return 0;
}

static void child_tmp_name(char *out, size_t size, uint64_t index) {
    char name[STORAGE_NAME_MAX];
    snapshot_name(name, sizeof name, index);
    snprintf(out, size, "%s.tmp", name);
}

/* Stops a running snapshot child and removes its file. */
static void child_kill(persist_t *p) {
    if (p->child_pid <= 0) {
        return;
    }
    kill(p->child_pid, SIGKILL);
    while (waitpid(p->child_pid, NULL, 0) < 0 && errno == EINTR) {
    }
    char tmp[STORAGE_NAME_MAX + 8];
    child_tmp_name(tmp, sizeof tmp, p->child_at.index);
    unlinkat(p->dir_fd, tmp, 0);
    p->child_pid = 0;
    mem_free(p->child_meta);
    p->child_meta = NULL;
}

void persist_close(persist_t *p) {
    if (p == NULL) {
        return;
    }
    child_kill(p);
    if (p->wal.zeros != NULL) {
        if (!p->wal.failed && wal_flush(&p->wal, 1) < 0) {
            log_warning("storage", "final flush failed: %s", p->wal.failure);
        }
        wal_close(&p->wal);
    }
    hardstate_close(&p->hs);
    snapshot_info_free(&p->snap);
    if (p->lock_fd >= 0) {
        close(p->lock_fd); /* releases the flock */
    }
    if (p->dir_fd >= 0) {
        close(p->dir_fd);
    }
    mem_free(p->dir);
    mem_free(p);
}

/* ---- The log ---- */

static uint64_t current_term(const persist_t *p) {
    uint64_t t = p->hs.state.term > p->wal.last_term ? p->hs.state.term : p->wal.last_term;
    return t ? t : 1;
}

uint64_t persist_append(persist_t *p, int type, const char *data, size_t len) {
    assert(p != NULL);
    uint64_t index = p->wal.last_index + 1;
    return wal_append(&p->wal, current_term(p), index, type, data, len) == 0 ? index : 0;
}

int persist_append_entry(persist_t *p, uint64_t term, uint64_t index, int type, const char *data,
                         size_t len) {
    assert(p != NULL);
    return wal_append(&p->wal, term, index, type, data, len);
}

int persist_flush(persist_t *p) {
    assert(p != NULL);
    if (p->wal.pending.len == 0) {
        return p->wal.failed ? -EIO : 0;
    }
    p->flush_count++;
    return wal_flush(&p->wal, p->opt.fsync == FSYNC_ALWAYS);
}

int persist_truncate_after(persist_t *p, uint64_t index) {
    assert(p != NULL);
    return wal_truncate_after(&p->wal, index);
}

int persist_read_after(persist_t *p, uint64_t after_index, persist_record_cb *cb, void *arg) {
    assert(p != NULL);
    return wal_read_after(&p->wal, after_index, cb, arg);
}

int persist_term_at(const persist_t *p, uint64_t index, uint64_t *term) {
    assert(p != NULL);
    return wal_term_at(&p->wal, index, term);
}

/* ---- Hard state ---- */

int persist_hard_state_save(persist_t *p, const persist_hard_state_t *hs) {
    assert(p != NULL);
    assert(hs != NULL);
    if (p->wal.failed) {
        return -EIO;
    }
    int rc = hardstate_save(&p->hs, p->io, p->dir_fd, hs);
    if (rc < 0) {
        return wal_fail(&p->wal, rc, "saving the hard state in %s/%s failed", p->dir,
                        HARDSTATE_FILE);
    }
    return 0;
}

void persist_hard_state_get(const persist_t *p, persist_hard_state_t *hs) {
    assert(p != NULL);
    assert(hs != NULL);
    *hs = p->hs.state;
}

/* ---- Snapshots ---- */

/* Removes snapshot files older than keep_index (best effort: they are no longer needed). */
static void snapshots_remove_older(persist_t *p, uint64_t keep_index) {
    uint64_t *indexes = NULL;
    size_t count = 0;
    if (snapshot_list(p->dir_fd, &indexes, &count) < 0) {
        return;
    }
    int removed = 0;
    for (size_t i = 0; i < count; i++) {
        char name[STORAGE_NAME_MAX];
        snapshot_name(name, sizeof name, indexes[i]);
        if (indexes[i] < keep_index && unlinkat(p->dir_fd, name, 0) == 0) {
            removed = 1;
        }
    }
    mem_free(indexes);
    if (removed) {
        fileio_sync_dir(p->io, p->dir_fd);
    }
}

/* A snapshot file `tmp`, complete and synced, covering info becomes the newest: renamed into
 * place, directory synced, older snapshots and covered segments removed. Takes info. */
static int snapshot_adopt(persist_t *p, const char *tmp, snapshot_info_t *info) {
    char name[STORAGE_NAME_MAX];
    snapshot_name(name, sizeof name, info->index);
    int rc = p->io->rename(p->io->ctx, p->dir_fd, tmp, name);
    if (rc == 0) {
        rc = fileio_sync_dir(p->io, p->dir_fd);
    }
    if (rc < 0) {
        log_warning("storage", "snapshot %s/%s not put in place: %s", p->dir, name,
                    strerror(-rc));
        unlinkat(p->dir_fd, tmp, 0);
        snapshot_info_free(info);
        return rc;
    }
    snapshot_info_free(&p->snap);
    p->snap = *info;
    p->last_save_unix = info->created_unix;
    p->snapshot_count++;
    snapshots_remove_older(p, info->index);
    if (info->index > p->wal.base_index) {
        p->wal.base_index = info->index;
        p->wal.base_term = info->term;
    }
    uint64_t retain = p->opt.retain_entries;
    if (info->index > retain) {
        rc = wal_compact(&p->wal, info->index - retain);
    }
    log_notice("storage", "snapshot %s/%s in place (index %" PRIu64 ", term %" PRIu64 ")",
               p->dir, name, info->index, info->term);
    return rc;
}

static void info_from_point(snapshot_info_t *info, const persist_snapshot_point_t *at,
                            int64_t created_unix) {
    memset(info, 0, sizeof *info);
    info->index = at->index;
    info->term = at->term;
    info->created_unix = created_unix;
    if (at->meta_len > 0) {
        info->meta = mem_alloc(at->meta_len);
        memcpy(info->meta, at->meta, at->meta_len);
        info->meta_len = at->meta_len;
    }
}

static int snapshot_check_point(persist_t *p, const persist_snapshot_point_t *at) {
    if (p->wal.failed) {
        return -EIO;
    }
    if (p->child_pid > 0) {
        return -EBUSY;
    }
    if (p->hooks.dump_snapshot == NULL) {
        return -ENOTSUP;
    }
    if (at->index > p->wal.written_index || at->index < p->snap.index) {
        return -EINVAL;
    }
    return at->meta_len > PERSIST_META_MAX ? -E2BIG : 0;
}

/* The child: writes the snapshot file and exits with 0 or an errno. Never returns. */
static void snapshot_child(persist_t *p, const persist_snapshot_point_t *at, const char *tmp,
                           pid_t parent) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* an orphaned snapshot is useless: die with the parent */
    if (getppid() != parent) {
        _exit(ECHILD); /* the parent died before the line above took effect */
    }
    close(p->lock_fd); /* the lock must not outlive the parent through this child */
    int rc = snapshot_write(p->io, p->dir_fd, tmp, at, (int64_t)time(NULL),
                            p->hooks.dump_snapshot, p->hooks.arg);
    _exit(rc == 0 ? 0 : (rc < 0 && rc > -126 ? -rc : 125));
}

int persist_snapshot_background_at(persist_t *p, const persist_snapshot_point_t *at) {
    assert(p != NULL);
    assert(at != NULL);
    int rc = snapshot_check_point(p, at);
    if (rc < 0) {
        return rc;
    }
    char tmp[STORAGE_NAME_MAX + 8];
    child_tmp_name(tmp, sizeof tmp, at->index);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        snapshot_child(p, at, tmp, parent);
    }
    p->child_pid = pid;
    p->child_at = *at;
    p->child_meta = NULL;
    if (at->meta_len > 0) {
        p->child_meta = mem_alloc(at->meta_len);
        memcpy(p->child_meta, at->meta, at->meta_len);
    }
    p->child_at.meta = p->child_meta;
    p->child_mark = log_bytes_total(p);
    log_notice("storage", "background snapshot started by pid %d (index %" PRIu64 ")", (int)pid,
               at->index);
    return 0;
}

int persist_snapshot_now_at(persist_t *p, const persist_snapshot_point_t *at) {
    assert(p != NULL);
    assert(at != NULL);
    int rc = snapshot_check_point(p, at);
    if (rc < 0) {
        return rc;
    }
    char tmp[STORAGE_NAME_MAX + 8];
    child_tmp_name(tmp, sizeof tmp, at->index);
    int64_t now = (int64_t)time(NULL);
    uint64_t mark = log_bytes_total(p);
    rc = snapshot_write(p->io, p->dir_fd, tmp, at, now, p->hooks.dump_snapshot, p->hooks.arg);
    if (rc < 0) {
        unlinkat(p->dir_fd, tmp, 0);
        p->last_snapshot_ok = 0;
        log_warning("storage", "snapshot failed: %s", strerror(-rc));
        return rc;
    }
    snapshot_info_t info;
    info_from_point(&info, at, now);
    rc = snapshot_adopt(p, tmp, &info);
    p->last_snapshot_ok = rc == 0;
    if (rc == 0) {
        p->snap_mark = mark;
    }
    return rc;
}

static int single_node_point(persist_t *p, persist_snapshot_point_t *at) {
    if (p->wal.pending.len > 0) {
        return -EAGAIN;
    }
    *at = (persist_snapshot_point_t){p->wal.written_index, p->wal.last_term, NULL, 0};
    return 0;
}

int persist_snapshot_background(persist_t *p) {
    persist_snapshot_point_t at;
    int rc = single_node_point(p, &at);
    return rc < 0 ? rc : persist_snapshot_background_at(p, &at);
}

int persist_snapshot_now(persist_t *p) {
    persist_snapshot_point_t at;
    int rc = single_node_point(p, &at);
    return rc < 0 ? rc : persist_snapshot_now_at(p, &at);
}

/* Collects a finished snapshot child and adopts its file: 1 done, 0 still running, -1 the
 * snapshot failed. */
static int snapshot_reap(persist_t *p) {
    int status = 0;
    pid_t r = waitpid(p->child_pid, &status, WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) {
        return 0;
    }
    char tmp[STORAGE_NAME_MAX + 8];
    child_tmp_name(tmp, sizeof tmp, p->child_at.index);
    int ok = r == p->child_pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    p->child_pid = 0;
    if (ok && p->child_at.index >= p->snap.index) {
        snapshot_info_t info;
        info_from_point(&info, &p->child_at, (int64_t)time(NULL));
        ok = snapshot_adopt(p, tmp, &info) == 0;
        if (ok) {
            p->snap_mark = p->child_mark;
        }
    } else {
        unlinkat(p->dir_fd, tmp, 0);
        if (!ok) {
            log_warning("storage", "background snapshot failed: %s",
                        WIFEXITED(status) ? strerror(WEXITSTATUS(status)) : "child killed");
        }
    }
    p->last_snapshot_ok = ok;
    mem_free(p->child_meta);
    p->child_meta = NULL;
    return ok ? 1 : -1;
}

void persist_poll(persist_t *p, int64_t now_ms) {
    assert(p != NULL);
    if (p->opt.fsync == FSYNC_EVERYSEC && now_ms - p->last_sync_ms >= EVERYSEC_MS) {
        p->last_sync_ms = now_ms;
        wal_sync(&p->wal); /* a failure enters the failed state, which says why */
    }
    if (p->child_pid > 0 && snapshot_reap(p) < 0) {
        p->snapshot_retry_ms = now_ms + SNAPSHOT_RETRY_MS;
    }
    uint64_t since = log_bytes_total(p) - p->snap_mark;
    if (p->opt.snapshot_log_bytes > 0 && since >= p->opt.snapshot_log_bytes &&
        p->child_pid == 0 && !p->wal.failed && now_ms >= p->snapshot_retry_ms &&
        p->wal.written_index > p->snap.index) {
        if (persist_snapshot_background(p) < 0 && p->wal.pending.len == 0) {
            p->snapshot_retry_ms = now_ms + SNAPSHOT_RETRY_MS;
        }
    }
}

void persist_snapshot_get(const persist_t *p, persist_snapshot_point_t *out) {
    assert(p != NULL);
    assert(out != NULL);
    *out = (persist_snapshot_point_t){p->snap.index, p->snap.term, p->snap.meta,
                                      p->snap.meta_len};
}

int persist_snapshot_open(persist_t *p, int *fd, uint64_t *size) {
    assert(p != NULL);
    assert(fd != NULL);
    if (p->snap.index == 0) {
        return -ENOENT;
    }
    char name[STORAGE_NAME_MAX];
    snapshot_name(name, sizeof name, p->snap.index);
    int f = openat(p->dir_fd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (f < 0 || fstat(f, &st) < 0) {
        int rc = -errno;
        if (f >= 0) {
            close(f);
        }
        return rc;
    }
    *fd = f;
    *size = (uint64_t)st.st_size;
    return 0;
}

/* ---- Installing a snapshot from the leader ---- */

int persist_install_begin(persist_t *p, persist_install_t **out) {
    assert(p != NULL);
    assert(out != NULL);
    if (p->wal.failed) {
        return -EIO;
    }
    int fd = openat(p->dir_fd, install_tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    persist_install_t *in = mem_calloc(1, sizeof *in);
    in->p = p;
    in->fd = fd;
    *out = in;
    return 0;
}

int persist_install_write(persist_install_t *in, const void *data, size_t len) {
    assert(in != NULL);
    assert(data != NULL || len == 0);
    int rc = fileio_pwrite_all(in->p->io, in->fd, data, len, in->offset);
    if (rc == 0) {
        in->offset += len;
    }
    return rc;
}

void persist_install_abort(persist_install_t *in) {
    if (in == NULL) {
        return;
    }
    close(in->fd);
    unlinkat(in->p->dir_fd, install_tmp, 0);
    mem_free(in);
}

/* After a snapshot at (index, term) is in place: keep the log after it if the log agrees with
 * it at index (Raft's rule), else discard the whole log. */
static int install_trim_log(persist_t *p, uint64_t index, uint64_t term) {
    uint64_t t = 0;
    if (index <= p->wal.last_index && wal_term_at(&p->wal, index, &t) == 0 && t == term) {
        return 0; /* snapshot_adopt compacted the covered segments */
    }
    return wal_reset(&p->wal, index, term);
}

int persist_install_finish(persist_install_t *in, persist_snapshot_point_t *installed) {
    assert(in != NULL);
    persist_t *p = in->p;
    int rc = p->io->sync(p->io->ctx, in->fd, 1);
    close(in->fd);
    in->fd = -1;
    mem_free(in);
    snapshot_info_t info;
    char why[128];
    if (rc == 0 && snapshot_check(p->dir_fd, install_tmp, &info, why, sizeof why) < 0) {
        log_warning("storage", "received snapshot rejected: %s", why);
        rc = -EINVAL;
    } else if (rc == 0 && info.index <= p->snap.index) {
        snapshot_info_free(&info);
        rc = -ESTALE; /* not newer than what we have */
    }
    if (rc < 0) {
        unlinkat(p->dir_fd, install_tmp, 0);
        return rc;
    }
    uint64_t index = info.index;
    uint64_t term = info.term;
    rc = snapshot_adopt(p, install_tmp, &info);
    if (rc == 0) {
        rc = install_trim_log(p, index, term);
        p->snap_mark = log_bytes_total(p);
    }
    if (rc == 0 && p->hooks.load_snapshot != NULL) {
        char name[STORAGE_NAME_MAX];
        snapshot_name(name, sizeof name, index);
        rc = snapshot_load(p->dir_fd, name, &p->snap, p->hooks.load_snapshot, p->hooks.arg);
    }
    if (rc == 0 && installed != NULL) {
        persist_snapshot_get(p, installed);
    }
    return rc;
}

/* ---- Status ---- */

void persist_get_status(const persist_t *p, persist_status_t *st) {
    assert(p != NULL);
    assert(st != NULL);
    memset(st, 0, sizeof *st);
    st->first_index = wal_first_index(&p->wal);
    st->last_index = p->wal.last_index;
    st->last_term = p->wal.last_term;
    st->durable_index = p->wal.synced_index;
    st->snapshot_index = p->snap.index;
    st->snapshot_term = p->snap.term;
    st->log_bytes = log_bytes_total(p) - p->snap_mark;
    st->segment_count = p->wal.seg_count;
    st->last_save_unix = p->last_save_unix;
    st->snapshot_in_progress = p->child_pid > 0;
    st->last_snapshot_ok = p->last_snapshot_ok;
    st->snapshot_count = p->snapshot_count;
    st->fsync_count = p->wal.fsync_count;
    st->flush_count = p->flush_count;
    st->records_recovered = p->wal.records_recovered;
    st->torn_bytes_cut = p->wal.torn_bytes_cut;
    st->last_fsync_us = p->wal.last_fsync_us;
    st->failure = persist_failure(p);
}

const char *persist_failure(const persist_t *p) {
    assert(p != NULL);
    return p->wal.failed ? p->wal.failure : NULL;
}
