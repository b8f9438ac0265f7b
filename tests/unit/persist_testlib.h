/* Shared helpers of the storage unit tests (test_wal.c, test_persist.c): a scratch directory,
 * a tiny state machine whose snapshot is its list of applied records, and a storage_io_t that
 * fails on command (a full disk, a failing fsync). Header-only so that only those tests see it. */
#ifndef POLIS_TESTS_PERSIST_TESTLIB_H
#define POLIS_TESTS_PERSIST_TESTLIB_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"
#include "storage/fileio.h"
#include "storage/persist.h"

#define SM_RECORDS_MAX 20000

/* ---- Scratch directory ---- */

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tdir_make(char *out, size_t size) {
    snprintf(out, size, "/tmp/polis-test-XXXXXX");
    if (mkdtemp(out) == NULL) {
        abort();
    }
}

static inline void tdir_remove(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- A state machine of records ---- */

typedef struct sm {
    uint64_t count;
    uint64_t index[SM_RECORDS_MAX];
    uint64_t term[SM_RECORDS_MAX];
    char *data[SM_RECORDS_MAX];
    int loaded_snapshot;
} sm_t;

static inline void sm_clear(sm_t *sm) {
    for (uint64_t i = 0; i < sm->count; i++) {
        free(sm->data[i]);
    }
    sm->count = 0;
}

static inline int sm_apply(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                    size_t len) {
    sm_t *sm = arg;
    if (sm->count == SM_RECORDS_MAX || type != RECORD_KV) {
        return -ENOSPC;
    }
    sm->index[sm->count] = index;
    sm->term[sm->count] = term;
    sm->data[sm->count] = strndup(data, len);
    sm->count++;
    return 0;
}

static inline int sm_dump(void *arg, io_write_fn *write, void *ctx) {
    sm_t *sm = arg;
    uint64_t n = sm->count;
    int rc = write(ctx, &n, sizeof n);
    for (uint64_t i = 0; i < sm->count && rc == 0; i++) {
        uint64_t len = strlen(sm->data[i]);
        uint64_t head[3] = {sm->index[i], sm->term[i], len};
        rc = write(ctx, head, sizeof head);
        if (rc == 0) {
            rc = write(ctx, sm->data[i], len);
        }
    }
    return rc;
}

static inline int sm_load(void *arg, io_read_fn *read, void *ctx) {
    sm_t *sm = arg;
    sm_clear(sm);
    sm->loaded_snapshot++;
    uint64_t n;
    int rc = read(ctx, &n, sizeof n);
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        uint64_t head[3];
        rc = read(ctx, head, sizeof head);
        if (rc < 0 || head[2] > 4096) {
            return rc < 0 ? rc : -EINVAL;
        }
        char *s = calloc(1, head[2] + 1);
        rc = read(ctx, s, head[2]);
        sm->index[sm->count] = head[0];
        sm->term[sm->count] = head[1];
        sm->data[sm->count++] = s;
    }
    return rc;
}

static inline persist_hooks_t sm_hooks(sm_t *sm) {
    persist_hooks_t h = {sm_load, sm_apply, sm_dump, sm};
    return h;
}

/* ---- Failing I/O ---- */

typedef struct fault {
    long syncs_left;      /* syncs that succeed before every later one fails with EIO; -1: all */
    long long write_room; /* bytes writable before ENOSPC; -1: unlimited */
    int no_fallocate;     /* fallocate reports EOPNOTSUPP */
    char trace[4096];     /* one letter per call: w write, s fdatasync, S fsync, f fallocate,
                             t ftruncate, r rename (the last ones kept when it fills up) */
    size_t trace_len;
    storage_io_t io;
} fault_t;

static inline void fault_trace(fault_t *f, char op) {
    if (f->trace_len + 1 >= sizeof f->trace) {
        memmove(f->trace, f->trace + sizeof f->trace / 2, sizeof f->trace / 2);
        f->trace_len -= sizeof f->trace / 2;
    }
    f->trace[f->trace_len++] = op;
    f->trace[f->trace_len] = '\0';
}

static inline ssize_t fault_pwrite(void *ctx, int fd, const void *data, size_t n, uint64_t offset) {
    fault_t *f = ctx;
    fault_trace(f, 'w');
    if (f->write_room >= 0) {
        if (f->write_room == 0) {
            return -ENOSPC;
        }
        if ((long long)n > f->write_room) {
            n = (size_t)f->write_room; /* a short write, then ENOSPC */
        }
        f->write_room -= (long long)n;
    }
    return storage_io_default()->pwrite(NULL, fd, data, n, offset);
}

static inline int fault_sync(void *ctx, int fd, int data_only) {
    fault_t *f = ctx;
    fault_trace(f, data_only ? 's' : 'S');
    if (f->syncs_left == 0) {
        return -EIO;
    }
    if (f->syncs_left > 0) {
        f->syncs_left--;
    }
    return storage_io_default()->sync(NULL, fd, data_only);
}

static inline int fault_fallocate(void *ctx, int fd, uint64_t offset, uint64_t len) {
    fault_t *f = ctx;
    fault_trace(f, 'f');
    return f->no_fallocate ? -EOPNOTSUPP : storage_io_default()->fallocate(NULL, fd, offset, len);
}

static inline int fault_ftruncate(void *ctx, int fd, uint64_t len) {
    fault_trace(ctx, 't');
    return storage_io_default()->ftruncate(NULL, fd, len);
}

static inline int fault_rename(void *ctx, int dir_fd, const char *from, const char *to) {
    fault_trace(ctx, 'r');
    return storage_io_default()->rename(NULL, dir_fd, from, to);
}

static inline void fault_init(fault_t *f) {
    f->syncs_left = -1;
    f->write_room = -1;
    f->no_fallocate = 0;
    f->trace_len = 0;
    f->trace[0] = '\0';
    f->io = (storage_io_t){fault_pwrite, fault_sync, fault_fallocate, fault_ftruncate,
                           fault_rename, f};
}

/* ---- Files ---- */

static inline long file_size_of(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static inline int count_files(const char *dir, const char *prefix, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        size_t sl = strlen(suffix);
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && len >= sl &&
            strcmp(e->d_name + len - sl, suffix) == 0) {
            n++;
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

#endif
