/* The replication layer's payloads (src/repl/wire.h): round trips, every truncation refused,
 * limits, and the member address syntax. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/mem.h"
#include "raft/raft_codec.h"
#include "repl/wire.h"

/* Every strict prefix of a payload must be refused by decode. */
typedef int decode_fn(const uint8_t *p, size_t len, void *out);

static void assert_prefixes_refused(const buf_t *b, decode_fn *decode, void *out) {
    for (size_t n = 0; n < b->len; n++) {
        assert_int_not_equal(decode((const uint8_t *)b->data, n, out), 0);
    }
}

static int forward_decode(const uint8_t *p, size_t len, void *out) {
    buf_t args;
    buf_init(&args);
    int rc = repl_forward_decode(p, len, out, &args);
    buf_free(&args);
    return rc;
}

static void test_forward_round_trip_yields_the_command_as_resp(void **state) {
    (void)state;
    slice_t argv[3] = {SLICE_LIT("SET"), SLICE_LIT("key"), {"v\0\r\n", 4}};
    repl_forward_t f = {.incarnation = 77, .client = 9, .hops = 1, .resp = 3, .argc = 3,
                        .argv = argv};
    buf_t b, args;
    buf_init(&b);
    buf_init(&args);
    repl_forward_encode(&b, &f);
    repl_forward_t out;
    assert_int_equal(repl_forward_decode((const uint8_t *)b.data, b.len, &out, &args), 0);
    assert_int_equal(out.incarnation, 77);
    assert_int_equal(out.client, 9);
    assert_int_equal(out.hops, 1);
    assert_int_equal(out.resp, 3);
    assert_int_equal(out.argc, 3);
    const char expect[] = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$4\r\nv\0\r\n\r\n";
    assert_int_equal(args.len, sizeof expect - 1);
    assert_memory_equal(args.data, expect, args.len);
    assert_prefixes_refused(&b, forward_decode, &out);
    /* Trailing bytes, a bad RESP version, too many hops: refused. */
    buf_append(&b, "x", 1);
    assert_int_equal(forward_decode((const uint8_t *)b.data, b.len, &out), -EBADMSG);
    f.resp = 4;
    buf_clear(&b);
    repl_forward_encode(&b, &f);
    assert_int_equal(forward_decode((const uint8_t *)b.data, b.len, &out), -EBADMSG);
    f.resp = 2;
    f.hops = REPL_FORWARD_HOPS_MAX + 1;
    buf_clear(&b);
    repl_forward_encode(&b, &f);
    assert_int_equal(forward_decode((const uint8_t *)b.data, b.len, &out), -EBADMSG);
    buf_free(&b);
    buf_free(&args);
}

static int reply_decode(const uint8_t *p, size_t len, void *out) {
    /* A reply's bytes run to the end: only a cut header is refused. */
    return len < 21 ? repl_forward_reply_decode(p, len, out) : -1;
}

static void test_forward_reply_and_close_round_trip(void **state) {
    (void)state;
    repl_forward_reply_t rep = {5, 6, 2, "+OK\r\n:1\r\n", 9}, out;
    buf_t b;
    buf_init(&b);
    repl_forward_reply_encode(&b, &rep);
    assert_int_equal(repl_forward_reply_decode((const uint8_t *)b.data, b.len, &out), 0);
    assert_int_equal(out.incarnation, 5);
    assert_int_equal(out.client, 6);
    assert_int_equal(out.replies, 2);
    assert_int_equal(out.len, 9);
    assert_memory_equal(out.bytes, "+OK\r\n:1\r\n", 9);
    assert_prefixes_refused(&b, reply_decode, &out);
    buf_clear(&b);
    repl_forward_close_encode(&b, 11, 12);
    uint64_t inc = 0, client = 0;
    assert_int_equal(repl_forward_close_decode((const uint8_t *)b.data, b.len, &inc, &client), 0);
    assert_int_equal(inc, 11);
    assert_int_equal(client, 12);
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(repl_forward_close_decode((const uint8_t *)b.data, n, &inc, &client),
                         -EBADMSG);
    }
    buf_free(&b);
}

static int node_info_decode(const uint8_t *p, size_t len, void *out) {
    return repl_node_info_decode(p, len, out);
}

static void test_node_info_round_trip(void **state) {
    (void)state;
    repl_node_info_t n = {.incarnation = 3, .client_port = 7379}, out;
    snprintf(n.client_host, sizeof n.client_host, "10.0.0.7");
    buf_t b;
    buf_init(&b);
    repl_node_info_encode(&b, &n);
    assert_int_equal(repl_node_info_decode((const uint8_t *)b.data, b.len, &out), 0);
    assert_int_equal(out.client_port, 7379);
    assert_string_equal(out.client_host, "10.0.0.7");
    assert_prefixes_refused(&b, node_info_decode, &out);
    buf_free(&b);
}

static void test_snapshot_meta_carries_configuration_and_addresses(void **state) {
    (void)state;
    raft_conf_t conf = {.voters_count = 2, .learners_count = 1, .voters = {1, 2},
                        .learners = {4}};
    repl_member_t members[2] = {{.id = 1, .bus_port = 17001, .host = "node-a"},
                                {.id = 4, .bus_port = 17004, .flags = REPL_MEMBER_PROMOTE,
                                 .host = "::1"}};
    buf_t b;
    buf_init(&b);
    repl_meta_encode(&b, &conf, members, 2);
    raft_conf_t got;
    repl_member_t out[REPL_MEMBERS_MAX];
    size_t count = 0;
    assert_int_equal(repl_meta_decode(b.data, b.len, &got, out, REPL_MEMBERS_MAX, &count), 0);
    assert_int_equal(got.voters_count, 2);
    assert_int_equal(got.learners[0], 4);
    assert_int_equal(count, 2);
    assert_string_equal(out[1].host, "::1");
    assert_int_equal(out[1].bus_port, 17004);
    assert_int_equal(out[1].flags, REPL_MEMBER_PROMOTE);
    for (size_t n = 1; n < b.len; n++) {
        assert_int_equal(repl_meta_decode(b.data, n, &got, out, REPL_MEMBERS_MAX, &count),
                         -EBADMSG);
    }
    /* An empty blob: a single node's snapshot from before replication. */
    assert_int_equal(repl_meta_decode(b.data, 0, &got, out, REPL_MEMBERS_MAX, &count), -ENOENT);
    /* More members than the caller has room for. */
    assert_int_equal(repl_meta_decode(b.data, b.len, &got, out, 1, &count), -EBADMSG);
    buf_free(&b);
}

static void test_member_context_and_addresses(void **state) {
    (void)state;
    repl_member_t m = {.id = 9, .bus_port = 1, .flags = REPL_MEMBER_PROMOTE}, out = {.id = 9};
    assert_int_equal(repl_member_parse_address("10.1.2.3:17005", 14, &m), 0);
    assert_string_equal(m.host, "10.1.2.3");
    assert_int_equal(m.bus_port, 17005);
    assert_int_equal(repl_member_parse_address("[::1]:7", 7, &m), 0);
    assert_string_equal(m.host, "::1");
    const char *bad[] = {"host", "host:", ":80", "h:70000", "h:1,2@x:3", "a:b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(repl_member_parse_address(bad[i], strlen(bad[i]), &m), -EINVAL);
    }
    buf_t b;
    buf_init(&b);
    repl_member_encode(&b, &m);
    assert_int_equal(repl_member_decode(b.data, b.len, &out), 0);
    assert_int_equal(out.id, 9); /* the id is the change's, not the context's */
    assert_string_equal(out.host, "::1");
    assert_int_equal(out.flags, REPL_MEMBER_PROMOTE);
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(repl_member_decode(b.data, n, &out), -EBADMSG);
    }
    buf_free(&b);
}

static void test_raft_payload_carries_its_group(void **state) {
    (void)state;
    raft_msg_t m = {.type = RAFT_MSG_HEARTBEAT, .from = 1, .to = 2, .term = 3, .commit = 4};
    buf_t b;
    buf_init(&b);
    assert_int_equal(repl_raft_encode(&b, 7, &m), 0);
    uint32_t group = 0;
    const uint8_t *raft = NULL;
    size_t len = 0;
    assert_int_equal(repl_raft_split((const uint8_t *)b.data, b.len, &group, &raft, &len), 0);
    assert_int_equal(group, 7);
    raft_msg_t out;
    assert_int_equal(raft_msg_decode(raft, len, &out), 0);
    assert_int_equal(out.commit, 4);
    raft_msg_release(&out);
    assert_int_equal(repl_raft_split((const uint8_t *)b.data, 3, &group, &raft, &len), -EBADMSG);
    buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_round_trip_yields_the_command_as_resp),
        cmocka_unit_test(test_forward_reply_and_close_round_trip),
        cmocka_unit_test(test_node_info_round_trip),
        cmocka_unit_test(test_snapshot_meta_carries_configuration_and_addresses),
        cmocka_unit_test(test_member_context_and_addresses),
        cmocka_unit_test(test_raft_payload_carries_its_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
