/* fileio: the storage system-call layer and its shared helpers (see fileio.h). */
#include "storage/fileio.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/mem.h"

static ssize_t real_pwrite(void *ctx, int fd, const void *data, size_t n, uint64_t offset) {
    (void)ctx;
    ssize_t w = pwrite(fd, data, n, (off_t)offset);
    return w < 0 ? -errno : w;
}

static int real_sync(void *ctx, int fd, int data_only) {
    (void)ctx;
    return (data_only ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static int real_fallocate(void *ctx, int fd, uint64_t offset, uint64_t len) {
    (void)ctx;
    return fallocate(fd, 0, (off_t)offset, (off_t)len) < 0 ? -errno : 0;
}

static int real_ftruncate(void *ctx, int fd, uint64_t len) {
    (void)ctx;
    return ftruncate(fd, (off_t)len) < 0 ? -errno : 0;
}

static int real_rename(void *ctx, int dir_fd, const char *from, const char *to) {
    (void)ctx;
    return renameat(dir_fd, from, dir_fd, to) < 0 ? -errno : 0;
}

static const storage_io_t real_io = {
    real_pwrite, real_sync, real_fallocate, real_ftruncate, real_rename, NULL,
};

const storage_io_t *storage_io_default(void) { return &real_io; }

int fileio_pwrite_all(const storage_io_t *io, int fd, const void *data, size_t n,
                      uint64_t offset) {
    assert(io != NULL);
    assert(fd >= 0);
    const char *p = data;
    while (n > 0) {
        ssize_t w = io->pwrite(io->ctx, fd, p, n, offset);
        if (w == -EINTR) {
            continue;
        }
        if (w < 0) {
            return (int)w;
        }
        if (w == 0) {
            return -EIO; /* a zero-byte write of a non-empty buffer: no progress possible */
        }
        p += w;
        n -= (size_t)w;
        offset += (uint64_t)w;
    }
    return 0;
}

int fileio_pread_all(int fd, void *data, size_t n, uint64_t offset, size_t *got) {
    assert(fd >= 0);
    assert(got != NULL);
    char *p = data;
    size_t done = 0;
    while (done < n) {
        ssize_t r = pread(fd, p + done, n - done, (off_t)(offset + done));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return -errno;
        }
        if (r == 0) {
            break;
        }
        done += (size_t)r;
    }
    *got = done;
    return 0;
}

int fileio_read_file(int dir_fd, const char *name, size_t max, char **data, size_t *len) {
    assert(name != NULL);
    assert(data != NULL);
    assert(len != NULL);
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    char *bytes = NULL;
    int rc;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto fail;
    }
    if ((uint64_t)st.st_size > max) {
        rc = -EFBIG;
        goto fail;
    }
    size_t size = (size_t)st.st_size;
    bytes = mem_alloc(size + 1);
    size_t got = 0;
    rc = fileio_pread_all(fd, bytes, size, 0, &got);
    if (rc < 0) {
        goto fail;
    }
    close(fd);
    *data = bytes;
    *len = got;
    return 0;
fail:
    mem_free(bytes);
    close(fd);
    return rc;
}

int fileio_sync_dir(const storage_io_t *io, int dir_fd) {
    assert(io != NULL);
    assert(dir_fd >= 0);
    return io->sync(io->ctx, dir_fd, 0);
}

int fileio_write_atomic(const storage_io_t *io, int dir_fd, const char *name, const void *data,
                        size_t n) {
    assert(io != NULL);
    assert(name != NULL);
    char tmp[STORAGE_NAME_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    int rc = fileio_pwrite_all(io, fd, data, n, 0);
    if (rc == 0) {
        rc = io->sync(io->ctx, fd, 0);
    }
    close(fd);
    if (rc == 0) {
        rc = io->rename(io->ctx, dir_fd, tmp, name);
    }
    if (rc == 0) {
        rc = fileio_sync_dir(io, dir_fd);
    }
    if (rc < 0) {
        unlinkat(dir_fd, tmp, 0);
    }
    return rc;
}
