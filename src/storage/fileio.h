/* fileio: the write-side system calls of storage, behind one struct so tests can make them
 * fail (a full disk, an fsync error) exactly where they choose, plus the small helpers every
 * storage file shares (write all bytes, sync a directory, build a file name).
 *
 * Every call returns 0 (or bytes written) or a negative errno; none retries after an error
 * except EINTR and short writes, which are not errors. */
#ifndef POLIS_STORAGE_FILEIO_H
#define POLIS_STORAGE_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct storage_io {
    /* pwrite(2): bytes written (may be short) or -errno. */
    ssize_t (*pwrite)(void *ctx, int fd, const void *data, size_t n, uint64_t offset);
    /* fdatasync(2) when data_only, else fsync(2). 0 or -errno. */
    int (*sync)(void *ctx, int fd, int data_only);
    /* fallocate(2) mode 0 (allocates and extends). 0 or -errno. */
    int (*fallocate)(void *ctx, int fd, uint64_t offset, uint64_t len);
    /* ftruncate(2). 0 or -errno. */
    int (*ftruncate)(void *ctx, int fd, uint64_t len);
    /* renameat(2) within one directory. 0 or -errno. */
    int (*rename)(void *ctx, int dir_fd, const char *from, const char *to);
    void *ctx;
} storage_io_t;

#define STORAGE_NAME_MAX 64 /* longest file name storage creates, with its terminating NUL */

/* The real system calls. */
const storage_io_t *storage_io_default(void);

/* Writes all n bytes at offset, continuing after short writes. 0 or -errno. */
int fileio_pwrite_all(const storage_io_t *io, int fd, const void *data, size_t n,
                      uint64_t offset);
/* Reads up to n bytes at offset into data; *got receives how many (short at end of file).
 * 0 or -errno. */
int fileio_pread_all(int fd, void *data, size_t n, uint64_t offset, size_t *got);
/* Reads a whole file (at most max bytes: -EFBIG beyond) into *data (mem_alloc'd, caller frees)
 * and *len. 0 or -errno. */
int fileio_read_file(int dir_fd, const char *name, size_t max, char **data, size_t *len);
/* fsync of the directory itself, so created, renamed and removed entries are durable. */
int fileio_sync_dir(const storage_io_t *io, int dir_fd);
/* Writes a small file atomically: name.tmp, fsync, rename to name, fsync dir. 0 or -errno. */
int fileio_write_atomic(const storage_io_t *io, int dir_fd, const char *name, const void *data,
                        size_t n);

/* Little-endian field access used by every on-disk format. */
static inline void le_put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}
static inline void le_put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) {
        p[i] = (unsigned char)(v >> (8 * i));
    }
}
static inline uint32_t le_get32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t le_get64(const unsigned char *p) {
    return (uint64_t)le_get32(p) | (uint64_t)le_get32(p + 4) << 32;
}

#endif
