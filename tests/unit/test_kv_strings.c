/* Tests of the string commands through keyspace_execute and kv_record_apply, comparing the
 * exact RESP bytes of each reply (kv_testlib.h drives the keyspace as the node does). */
#include "kv_testlib.h"

static int setup(void **state) {
    kvt_t *t = malloc(sizeof *t);
    kvt_init(t, 42);
    *state = t;
    return 0;
}

static int teardown(void **state) {
    kvt_free(*state);
    free(*state);
    return 0;
}

static void test_get_set_and_wrongtype(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "GET k", "$-1\r\n");
    kvt_expect(t, "SET k hello", "+OK\r\n");
    kvt_expect(t, "GET k", "$5\r\nhello\r\n");
    kvt_expect(t, "SET k ''", "+OK\r\n");
    kvt_expect(t, "GET k", "$0\r\n\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "GET h", "-" ERR_WRONGTYPE "\r\n");
    kvt_expect(t, "SET h now-a-string", "+OK\r\n");
    kvt_expect(t, "GET h", "$12\r\nnow-a-string\r\n");
    t->resp = 3;
    kvt_expect(t, "GET missing", "_\r\n");
}

static void test_set_rewrites_values_of_every_size_in_place_or_moved(void **state) {
    kvt_t *t = *state;
    char line[1200], want[1200];
    for (int len = 0; len < 1000; len += 37) {
        char value[1001];
        memset(value, 'a' + len % 26, (size_t)len);
        value[len] = '\0';
        snprintf(line, sizeof line, "SET k %s", len ? value : "''");
        kvt_expect(t, line, "+OK\r\n");
        snprintf(want, sizeof want, "$%d\r\n%s\r\n", len, value);
        kvt_expect(t, "GET k", want);
    }
}

static void test_set_options(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "SET k v NX", "+OK\r\n");
    kvt_expect(t, "SET k w NX", "$-1\r\n");
    kvt_expect(t, "SET other v XX", "$-1\r\n");
    kvt_expect(t, "SET k w XX GET", "$1\r\nv\r\n");
    kvt_expect(t, "SET k x NX GET", "$1\r\nw\r\n");
    kvt_expect(t, "SET k v NX XX", "-ERR syntax error\r\n");
    kvt_expect(t, "SET k v EX 10 PX 10", "-ERR syntax error\r\n");
    kvt_expect(t, "SET k v KEEPTTL EX 10", "-ERR syntax error\r\n");
    kvt_expect(t, "SET k v EX", "-ERR syntax error\r\n");
    kvt_expect(t, "SET k v EX 0", "-ERR invalid expire time in 'set' command\r\n");
    kvt_expect(t, "set k v ex -1", "-ERR invalid expire time in 'set' command\r\n");
    kvt_expect(t, "SET k v EX x", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "SET k v EX 9223372036854775807",
               "-ERR invalid expire time in 'set' command\r\n");
    kvt_expect(t, "SET k v EX 100", "+OK\r\n");
    kvt_expect(t, "PTTL k", ":100000\r\n");
    kvt_expect(t, "SET k v2 KEEPTTL", "+OK\r\n");
    kvt_expect(t, "PTTL k", ":100000\r\n");
    kvt_expect(t, "SET k v3", "+OK\r\n");
    kvt_expect(t, "PTTL k", ":-1\r\n");
    kvt_expect(t, "SET k v PXAT 1", "+OK\r\n"); /* already past: the key is gone */
    kvt_expect(t, "EXISTS k", ":0\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "SET h v GET", "-" ERR_WRONGTYPE "\r\n");
    kvt_expect(t, "TYPE h", "+hash\r\n");
}

static void test_setnx_setex_psetex_getset_getdel_getex(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "SETNX k 1", ":1\r\n");
    kvt_expect(t, "SETNX k 2", ":0\r\n");
    kvt_expect(t, "SETEX e 10 v", "+OK\r\n");
    kvt_expect(t, "TTL e", ":10\r\n");
    kvt_expect(t, "SETEX e 0 v", "-ERR invalid expire time in 'setex' command\r\n");
    kvt_expect(t, "PSETEX p 1500 v", "+OK\r\n");
    kvt_expect(t, "PTTL p", ":1500\r\n");
    kvt_expect(t, "GETSET k 9", "$1\r\n1\r\n");
    kvt_expect(t, "GETSET none 9", "$-1\r\n");
    kvt_expect(t, "GETDEL k", "$1\r\n9\r\n");
    kvt_expect(t, "GETDEL k", "$-1\r\n");
    kvt_expect(t, "GETEX e PERSIST", "$1\r\nv\r\n");
    kvt_expect(t, "TTL e", ":-1\r\n");
    kvt_expect(t, "GETEX e PX 2500", "$1\r\nv\r\n");
    kvt_expect(t, "PTTL e", ":2500\r\n");
    kvt_expect(t, "GETEX e NX", "-ERR syntax error\r\n");
    kvt_expect(t, "GETEX e EX 0", "-ERR invalid expire time in 'getex' command\r\n");
    kvt_expect(t, "GETEX e PXAT 5", "$1\r\nv\r\n");
    kvt_expect(t, "EXISTS e", ":0\r\n");
    kvt_expect(t, "GETEX nope EX 5", "$-1\r\n");
}

static void test_mget_mset_msetnx(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "MSET a 1 b 2", "+OK\r\n");
    kvt_expect(t, "MGET a b c", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
    kvt_expect(t, "MSET a 1 b", "-ERR wrong number of arguments for 'mset' command\r\n");
    kvt_expect(t, "MSETNX c 3 a 1", ":0\r\n");
    kvt_expect(t, "EXISTS c", ":0\r\n");
    kvt_expect(t, "MSETNX c 3 d 4", ":1\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "MGET h d", "*2\r\n$-1\r\n$1\r\n4\r\n");
}

static void test_append_strlen_ranges(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "APPEND k Hello", ":5\r\n");
    kvt_expect(t, "APPEND k _World", ":11\r\n");
    kvt_expect(t, "STRLEN k", ":11\r\n");
    kvt_expect(t, "GETRANGE k 0 4", "$5\r\nHello\r\n");
    kvt_expect(t, "GETRANGE k -5 -1", "$5\r\nWorld\r\n");
    kvt_expect(t, "GETRANGE k 5 2", "$0\r\n\r\n");
    kvt_expect(t, "GETRANGE k -1 -5", "$0\r\n\r\n");
    kvt_expect(t, "GETRANGE k 0 100", "$11\r\nHello_World\r\n");
    kvt_expect(t, "GETRANGE none 0 1", "$0\r\n\r\n");
    kvt_expect(t, "SETRANGE k 6 Redis", ":11\r\n");
    kvt_expect(t, "GET k", "$11\r\nHello_Redis\r\n");
    kvt_expect(t, "SETRANGE pad 3 x", ":4\r\n");
    kvt_expect(t, "STRLEN pad", ":4\r\n");
    assert_memory_equal(kvt_run(t, "GET pad"), "$4\r\n\0\0\0x\r\n", 10);
    kvt_expect(t, "SETRANGE e 3 ''", ":0\r\n");
    kvt_expect(t, "EXISTS e", ":0\r\n");
    kvt_expect(t, "SETRANGE k -1 x", "-ERR offset is out of range\r\n");
    kvt_expect(t, "SETRANGE k 536870912 x",
               "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n");
    /* a string grown by many appends reads back whole */
    for (int i = 0; i < 300; i++) {
        kvt_run(t, "APPEND grow 0123456789");
    }
    kvt_expect(t, "STRLEN grow", ":3000\r\n");
    kvt_expect(t, "GETRANGE grow 2990 -1", "$10\r\n0123456789\r\n");
}

static void test_counters(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "INCR n", ":1\r\n");
    kvt_expect(t, "INCRBY n 41", ":42\r\n");
    kvt_expect(t, "DECRBY n 50", ":-8\r\n");
    kvt_expect(t, "DECR n", ":-9\r\n");
    kvt_expect(t, "GET n", "$2\r\n-9\r\n");
    kvt_expect(t, "SET s 01", "+OK\r\n");
    kvt_expect(t, "INCR s", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "SET m 9223372036854775807", "+OK\r\n");
    kvt_expect(t, "INCR m", "-ERR increment or decrement would overflow\r\n");
    kvt_expect(t, "DECRBY m -9223372036854775808", "-ERR decrement would overflow\r\n");
    kvt_expect(t, "INCRBY m x", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "SET t 5 EX 100", "+OK\r\n");
    kvt_expect(t, "INCR t", ":6\r\n");
    kvt_expect(t, "TTL t", ":100\r\n"); /* counters keep the expire time */
    kvt_expect(t, "INCRBYFLOAT f 10.5", "$4\r\n10.5\r\n");
    kvt_expect(t, "INCRBYFLOAT f 0.1", "$4\r\n10.6\r\n");
    kvt_expect(t, "INCRBYFLOAT f -10.6", "$1\r\n0\r\n");
    kvt_expect(t, "INCRBYFLOAT f 5.0e3", "$4\r\n5000\r\n");
    kvt_expect(t, "INCRBYFLOAT f abc", "-ERR value is not a valid float\r\n");
    kvt_expect(t, "INCRBYFLOAT f inf", "-ERR increment would produce NaN or Infinity\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "INCR h", "-" ERR_WRONGTYPE "\r\n");
    kvt_expect(t, "INCRBYFLOAT h 1", "-" ERR_WRONGTYPE "\r\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_set_and_wrongtype, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_rewrites_values_of_every_size_in_place_or_moved,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setnx_setex_psetex_getset_getdel_getex, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_mget_mset_msetnx, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_strlen_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
