/* Unit tests of the cluster bus' peer addresses (src/cluster/bus_addr.c): the
 * "ID@HOST:PORT,..." syntax and the loopback test behind the no-secret rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/bus.h"

static void test_peer_list_parses_ipv4_names_and_bracketed_ipv6(void **state) {
    (void)state;
    bus_peer_addr_t peers[4];
    size_t n = 0;
    char err[128] = "";
    assert_int_equal(bus_peers_parse("1@127.0.0.1:17000,22@node-b.polis:17001,3@[::1]:65535", peers,
                                     4, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 3);
    assert_int_equal(peers[0].id, 1);
    assert_string_equal(peers[0].host, "127.0.0.1");
    assert_int_equal(peers[0].port, 17000);
    assert_int_equal(peers[1].id, 22);
    assert_string_equal(peers[1].host, "node-b.polis");
    assert_string_equal(peers[2].host, "::1");
    assert_int_equal(peers[2].port, 65535);
    assert_int_equal(bus_peers_parse("", peers, 4, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
}

static void test_bad_peer_lists_are_refused_with_a_reason(void **state) {
    (void)state;
    static const char *const bad[] = {
        "127.0.0.1:17000",   "1@127.0.0.1",   "1@127.0.0.1:0", "1@127.0.0.1:65536",
        "0@127.0.0.1:1",     "x@127.0.0.1:1", "1@:17000",      "1@[]:17000",
        "1@a:1,1@b:2",       "1@a:1,",        "1@a:1,,2@b:2",  "4294967296@a:1",
        "1@a:1,2@b:2,3@c:3", "1@a:17000x",    "@a:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bus_peer_addr_t peers[2];
        size_t n = 0;
        char err[128] = "";
        assert_int_equal(bus_peers_parse(bad[i], peers, 2, &n, err, sizeof err), -EINVAL);
        assert_true(strlen(err) > 0);
    }
}

static void test_host_longer_than_the_limit_is_refused(void **state) {
    (void)state;
    char spec[BUS_HOST_MAX + 32];
    memset(spec, 'h', sizeof spec);
    memcpy(spec, "1@", 2);
    memcpy(spec + 2 + BUS_HOST_MAX + 1, ":1", 3); /* a host of BUS_HOST_MAX + 1 bytes */
    bus_peer_addr_t peer;
    size_t n = 0;
    char err[128];
    assert_int_equal(bus_peers_parse(spec, &peer, 1, &n, err, sizeof err), -EINVAL);
    memcpy(spec + 2 + BUS_HOST_MAX, ":1", 3);
    assert_int_equal(bus_peers_parse(spec, &peer, 1, &n, err, sizeof err), 0);
    assert_int_equal(strlen(peer.host), BUS_HOST_MAX);
}

static void test_loopback_hosts_are_recognised(void **state) {
    (void)state;
    assert_true(bus_host_is_loopback("127.0.0.1"));
    assert_true(bus_host_is_loopback("127.3.2.1"));
    assert_true(bus_host_is_loopback("localhost"));
    assert_true(bus_host_is_loopback("::1"));
    assert_true(bus_host_is_loopback("::ffff:127.0.0.1"));
    assert_false(bus_host_is_loopback("10.0.0.1"));
    assert_false(bus_host_is_loopback("128.0.0.1"));
    assert_false(bus_host_is_loopback("::2"));
    assert_false(bus_host_is_loopback("::ffff:10.0.0.1"));
    assert_false(bus_host_is_loopback("localhost.example.com"));
    assert_false(bus_host_is_loopback(""));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_peer_list_parses_ipv4_names_and_bracketed_ipv6),
        cmocka_unit_test(test_bad_peer_lists_are_refused_with_a_reason),
        cmocka_unit_test(test_host_longer_than_the_limit_is_refused),
        cmocka_unit_test(test_loopback_hosts_are_recognised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
