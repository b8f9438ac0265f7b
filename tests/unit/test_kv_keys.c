/* Tests of the generic key commands and of polis' own (POLIS.VERSION, POLIS.CLOCK, POLIS.CAS),
 * with the exact RESP bytes of each reply, and of the command table itself. */
#include "kv_testlib.h"

static int setup(void **state) {
    kvt_t *t = malloc(sizeof *t);
    kvt_init(t, 99);
    *state = t;
    return 0;
}

static int teardown(void **state) {
    kvt_free(*state);
    free(*state);
    return 0;
}

static void test_command_table_is_sorted_and_lookup_ignores_case(void **state) {
    (void)state;
    for (size_t i = 1; i < kv_command_count; i++) {
        assert_true(strcmp(kv_command_table[i - 1].name, kv_command_table[i].name) < 0);
    }
    for (size_t i = 0; i < kv_command_count; i++) {
        const command_t *c = &kv_command_table[i];
        assert_ptr_equal(kv_command_lookup(c->name, strlen(c->name)), c);
        assert_true(((c->flags & CMD_WRITE) != 0) != ((c->flags & CMD_READONLY) != 0));
    }
    assert_ptr_equal(kv_command_lookup("HrAnDfIeLd", 10), kv_command_lookup("hrandfield", 10));
    assert_null(kv_command_lookup("nosuch", 6));
    assert_null(kv_command_lookup("", 0));
    assert_null(kv_command_lookup("get\0", 4));
}

static void test_del_exists_type_touch_dbsize_flush(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "MSET a 1 b 2 c 3", "+OK\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "EXISTS a a nope h", ":3\r\n");
    kvt_expect(t, "TOUCH a nope", ":1\r\n");
    kvt_expect(t, "TYPE a", "+string\r\n");
    kvt_expect(t, "TYPE h", "+hash\r\n");
    kvt_expect(t, "TYPE nope", "+none\r\n");
    kvt_expect(t, "DBSIZE", ":4\r\n");
    kvt_expect(t, "DEL a a nope", ":1\r\n");
    kvt_expect(t, "UNLINK b h", ":2\r\n");
    kvt_expect(t, "DBSIZE", ":1\r\n");
    kvt_expect(t, "FLUSHALL BOGUS", "-ERR syntax error\r\n");
    kvt_expect(t, "FLUSHDB ASYNC", "+OK\r\n");
    kvt_expect(t, "DBSIZE", ":0\r\n");
    kvt_expect(t, "SET x 1", "+OK\r\n");
    kvt_expect(t, "FLUSHALL", "+OK\r\n");
    kvt_expect(t, "KEYS *", "*0\r\n");
}

static void test_keys_and_randomkey(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "RANDOMKEY", "$-1\r\n");
    kvt_expect(t, "MSET hello 1 hallo 2 world 3", "+OK\r\n");
    const char *r = kvt_run(t, "KEYS h?llo");
    assert_memory_equal(r, "*2\r\n", 4);
    assert_non_null(strstr(r, "hello"));
    assert_non_null(strstr(r, "hallo"));
    kvt_expect(t, "KEYS w*", "*1\r\n$5\r\nworld\r\n");
    kvt_expect(t, "KEYS nomatch*", "*0\r\n");
    int seen_world = 0;
    for (int i = 0; i < 100; i++) {
        seen_world |= strcmp(kvt_run(t, "RANDOMKEY"), "$5\r\nworld\r\n") == 0;
    }
    assert_true(seen_world);
    t->resp = 3;
    kvt_expect(t, "KEYS w*", "*1\r\n$5\r\nworld\r\n");
}

static void test_scan_cursor_options_and_errors(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "SCAN 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    kvt_expect(t, "SCAN x", "-ERR invalid cursor\r\n");
    kvt_expect(t, "SCAN 0 COUNT 0", "-ERR syntax error\r\n");
    kvt_expect(t, "SCAN 0 COUNT x", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "SCAN 0 MATCH", "-ERR syntax error\r\n");
    kvt_expect(t, "SET s v", "+OK\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "SCAN 0 TYPE HASH COUNT 100", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nh\r\n");
    kvt_expect(t, "SCAN 0 TYPE string MATCH s", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\ns\r\n");
    kvt_expect(t, "SCAN 0 TYPE nosuchtype", "*2\r\n$1\r\n0\r\n*0\r\n");
}

static void test_rename_and_copy(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "RENAME nope x", "-ERR no such key\r\n");
    kvt_expect(t, "SET a 1 EX 100", "+OK\r\n");
    kvt_expect(t, "RENAME a a", "+OK\r\n");
    kvt_expect(t, "RENAMENX a a", ":0\r\n");
    kvt_expect(t, "RENAME a b", "+OK\r\n");
    kvt_expect(t, "EXISTS a", ":0\r\n");
    kvt_expect(t, "TTL b", ":100\r\n");
    kvt_expect(t, "SET c 3", "+OK\r\n");
    kvt_expect(t, "RENAMENX b c", ":0\r\n");
    kvt_expect(t, "RENAME b c", "+OK\r\n");
    kvt_expect(t, "GET c", "$1\r\n1\r\n");
    for (int i = 0; i < 300; i++) {
        kvt_runf(t, "HSET big f%d v%d", i, i);
    }
    kvt_expect(t, "RENAME big moved", "+OK\r\n");
    kvt_expect(t, "HGET moved f299", "$4\r\nv299\r\n");
    kvt_expect(t, "COPY moved copy", ":1\r\n");
    kvt_expect(t, "COPY moved copy", ":0\r\n");
    kvt_expect(t, "HDEL moved f0", ":1\r\n");
    kvt_expect(t, "HLEN copy", ":300\r\n");
    kvt_expect(t, "COPY c copy REPLACE", ":1\r\n");
    kvt_expect(t, "TYPE copy", "+string\r\n");
    kvt_expect(t, "TTL copy", ":100\r\n");
    kvt_expect(t, "COPY c c", "-ERR source and destination objects are the same\r\n");
    kvt_expect(t, "COPY c d DB 1", "-ERR DB index is out of range\r\n");
    kvt_expect(t, "COPY c d DB 0 BOGUS", "-ERR syntax error\r\n");
    kvt_expect(t, "COPY nope d", ":0\r\n");
}

static void test_versions_stamp_every_changed_key(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "POLIS.VERSION k", ":0\r\n");
    kvt_expect(t, "SET k v", "+OK\r\n");
    long long v1 = kvt_int(t, "POLIS.VERSION k");
    assert_int_equal(v1, (long long)t->clock.last);
    assert_int_equal(hlc_stamp_ms((stamp_t)v1), KVT_START_MS);
    kvt_expect(t, "SET k v NX", "$-1\r\n");
    assert_int_equal(kvt_int(t, "POLIS.VERSION k"), v1); /* no change, no new version */
    kvt_expect(t, "GET k", "$1\r\nv\r\n");
    assert_int_equal(kvt_int(t, "POLIS.VERSION k"), v1);
    kvt_expect(t, "MSET k w j x", "+OK\r\n");
    long long v2 = kvt_int(t, "POLIS.VERSION k");
    assert_true(v2 > v1);
    assert_int_equal(kvt_int(t, "POLIS.VERSION j"), v2);
    kvt_expect(t, "PERSIST k", ":0\r\n");
    assert_int_equal(kvt_int(t, "POLIS.VERSION k"), v2);
    kvt_expect(t, "EXPIRE k 100", ":1\r\n");
    assert_true(kvt_int(t, "POLIS.VERSION k") > v2);
    kvt_expect(t, "HSET h f v", ":1\r\n");
    long long h1 = kvt_int(t, "POLIS.VERSION h");
    kvt_expect(t, "HDEL h nope", ":0\r\n");
    assert_int_equal(kvt_int(t, "POLIS.VERSION h"), h1);
}

static void test_cas_compares_versions(void **state) {
    kvt_t *t = *state;
    long long created = kvt_int(t, "POLIS.CAS k 0 first");
    assert_int_equal(created, kvt_int(t, "POLIS.VERSION k"));
    kvt_expect(t, "POLIS.CAS k 0 again", "$-1\r\n");
    char line[128];
    snprintf(line, sizeof line, "POLIS.CAS k %lld second PX 5000", created);
    long long second = kvt_int(t, line);
    assert_true(second > created);
    kvt_expect(t, "GET k", "$6\r\nsecond\r\n");
    kvt_expect(t, "PTTL k", ":5000\r\n");
    assert_string_equal(kvt_run(t, line), "$-1\r\n"); /* the old version no longer matches */
    kvt_expect(t, "POLIS.CAS k x v", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "POLIS.CAS k 1 v NX", "-ERR syntax error\r\n");
    kvt_expect(t, "POLIS.CAS k 1 v EX 0", "-ERR invalid expire time in 'polis.cas' command\r\n");
}

static void test_clock_merges_by_lamports_rule(void **state) {
    kvt_t *t = *state;
    long long plain = kvt_int(t, "POLIS.CLOCK");
    assert_true(plain > 0);
    stamp_t future = ((stamp_t)(KVT_START_MS + 3600000) << HLC_LOGICAL_BITS) + 7;
    long long merged = kvt_int(t, "POLIS.CLOCK 0");
    assert_true(merged > plain);
    char line[64];
    snprintf(line, sizeof line, "POLIS.CLOCK %llu", (unsigned long long)future);
    merged = kvt_int(t, line);
    assert_int_equal(merged, (long long)future + 1);
    assert_true(t->clock.last >= (stamp_t)merged);
    kvt_expect(t, "SET after v", "+OK\r\n");
    assert_true(kvt_int(t, "POLIS.VERSION after") > merged);
    kvt_expect(t, "POLIS.CLOCK -1", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "POLIS.CLOCK 9223372036854775807", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "POLIS.CLOCK 1 2", "-ERR syntax error\r\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_table_is_sorted_and_lookup_ignores_case),
        cmocka_unit_test_setup_teardown(test_del_exists_type_touch_dbsize_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys_and_randomkey, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_cursor_options_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_and_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_stamp_every_changed_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas_compares_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clock_merges_by_lamports_rule, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
