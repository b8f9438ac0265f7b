/* record: log record and segment header formats, and the scanner (see record.h). */
#include "storage/record.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/crc32c.h"
#include "storage/fileio.h"

static const char segment_magic[8] = {'p', 'o', 'l', 'i', 's', 'W', 'A', 'L'};

void record_encode(buf_t *out, uint64_t term, uint64_t index, int type, const char *data,
                   size_t len) {
    assert(type > 0 && type < 256);
    assert(len <= PERSIST_RECORD_MAX);
    unsigned char h[RECORD_HEADER_SIZE];
    memset(h, 0, sizeof h);
    le_put32(h + 4, crc32c(data, len));
    le_put32(h + 8, (uint32_t)len);
    h[12] = (unsigned char)type;
    le_put64(h + 16, term);
    le_put64(h + 24, index);
    le_put32(h, crc32c(h + 4, RECORD_HEADER_SIZE - 4));
    buf_reserve(out, sizeof h + len);
    buf_append(out, h, sizeof h);
    buf_append(out, data, len);
}

uint32_t record_payload_len(const char *p) { return le_get32((const unsigned char *)p + 8); }

uint64_t record_index(const char *p) { return le_get64((const unsigned char *)p + 24); }

uint64_t record_term(const char *p) { return le_get64((const unsigned char *)p + 16); }

void segment_header_encode(unsigned char *out, uint64_t first_index) {
    assert(out != NULL);
    memset(out, 0, SEGMENT_HEADER_SIZE);
    memcpy(out, segment_magic, sizeof segment_magic);
    le_put64(out + 8, first_index);
    le_put32(out + 16, SEGMENT_VERSION);
    le_put32(out + 28, crc32c(out, 28));
}

int segment_header_decode(const char *data, size_t len, uint64_t *first_index, const char **why) {
    assert(first_index != NULL);
    assert(why != NULL);
    const unsigned char *p = (const unsigned char *)data;
    if (len < SEGMENT_HEADER_SIZE) {
        *why = "segment header truncated";
        return -1;
    }
    if (memcmp(p, segment_magic, sizeof segment_magic) != 0) {
        *why = "not a polis log segment (bad magic)";
        return -1;
    }
    if (le_get32(p + 28) != crc32c(p, 28)) {
        *why = "segment header checksum mismatch";
        return -1;
    }
    if (le_get32(p + 16) != SEGMENT_VERSION) {
        *why = "unsupported segment version";
        return -1;
    }
    *first_index = le_get64(p + 8);
    return 0;
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/* Checks the record at p with avail bytes after it. 0 good (*size = whole record bytes);
 * -1 bad (*why says how). A record is checked by its header checksum before its length is
 * trusted, so a damaged length never sends the scan astray. */
static int record_check(const unsigned char *p, size_t avail, size_t *size, const char **why) {
    if (avail < RECORD_HEADER_SIZE) {
        *why = "record header runs past the end of the file";
        return -1;
    }
    if (all_zero(p, RECORD_HEADER_SIZE)) {
        *why = "zeroed record header";
        return -1;
    }
    if (le_get32(p) != crc32c(p + 4, RECORD_HEADER_SIZE - 4)) {
        *why = "record header checksum mismatch";
        return -1;
    }
    uint32_t len = le_get32(p + 8);
    if (len > PERSIST_RECORD_MAX || p[12] == 0 || p[13] != 0 || p[14] != 0 || p[15] != 0) {
        *why = "invalid record header fields";
        return -1;
    }
    if ((size_t)len > avail - RECORD_HEADER_SIZE) {
        *why = "record payload runs past the end of the file";
        return -1;
    }
    if (le_get32(p + 4) != crc32c(p + RECORD_HEADER_SIZE, len)) {
        *why = "record payload checksum mismatch";
        return -1;
    }
    *size = RECORD_HEADER_SIZE + len;
    return 0;
}

/* Offset just past the last nonzero byte of data[0..len). */
static size_t nonzero_end(const unsigned char *p, size_t len) {
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p + len - 8, 8);
        if (w != 0) {
            break;
        }
        len -= 8;
    }
    while (len > 0 && p[len - 1] == 0) {
        len--;
    }
    return len;
}

/* 1 when a good record with index >= min_index starts anywhere in (from, limit). Only used
 * after a bad record: it decides between a torn tail and corruption. */
static int valid_record_after(const unsigned char *p, size_t len, size_t from, size_t limit,
                              uint64_t min_index) {
    for (size_t off = from + 1; off < limit && len - off >= RECORD_HEADER_SIZE; off++) {
        size_t size;
        const char *why;
        if (p[off] == 0 && all_zero(p + off, RECORD_HEADER_SIZE)) {
            continue;
        }
        if (record_check(p + off, len - off, &size, &why) == 0 &&
            le_get64(p + off + 24) >= min_index) {
            return 1;
        }
    }
    return 0;
}

/* The record at `end` is bad: decides what that means and fills the reason. */
static int scan_bad(const unsigned char *p, size_t len, wal_scan_t *s, const char *why) {
    if (s->data_end <= s->end) {
        return WAL_SCAN_CLEAN; /* only zeros (or nothing) from here */
    }
    if (valid_record_after(p, len, s->end, s->data_end, s->next_index)) {
        snprintf(s->reason, sizeof s->reason, "%s", why);
        return WAL_SCAN_CORRUPT;
    }
    snprintf(s->reason, sizeof s->reason, "%s", why);
    return WAL_SCAN_TORN;
}

int wal_scan(const char *data, size_t len, size_t start, wal_scan_t *s, persist_record_cb *cb,
             void *arg) {
    assert(s != NULL);
    assert(start <= len);
    const unsigned char *p = (const unsigned char *)data;
    s->end = start;
    s->records = 0;
    s->reason[0] = '\0';
    s->data_end = nonzero_end(p, len);
    for (;;) {
        if (s->end == len) {
            return WAL_SCAN_CLEAN;
        }
        size_t size;
        const char *why;
        if (record_check(p + s->end, len - s->end, &size, &why) < 0) {
            return scan_bad(p, len, s, why);
        }
        const unsigned char *h = p + s->end;
        uint64_t term = le_get64(h + 16);
        uint64_t index = le_get64(h + 24);
        if (s->stop_after != 0 && index > s->stop_after) {
            return WAL_SCAN_CLEAN;
        }
        if (index != s->next_index || term < s->last_term) {
            snprintf(s->reason, sizeof s->reason,
                     "record (term %llu, index %llu) out of sequence: index %llu expected",
                     (unsigned long long)term, (unsigned long long)index,
                     (unsigned long long)s->next_index);
            return WAL_SCAN_CORRUPT;
        }
        if (cb != NULL) {
            int rc = cb(arg, term, index, h[12], (const char *)h + RECORD_HEADER_SIZE,
                        size - RECORD_HEADER_SIZE);
            if (rc < 0) {
                return rc;
            }
        }
        s->records++;
        s->next_index = index + 1;
        s->last_term = term;
        s->end += size;
    }
}
