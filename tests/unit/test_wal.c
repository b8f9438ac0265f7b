/* Tests of the log record format and scanner (src/storage/record.c): encode/decode, a clean
 * end in preallocated zeros, a cut at every byte of the last record (torn), a flipped byte at
 * every position of an earlier record (corrupt, at that record's offset). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "storage/record.h"

typedef struct seen {
    int count;
    uint64_t index[16];
    uint64_t term[16];
    char data[16][64];
} seen_t;

static int collect(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                   size_t len) {
    seen_t *s = arg;
    assert_int_equal(type, RECORD_KV);
    s->index[s->count] = index;
    s->term[s->count] = term;
    memcpy(s->data[s->count], data, len);
    s->data[s->count][len] = '\0';
    s->count++;
    return 0;
}

/* Four records, indexes 5..8, terms 2,2,3,3; offsets of each in *offsets. */
static void four_records(buf_t *b, size_t offsets[4]) {
    static const char *payload[4] = {"alpha", "", "gamma gamma", "delta"};
    buf_init(b);
    for (int i = 0; i < 4; i++) {
        offsets[i] = b->len;
        record_encode(b, i < 2 ? 2 : 3, 5 + (uint64_t)i, RECORD_KV, payload[i],
                      strlen(payload[i]));
    }
}

static void test_record_encode_then_scan_returns_every_field(void **state) {
    (void)state;
    buf_t b;
    size_t off[4];
    four_records(&b, off);
    seen_t seen = {0};
    wal_scan_t scan = {.next_index = 5};
    assert_int_equal(wal_scan(b.data, b.len, 0, &scan, collect, &seen), WAL_SCAN_CLEAN);
    assert_int_equal(seen.count, 4);
    assert_int_equal(seen.index[3], 8);
    assert_int_equal(seen.term[0], 2);
    assert_int_equal(seen.term[2], 3);
    assert_string_equal(seen.data[2], "gamma gamma");
    assert_string_equal(seen.data[1], "");
    assert_int_equal(scan.end, b.len);
    assert_int_equal(scan.next_index, 9);
    assert_int_equal(record_payload_len(b.data + off[2]), 11);
    buf_free(&b);
}

static void test_scan_stops_cleanly_at_preallocated_zeros(void **state) {
    (void)state;
    buf_t b;
    size_t off[4];
    four_records(&b, off);
    size_t used = b.len;
    char zeros[4096] = {0};
    buf_append(&b, zeros, sizeof zeros);
    wal_scan_t scan = {.next_index = 5};
    assert_int_equal(wal_scan(b.data, b.len, 0, &scan, NULL, NULL), WAL_SCAN_CLEAN);
    assert_int_equal(scan.end, used);
    assert_int_equal(scan.records, 4);
    buf_free(&b);
}

static void test_scan_cut_at_every_byte_of_last_record_is_torn(void **state) {
    (void)state;
    buf_t b;
    size_t off[4];
    four_records(&b, off);
    for (size_t cut = off[3]; cut < b.len; cut++) {
        for (int pad = 0; pad < 2; pad++) { /* the file ends there, or zeros follow */
            buf_t c;
            buf_init(&c);
            buf_append(&c, b.data, cut);
            if (pad) {
                char zeros[100] = {0};
                buf_append(&c, zeros, sizeof zeros);
            }
            wal_scan_t scan = {.next_index = 5};
            int rc = wal_scan(c.data, c.len, 0, &scan, NULL, NULL);
            assert_int_equal(rc, cut == off[3] ? WAL_SCAN_CLEAN : WAL_SCAN_TORN);
            assert_int_equal(scan.end, off[3]);
            assert_int_equal(scan.records, 3);
            buf_free(&c);
        }
    }
    buf_free(&b);
}

static void test_scan_flipped_byte_before_tail_is_corrupt_at_its_offset(void **state) {
    (void)state;
    buf_t b;
    size_t off[4];
    four_records(&b, off);
    for (int victim = 0; victim < 3; victim++) {
        size_t end = off[victim + 1];
        for (size_t at = off[victim]; at < end; at++) {
            for (int bit = 0; bit < 8; bit += 7) {
                b.data[at] ^= (char)(1 << bit);
                wal_scan_t scan = {.next_index = 5};
                assert_int_equal(wal_scan(b.data, b.len, 0, &scan, NULL, NULL),
                                 WAL_SCAN_CORRUPT);
                assert_int_equal(scan.end, off[victim]);
                assert_true(strlen(scan.reason) > 0);
                b.data[at] ^= (char)(1 << bit);
            }
        }
    }
    buf_free(&b);
}

static void test_scan_rejects_out_of_sequence_index(void **state) {
    (void)state;
    buf_t b;
    buf_init(&b);
    record_encode(&b, 1, 1, RECORD_KV, "a", 1);
    record_encode(&b, 1, 3, RECORD_KV, "b", 1);
    wal_scan_t scan = {.next_index = 1};
    assert_int_equal(wal_scan(b.data, b.len, 0, &scan, NULL, NULL), WAL_SCAN_CORRUPT);
    assert_non_null(strstr(scan.reason, "out of sequence"));
    buf_clear(&b);
    record_encode(&b, 4, 1, RECORD_KV, "a", 1);
    record_encode(&b, 3, 2, RECORD_KV, "b", 1); /* a term going backwards */
    scan = (wal_scan_t){.next_index = 1};
    assert_int_equal(wal_scan(b.data, b.len, 0, &scan, NULL, NULL), WAL_SCAN_CORRUPT);
    buf_free(&b);
}

static void test_scan_stop_after_gives_offset_of_next_record(void **state) {
    (void)state;
    buf_t b;
    size_t off[4];
    four_records(&b, off);
    wal_scan_t scan = {.next_index = 5, .stop_after = 6};
    assert_int_equal(wal_scan(b.data, b.len, 0, &scan, NULL, NULL), WAL_SCAN_CLEAN);
    assert_int_equal(scan.end, off[2]);
    buf_free(&b);
}

static void test_segment_header_round_trip_and_damage(void **state) {
    (void)state;
    unsigned char h[SEGMENT_HEADER_SIZE];
    segment_header_encode(h, 12345);
    uint64_t first = 0;
    const char *why = NULL;
    assert_int_equal(segment_header_decode((char *)h, sizeof h, &first, &why), 0);
    assert_int_equal(first, 12345);
    for (size_t i = 0; i < sizeof h; i++) {
        h[i] ^= 0x10;
        assert_int_equal(segment_header_decode((char *)h, sizeof h, &first, &why), -1);
        h[i] ^= 0x10;
    }
    assert_int_equal(segment_header_decode((char *)h, 10, &first, &why), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_encode_then_scan_returns_every_field),
        cmocka_unit_test(test_scan_stops_cleanly_at_preallocated_zeros),
        cmocka_unit_test(test_scan_cut_at_every_byte_of_last_record_is_torn),
        cmocka_unit_test(test_scan_flipped_byte_before_tail_is_corrupt_at_its_offset),
        cmocka_unit_test(test_scan_rejects_out_of_sequence_index),
        cmocka_unit_test(test_scan_stop_after_gives_offset_of_next_record),
        cmocka_unit_test(test_segment_header_round_trip_and_damage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
