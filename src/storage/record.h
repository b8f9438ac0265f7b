/* record: the on-disk formats of the log — record and segment headers — and the pure scanner
 * that validates a segment's bytes and tells a clean end from a torn tail from corruption.
 * No I/O here, so the fuzzer (tests/fuzz/fuzz_wal.c) feeds it arbitrary bytes.
 *
 * Record (little endian), 32-byte header then the payload:
 *   0 u32 header_crc   CRC32C of bytes 4..31
 *   4 u32 payload_crc  CRC32C of the payload
 *   8 u32 length       payload bytes (<= PERSIST_RECORD_MAX)
 *  12 u8  type         1..255, the caller's
 *  13 u8[3] zero
 *  16 u64 term
 *  24 u64 index
 * Segment file: a 32-byte header ("polisWAL", u64 first_index, u32 version=1, 8 zero bytes,
 * u32 CRC32C of bytes 0..27), then records back to back, then zeros (preallocated space).
 * The header checksum lets a scan resynchronise after a bad record without trusting its length:
 * that is how corruption (valid records follow) is told from a torn tail (nothing valid does). */
#ifndef POLIS_STORAGE_RECORD_H
#define POLIS_STORAGE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "storage/persist.h"

#define RECORD_HEADER_SIZE 32u
#define SEGMENT_HEADER_SIZE 32u
#define SEGMENT_VERSION 1u

/* Appends one encoded record to out. */
void record_encode(buf_t *out, uint64_t term, uint64_t index, int type, const char *data,
                   size_t len);
/* Payload length of the (already validated) record whose header is at p. */
uint32_t record_payload_len(const char *p);
uint64_t record_index(const char *p);
uint64_t record_term(const char *p);

/* Writes a segment header for first_index into out[SEGMENT_HEADER_SIZE]. */
void segment_header_encode(unsigned char *out, uint64_t first_index);
/* 0 and *first_index when data[0..len) starts with a valid segment header; -1 and *why else. */
int segment_header_decode(const char *data, size_t len, uint64_t *first_index, const char **why);

enum wal_scan_result {
    WAL_SCAN_CLEAN = 0,   /* records then only zeros (or the end of the data) */
    WAL_SCAN_TORN = 1,    /* a bad record at `end` with nothing valid after it */
    WAL_SCAN_CORRUPT = 2, /* a bad record at `end` followed by a valid one, or a valid record
                             out of sequence */
};

typedef struct wal_scan {
    uint64_t next_index; /* in: index the first record must have; out: one past the last good */
    uint64_t last_term;  /* in: term of the record before (0: none); out: of the last good one */
    uint64_t stop_after; /* in: stop (CLEAN) before the first record with a larger index; 0 none */
    size_t end;          /* out: offset just past the last good record */
    size_t data_end;     /* out: offset just past the last nonzero byte */
    uint64_t records;    /* out: good records handed to cb */
    char reason[96];     /* out: what is wrong with the record at `end` (TORN, CORRUPT) */
} wal_scan_t;

/* Scans records in data[start..len): each good record goes to cb (may be NULL) in order.
 * Returns a wal_scan_result, or cb's negative value (scanning stops there). */
int wal_scan(const char *data, size_t len, size_t start, wal_scan_t *scan, persist_record_cb *cb,
             void *arg);

#endif
