/* hardstate: the two-slot hard state file (see hardstate.h). */
#include "storage/hardstate.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/crc32c.h"

#define HARDSTATE_MAGIC 0x31534850u /* "PHS1" */

void hardstate_slot_encode(unsigned char *out, uint64_t seq, const persist_hard_state_t *s) {
    assert(out != NULL);
    assert(s != NULL);
    memset(out, 0, HARDSTATE_SLOT_SIZE);
    le_put32(out, HARDSTATE_MAGIC);
    le_put32(out + 4, 1);
    le_put64(out + 8, seq);
    le_put64(out + 16, s->term);
    le_put64(out + 24, s->voted_for);
    le_put64(out + 32, s->commit);
    le_put32(out + 40, crc32c(out, 40));
}

int hardstate_slot_decode(const unsigned char *in, uint64_t *seq, persist_hard_state_t *s) {
    assert(in != NULL);
    assert(s != NULL);
    if (le_get32(in) != HARDSTATE_MAGIC || le_get32(in + 4) != 1 ||
        le_get32(in + 40) != crc32c(in, 40)) {
        return -1;
    }
    *seq = le_get64(in + 8);
    s->term = le_get64(in + 16);
    s->voted_for = le_get64(in + 24);
    s->commit = le_get64(in + 32);
    return 0;
}

int hardstate_load(hardstate_file_t *h, int dir_fd, const char *dir, char *err, size_t err_size) {
    assert(h != NULL);
    memset(h, 0, sizeof *h);
    h->fd = openat(dir_fd, HARDSTATE_FILE, O_RDWR | O_CLOEXEC);
    if (h->fd < 0) {
        if (errno == ENOENT) {
            return 0;
        }
        snprintf(err, err_size, "cannot open %s/%s: %s", dir, HARDSTATE_FILE, strerror(errno));
        return -errno;
    }
    unsigned char bytes[HARDSTATE_SLOT_STRIDE + HARDSTATE_SLOT_SIZE];
    size_t got = 0;
    int rc = fileio_pread_all(h->fd, bytes, sizeof bytes, 0, &got);
    if (rc < 0) {
        snprintf(err, err_size, "cannot read %s/%s: %s", dir, HARDSTATE_FILE, strerror(-rc));
        return rc;
    }
    int found = 0;
    for (size_t slot = 0; slot < 2; slot++) {
        size_t at = slot * HARDSTATE_SLOT_STRIDE;
        uint64_t seq;
        persist_hard_state_t s;
        if (got >= at + HARDSTATE_SLOT_SIZE && hardstate_slot_decode(bytes + at, &seq, &s) == 0 &&
            (!found || seq > h->seq)) {
            h->seq = seq;
            h->state = s;
            found = 1;
        }
    }
    if (!found) {
        snprintf(err, err_size, "corrupt hard state in %s/%s: no valid slot", dir,
                 HARDSTATE_FILE);
        return -EINVAL;
    }
    return 0;
}

int hardstate_save(hardstate_file_t *h, const storage_io_t *io, int dir_fd,
                   const persist_hard_state_t *state) {
    assert(h != NULL);
    assert(state != NULL);
    uint64_t seq = h->seq + 1;
    if (h->fd < 0) {
        /* First save: both slots at once, created atomically. */
        unsigned char bytes[HARDSTATE_SLOT_STRIDE * 2];
        memset(bytes, 0, sizeof bytes);
        hardstate_slot_encode(bytes, seq, state);
        hardstate_slot_encode(bytes + HARDSTATE_SLOT_STRIDE, seq, state);
        int rc = fileio_write_atomic(io, dir_fd, HARDSTATE_FILE, bytes, sizeof bytes);
        if (rc < 0) {
            return rc;
        }
        h->fd = openat(dir_fd, HARDSTATE_FILE, O_RDWR | O_CLOEXEC);
        if (h->fd < 0) {
            return -errno;
        }
    } else {
        unsigned char slot[HARDSTATE_SLOT_SIZE];
        hardstate_slot_encode(slot, seq, state);
        uint64_t at = (seq % 2) * HARDSTATE_SLOT_STRIDE;
        int rc = fileio_pwrite_all(io, h->fd, slot, sizeof slot, at);
        if (rc == 0) {
            rc = io->sync(io->ctx, h->fd, 1);
        }
        if (rc < 0) {
            return rc;
        }
    }
    h->seq = seq;
    h->state = *state;
    return 0;
}

void hardstate_close(hardstate_file_t *h) {
    if (h->fd >= 0) {
        close(h->fd);
        h->fd = -1;
    }
}
