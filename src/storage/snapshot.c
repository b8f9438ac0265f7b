/* snapshot: snapshot file writing, checking and loading (see snapshot.h). */
#include "storage/snapshot.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/crc32c.h"
#include "core/mem.h"

static const char snapshot_magic[8] = {'p', 'o', 'l', 'i', 's', 'S', 'N', 'P'};
static const char trailer_magic[4] = {'P', 'S', 'N', 'D'};

void snapshot_name(char *out, size_t size, uint64_t index) {
    snprintf(out, size, "snap-%020" PRIu64 ".snap", index);
}

/* ---- Writing ---- */

typedef struct snap_writer {
    const storage_io_t *io;
    int fd;
    uint64_t offset; /* file offset of buf[0] */
    uint32_t crc;
    uint64_t body_len;
    char *buf;
    size_t len;
} snap_writer_t;

static int writer_drain(snap_writer_t *wr) {
    int rc = fileio_pwrite_all(wr->io, wr->fd, wr->buf, wr->len, wr->offset);
    wr->offset += wr->len;
    wr->len = 0;
    return rc;
}

static int writer_put(snap_writer_t *wr, const void *p, size_t n) {
    wr->crc = crc32c_extend(wr->crc, p, n);
    const char *src = p;
    while (n > 0) {
        size_t room = SNAPSHOT_BUFFER - wr->len;
        size_t take = n < room ? n : room;
        memcpy(wr->buf + wr->len, src, take);
        wr->len += take;
        src += take;
        n -= take;
        if (wr->len == SNAPSHOT_BUFFER) {
            int rc = writer_drain(wr);
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* io_write_fn handed to the dump: counts body bytes. */
static int body_write(void *ctx, const void *p, size_t n) {
    snap_writer_t *wr = ctx;
    wr->body_len += n;
    return writer_put(wr, p, n);
}

int snapshot_write(const storage_io_t *io, int dir_fd, const char *name,
                   const persist_snapshot_point_t *at, int64_t created_unix,
                   snapshot_dump_fn *dump, void *arg) {
    assert(at != NULL);
    assert(dump != NULL);
    int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return -errno;
    }
    snap_writer_t wr = {io, fd, 0, 0, 0, mem_alloc(SNAPSHOT_BUFFER), 0};
    unsigned char h[SNAPSHOT_HEADER_SIZE];
    memset(h, 0, sizeof h);
    memcpy(h, snapshot_magic, sizeof snapshot_magic);
    le_put32(h + 8, 1);
    le_put32(h + 12, (uint32_t)at->meta_len);
    le_put64(h + 16, at->index);
    le_put64(h + 24, at->term);
    le_put64(h + 32, (uint64_t)created_unix);
    le_put32(h + 44, crc32c(h, 44));
    int rc = writer_put(&wr, h, sizeof h);
    if (rc == 0 && at->meta_len > 0) {
        rc = writer_put(&wr, at->meta, at->meta_len);
    }
    if (rc == 0) {
        rc = dump(arg, body_write, &wr);
    }
    if (rc == 0) {
        unsigned char t[SNAPSHOT_TRAILER_SIZE];
        le_put64(t, wr.body_len);
        le_put32(t + 8, wr.crc);
        memcpy(t + 12, trailer_magic, sizeof trailer_magic);
        rc = writer_put(&wr, t, sizeof t);
    }
    if (rc == 0 && wr.len > 0) {
        rc = writer_drain(&wr);
    }
    if (rc == 0) {
        rc = io->sync(io->ctx, fd, 1);
    }
    mem_free(wr.buf);
    close(fd);
    return rc;
}

/* ---- Checking ---- */

static int check_fail(char *why, size_t why_size, const char *msg) {
    snprintf(why, why_size, "%s", msg);
    return -1;
}

/* CRC32C of the file's bytes [0, n). */
static int crc_of_prefix(int fd, uint64_t n, uint32_t *crc) {
    char *chunk = mem_alloc(SNAPSHOT_BUFFER * 16);
    uint32_t c = 0;
    uint64_t off = 0;
    int rc = 0;
    while (off < n) {
        size_t want = n - off < SNAPSHOT_BUFFER * 16 ? (size_t)(n - off) : SNAPSHOT_BUFFER * 16;
        size_t got = 0;
        rc = fileio_pread_all(fd, chunk, want, off, &got);
        if (rc == 0 && got != want) {
            rc = -EIO;
        }
        if (rc < 0) {
            break;
        }
        c = crc32c_extend(c, chunk, got);
        off += got;
    }
    mem_free(chunk);
    *crc = c;
    return rc;
}

static int check_header(int fd, uint64_t size, snapshot_info_t *info, char *why, size_t ws) {
    unsigned char h[SNAPSHOT_HEADER_SIZE];
    size_t got = 0;
    if (size < SNAPSHOT_HEADER_SIZE + SNAPSHOT_TRAILER_SIZE ||
        fileio_pread_all(fd, h, sizeof h, 0, &got) < 0 || got != sizeof h) {
        return check_fail(why, ws, "file too short");
    }
    if (memcmp(h, snapshot_magic, sizeof snapshot_magic) != 0 || le_get32(h + 44) != crc32c(h, 44)) {
        return check_fail(why, ws, "bad header (magic or checksum)");
    }
    if (le_get32(h + 8) != 1) {
        return check_fail(why, ws, "unsupported snapshot version");
    }
    uint32_t meta_len = le_get32(h + 12);
    if (meta_len > PERSIST_META_MAX ||
        size < (uint64_t)SNAPSHOT_HEADER_SIZE + meta_len + SNAPSHOT_TRAILER_SIZE) {
        return check_fail(why, ws, "bad metadata length");
    }
    info->meta_len = meta_len;
    info->index = le_get64(h + 16);
    info->term = le_get64(h + 24);
    info->created_unix = (int64_t)le_get64(h + 32);
    info->body_offset = SNAPSHOT_HEADER_SIZE + meta_len;
    info->body_len = size - info->body_offset - SNAPSHOT_TRAILER_SIZE;
    info->file_size = size;
    return 0;
}

int snapshot_check(int dir_fd, const char *name, snapshot_info_t *info, char *why,
                   size_t why_size) {
    assert(info != NULL);
    assert(why != NULL);
    memset(info, 0, sizeof *info);
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(why, why_size, "cannot open: %s", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    int rc = check_header(fd, (uint64_t)st.st_size, info, why, why_size);
    unsigned char t[SNAPSHOT_TRAILER_SIZE];
    size_t got = 0;
    uint32_t crc = 0;
    if (rc == 0 && (crc_of_prefix(fd, info->file_size - SNAPSHOT_TRAILER_SIZE, &crc) < 0 ||
                    fileio_pread_all(fd, t, sizeof t, info->file_size - sizeof t, &got) < 0 ||
                    got != sizeof t)) {
        rc = check_fail(why, why_size, "read error");
    }
    if (rc == 0 && (le_get64(t) != info->body_len || le_get32(t + 8) != crc ||
                    memcmp(t + 12, trailer_magic, sizeof trailer_magic) != 0)) {
        rc = check_fail(why, why_size, "checksum mismatch or incomplete file");
    }
    if (rc == 0 && info->meta_len > 0) {
        info->meta = mem_alloc(info->meta_len);
        if (fileio_pread_all(fd, info->meta, info->meta_len, SNAPSHOT_HEADER_SIZE, &got) < 0 ||
            got != info->meta_len) {
            rc = check_fail(why, why_size, "read error");
        }
    }
    close(fd);
    if (rc < 0) {
        snapshot_info_free(info);
    }
    return rc;
}

void snapshot_info_free(snapshot_info_t *info) {
    mem_free(info->meta);
    info->meta = NULL;
    info->meta_len = 0;
}

/* ---- Loading ---- */

typedef struct snap_reader {
    int fd;
    uint64_t offset; /* file offset of the next byte to buffer */
    uint64_t remaining; /* body bytes not yet buffered */
    char *buf;
    size_t pos;
    size_t len;
} snap_reader_t;

/* io_read_fn: exactly n body bytes, or -EINVAL when the body has fewer. */
static int body_read(void *ctx, void *p, size_t n) {
    snap_reader_t *rd = ctx;
    char *dst = p;
    while (n > 0) {
        if (rd->pos == rd->len) {
            if (rd->remaining == 0) {
                return -EINVAL;
            }
            size_t want = rd->remaining < SNAPSHOT_BUFFER ? (size_t)rd->remaining : SNAPSHOT_BUFFER;
            size_t got = 0;
            int rc = fileio_pread_all(rd->fd, rd->buf, want, rd->offset, &got);
            if (rc < 0 || got != want) {
                return rc < 0 ? rc : -EIO;
            }
            rd->offset += got;
            rd->remaining -= got;
            rd->pos = 0;
            rd->len = got;
        }
        size_t take = rd->len - rd->pos < n ? rd->len - rd->pos : n;
        memcpy(dst, rd->buf + rd->pos, take);
        rd->pos += take;
        dst += take;
        n -= take;
    }
    return 0;
}

int snapshot_load(int dir_fd, const char *name, const snapshot_info_t *info,
                  snapshot_load_fn *load, void *arg) {
    assert(info != NULL);
    assert(load != NULL);
    int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    snap_reader_t rd = {fd, info->body_offset, info->body_len, mem_alloc(SNAPSHOT_BUFFER), 0, 0};
    int rc = load(arg, body_read, &rd);
    mem_free(rd.buf);
    close(fd);
    return rc;
}

/* ---- Directory ---- */

static int cmp_desc(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

int snapshot_list(int dir_fd, uint64_t **indexes, size_t *count) {
    assert(indexes != NULL);
    assert(count != NULL);
    int fd = dup(dir_fd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        int rc = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return rc;
    }
    rewinddir(d);
    uint64_t *out = NULL;
    size_t n = 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < SNAPSHOT_FILES_MAX) {
        char digits[21];
        char tail[8];
        if (strlen(e->d_name) != 30 || sscanf(e->d_name, "snap-%20[0-9]%7s", digits, tail) != 2 ||
            strcmp(tail, ".snap") != 0 || strlen(digits) != 20) {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            out = mem_realloc(out, cap * sizeof *out);
        }
        out[n++] = strtoull(digits, NULL, 10);
    }
    closedir(d);
    if (n > 0) {
        qsort(out, n, sizeof *out, cmp_desc);
    }
    *indexes = out;
    *count = n;
    return 0;
}

int storage_remove_temp_files(int dir_fd) {
    int fd = dup(dir_fd);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        int rc = -errno;
        if (fd >= 0) {
            close(fd);
        }
        return rc;
    }
    rewinddir(d);
    int removed = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            if (unlinkat(dir_fd, e->d_name, 0) < 0 && errno != ENOENT) {
                rc = -errno;
                break;
            }
            removed = 1;
        }
    }
    closedir(d);
    return rc < 0 ? rc : removed;
}
