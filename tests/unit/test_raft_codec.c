/* The Raft message codec: round trips of every message type, and refusal of truncated,
 * oversized, unversioned or trailing input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "raft/raft_codec.h"

static raft_entry_t entries[3] = {
    {.term = 3, .index = 11, .type = RAFT_ENTRY_NORMAL, .data = "hello", .len = 5},
    {.term = 3, .index = 12, .type = RAFT_ENTRY_NORMAL, .data = NULL, .len = 0},
    {.term = 4, .index = 13, .type = RAFT_ENTRY_CONF, .data = "\x01\x02", .len = 2},
};

static raft_msg_t sample(uint32_t type) {
    raft_msg_t m = {.type = type,
                    .flags = RAFT_FLAG_REJECT,
                    .from = 1,
                    .to = 2,
                    .term = 9,
                    .log_term = 3,
                    .index = 10,
                    .commit = 8,
                    .reject_hint = 7,
                    .context = 0x0102030405060708ull};
    if (type == RAFT_MSG_APPEND) {
        m.entries = entries;
        m.entries_count = 3;
    }
    if (type == RAFT_MSG_SNAPSHOT) {
        m.snapshot.index = 40;
        m.snapshot.term = 6;
        m.snapshot.conf.voters_count = 2;
        m.snapshot.conf.voters[0] = 1;
        m.snapshot.conf.voters[1] = 2;
        m.snapshot.conf.learners_count = 1;
        m.snapshot.conf.learners[0] = 5;
        m.snapshot_size = 100;
        m.snapshot_offset = 20;
        m.chunk = "chunk";
        m.chunk_len = 5;
    }
    return m;
}

static void assert_same(const raft_msg_t *a, const raft_msg_t *b) {
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->from, b->from);
    assert_int_equal(a->to, b->to);
    assert_int_equal(a->term, b->term);
    assert_int_equal(a->log_term, b->log_term);
    assert_int_equal(a->index, b->index);
    assert_int_equal(a->commit, b->commit);
    assert_int_equal(a->reject_hint, b->reject_hint);
    assert_int_equal(a->context, b->context);
    assert_int_equal(a->entries_count, b->entries_count);
    for (uint32_t i = 0; i < a->entries_count; i++) {
        assert_int_equal(a->entries[i].term, b->entries[i].term);
        assert_int_equal(a->entries[i].index, b->entries[i].index);
        assert_int_equal(a->entries[i].type, b->entries[i].type);
        assert_int_equal(a->entries[i].len, b->entries[i].len);
        assert_memory_equal(a->entries[i].data ? a->entries[i].data : "",
                            b->entries[i].data ? b->entries[i].data : "", a->entries[i].len);
    }
    assert_int_equal(a->chunk_len, b->chunk_len);
    if (a->type == RAFT_MSG_SNAPSHOT) {
        assert_memory_equal(&a->snapshot.conf, &b->snapshot.conf, sizeof a->snapshot.conf);
        assert_int_equal(a->snapshot.index, b->snapshot.index);
        assert_int_equal(a->snapshot.term, b->snapshot.term);
        assert_int_equal(a->snapshot_size, b->snapshot_size);
        assert_int_equal(a->snapshot_offset, b->snapshot_offset);
        assert_memory_equal(a->chunk, b->chunk, a->chunk_len);
    }
}

static void test_every_message_type_survives_a_round_trip(void **state) {
    (void)state;
    for (uint32_t type = RAFT_MSG_APPEND; type < RAFT_MSG_TYPE_END; type++) {
        raft_msg_t m = sample(type), back;
        buf_t b;
        buf_init(&b);
        assert_int_equal(raft_msg_encode(&m, &b), 0);
        assert_int_equal(b.len, raft_msg_encoded_size(&m));
        assert_int_equal(raft_msg_decode(b.data, b.len, &back), 0);
        assert_same(&m, &back);
        raft_msg_release(&back);
        buf_free(&b);
    }
}

static void test_every_truncation_is_refused(void **state) {
    (void)state;
    uint32_t types[] = {RAFT_MSG_APPEND, RAFT_MSG_SNAPSHOT, RAFT_MSG_VOTE};
    for (size_t t = 0; t < 3; t++) {
        raft_msg_t m = sample(types[t]), back;
        buf_t b;
        buf_init(&b);
        assert_int_equal(raft_msg_encode(&m, &b), 0);
        for (size_t len = 0; len < b.len; len++) {
            assert_int_equal(raft_msg_decode(b.data, len, &back), -EBADMSG);
        }
        buf_append(&b, "x", 1);
        assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
        buf_free(&b);
    }
}

static void test_unknown_version_and_type_are_refused(void **state) {
    (void)state;
    raft_msg_t m = sample(RAFT_MSG_HEARTBEAT), back;
    buf_t b;
    buf_init(&b);
    assert_int_equal(raft_msg_encode(&m, &b), 0);
    b.data[0] = 2;
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
    b.data[0] = RAFT_CODEC_VERSION;
    b.data[1] = (char)RAFT_MSG_TYPE_END;
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
    b.data[1] = 0;
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
    buf_free(&b);
    m.type = 0;
    buf_init(&b);
    assert_int_equal(raft_msg_encode(&m, &b), -EINVAL);
    buf_free(&b);
}

/* Patches the little-endian u32 at offset. */
static void put_u32(char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (char)(v >> (8 * i));
    }
}

static void test_counts_and_lengths_beyond_their_limits_are_refused(void **state) {
    (void)state;
    raft_msg_t m = sample(RAFT_MSG_APPEND), back;
    buf_t b;
    buf_init(&b);
    assert_int_equal(raft_msg_encode(&m, &b), 0);
    const size_t count_at = 4 + 8 * 8;
    put_u32(b.data + count_at, RAFT_MSG_ENTRIES_MAX + 1);
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
    put_u32(b.data + count_at, 3);
    put_u32(b.data + count_at + 4 + 9, RAFT_ENTRY_BYTES_MAX + 1); /* first entry's length */
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
    buf_free(&b);
    m = sample(RAFT_MSG_HEARTBEAT);
    m.entries = entries;
    m.entries_count = 1;
    buf_init(&b);
    assert_int_equal(raft_msg_encode(&m, &b), 0);
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG); /* entries, not APPEND */
    buf_free(&b);
    m = sample(RAFT_MSG_SNAPSHOT);
    m.snapshot_offset = 99; /* a chunk of 5 would end past the snapshot's 100 bytes */
    buf_init(&b);
    assert_int_equal(raft_msg_encode(&m, &b), 0);
    assert_int_equal(raft_msg_decode(b.data, b.len, &back), -EBADMSG);
    buf_free(&b);
    m = sample(RAFT_MSG_APPEND);
    m.entries_count = RAFT_MSG_ENTRIES_MAX + 1;
    buf_init(&b);
    assert_int_equal(raft_msg_encode(&m, &b), -EMSGSIZE);
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_message_type_survives_a_round_trip),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_unknown_version_and_type_are_refused),
        cmocka_unit_test(test_counts_and_lengths_beyond_their_limits_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
