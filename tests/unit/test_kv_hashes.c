/* Tests of the hash commands and both hash encodings (packed in the entry, then a table), with
 * the exact RESP bytes of each reply. */
#include "kv_testlib.h"

static int setup(void **state) {
    kvt_t *t = malloc(sizeof *t);
    kvt_init(t, 7);
    *state = t;
    return 0;
}

static int teardown(void **state) {
    kvt_free(*state);
    free(*state);
    return 0;
}

static void test_small_hash_commands(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "HSET h a 1 b 2", ":2\r\n");
    kvt_expect(t, "HSET h a 10 c 3", ":1\r\n");
    kvt_expect(t, "HGET h a", "$2\r\n10\r\n");
    kvt_expect(t, "HGET h zz", "$-1\r\n");
    kvt_expect(t, "HMGET h a zz c", "*3\r\n$2\r\n10\r\n$-1\r\n$1\r\n3\r\n");
    kvt_expect(t, "HLEN h", ":3\r\n");
    kvt_expect(t, "HGETALL h", "*6\r\n$1\r\na\r\n$2\r\n10\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n");
    kvt_expect(t, "HKEYS h", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    kvt_expect(t, "HVALS h", "*3\r\n$2\r\n10\r\n$1\r\n2\r\n$1\r\n3\r\n");
    kvt_expect(t, "HEXISTS h b", ":1\r\n");
    kvt_expect(t, "HSTRLEN h a", ":2\r\n");
    kvt_expect(t, "HSETNX h a x", ":0\r\n");
    kvt_expect(t, "HSETNX h d 4", ":1\r\n");
    kvt_expect(t, "HMSET h e 5", "+OK\r\n");
    kvt_expect(t, "HDEL h a zz b", ":2\r\n");
    kvt_expect(t, "HGETALL h", "*6\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\ne\r\n$1\r\n5\r\n");
    kvt_expect(t, "HDEL h c d e", ":3\r\n");
    kvt_expect(t, "EXISTS h", ":0\r\n"); /* the last field removed removes the key */
    kvt_expect(t, "HGETALL h", "*0\r\n");
    kvt_expect(t, "HSET h a", "-ERR wrong number of arguments for 'hset' command\r\n");
    kvt_expect(t, "SET s v", "+OK\r\n");
    kvt_expect(t, "HSET s a 1", "-" ERR_WRONGTYPE "\r\n");
    kvt_expect(t, "HGETALL s", "-" ERR_WRONGTYPE "\r\n");
    kvt_expect(t, "HDEL s a", "-" ERR_WRONGTYPE "\r\n");
    t->resp = 3;
    kvt_expect(t, "HSET h a 1", ":1\r\n");
    kvt_expect(t, "HGETALL h", "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
    kvt_expect(t, "HGETALL none", "%0\r\n");
}

static void test_hash_converts_to_table_past_the_small_limits(void **state) {
    kvt_t *t = *state;
    for (int i = 0; i < 200; i++) {
        char want[32];
        snprintf(want, sizeof want, ":%d\r\n", 1);
        assert_string_equal(kvt_runf(t, "HSET big f%d v%d", i, i), want);
    }
    kvt_expect(t, "HLEN big", ":200\r\n");
    kvt_expect(t, "HGET big f150", "$4\r\nv150\r\n");
    kvt_expect(t, "HSET big f150 changed-value", ":0\r\n");
    kvt_expect(t, "HGET big f150", "$13\r\nchanged-value\r\n");
    kvt_expect(t, "HSET big f150 same-length!!", ":0\r\n");
    kvt_expect(t, "HGET big f150", "$13\r\nsame-length!!\r\n");
    for (int i = 0; i < 199; i++) {
        assert_string_equal(kvt_runf(t, "HDEL big f%d", i), ":1\r\n");
    }
    kvt_expect(t, "HGETALL big", "*2\r\n$4\r\nf199\r\n$4\r\nv199\r\n");
    /* a value longer than 64 bytes converts a small hash too */
    char line[200];
    snprintf(line, sizeof line, "HSET long a 1 b %0100d", 7);
    kvt_expect(t, line, ":2\r\n");
    kvt_expect(t, "HSTRLEN long b", ":100\r\n");
    kvt_expect(t, "HINCRBY long a 5", ":6\r\n");
}

static void test_hash_counters(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "HINCRBY h n 5", ":5\r\n");
    kvt_expect(t, "HINCRBY h n -10", ":-5\r\n");
    kvt_expect(t, "HINCRBY h n x", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "HSET h s abc big 9223372036854775807", ":2\r\n");
    kvt_expect(t, "HINCRBY h s 1", "-ERR hash value is not an integer\r\n");
    kvt_expect(t, "HINCRBY h big 1", "-ERR increment or decrement would overflow\r\n");
    kvt_expect(t, "HINCRBYFLOAT h f 1.5", "$3\r\n1.5\r\n");
    kvt_expect(t, "HINCRBYFLOAT h f 0.25", "$4\r\n1.75\r\n");
    kvt_expect(t, "HINCRBYFLOAT h s 1", "-ERR hash value is not a float\r\n");
    kvt_expect(t, "HINCRBYFLOAT h f inf", "-ERR value is NaN or Infinity\r\n");
    kvt_expect(t, "HINCRBYFLOAT h f x", "-ERR value is not a valid float\r\n");
    kvt_expect(t, "HINCRBY fresh f x", "-" ERR_NOT_INTEGER "\r\n");
    kvt_expect(t, "HINCRBYFLOAT fresh f 1e5000", "-ERR value is not a valid float\r\n");
    kvt_expect(t, "EXISTS fresh", ":0\r\n");
}

static void test_hscan_and_hrandfield(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "HSET h a1 1 a2 2 b1 3", ":3\r\n");
    kvt_expect(t, "HSCAN h 0 MATCH a*",
               "*2\r\n$1\r\n0\r\n*4\r\n$2\r\na1\r\n$1\r\n1\r\n$2\r\na2\r\n$1\r\n2\r\n");
    kvt_expect(t, "HSCAN none 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    kvt_expect(t, "HSCAN h x", "-ERR invalid cursor\r\n");
    kvt_expect(t, "HSCAN h 0 COUNT 0", "-ERR syntax error\r\n");
    kvt_expect(t, "HSCAN h 0 TYPE hash", "-ERR syntax error\r\n");
    kvt_expect(t, "HRANDFIELD none", "$-1\r\n");
    kvt_expect(t, "HRANDFIELD none 2", "*0\r\n");
    kvt_expect(t, "HRANDFIELD h 0", "*0\r\n");
    kvt_expect(t, "HRANDFIELD h 10", "*3\r\n$2\r\na1\r\n$2\r\na2\r\n$2\r\nb1\r\n");
    kvt_expect(t, "HRANDFIELD h 1 x", "-ERR syntax error\r\n");
    const char *r = kvt_run(t, "HRANDFIELD h -5 WITHVALUES");
    assert_memory_equal(r, "*10\r\n", 5);
    r = kvt_run(t, "HRANDFIELD h 2");
    assert_memory_equal(r, "*2\r\n", 4);
    /* two distinct fields: the reply cannot name one twice */
    const char *first = strstr(r + 4, "$2\r\n") + 4, *second = strstr(first, "$2\r\n") + 4;
    assert_memory_not_equal(first, second, 2);
}

static void test_hscan_of_table_returns_every_field(void **state) {
    kvt_t *t = *state;
    for (int i = 0; i < 500; i++) {
        kvt_runf(t, "HSET big field:%d %d", i, i);
    }
    int seen[500] = {0};
    char cursor[32] = "0";
    int calls = 0;
    do {
        const char *r = kvt_runf(t, "HSCAN big %s COUNT 20", cursor);
        const char *p = strstr(r, "\r\n") + 2;           /* past *2 */
        p = strstr(p, "\r\n") + 2;                        /* past $len of cursor */
        size_t n = (size_t)(strstr(p, "\r\n") - p);
        memcpy(cursor, p, n);
        cursor[n] = '\0';
        for (const char *f = strstr(p, "field:"); f; f = strstr(f + 1, "field:")) {
            seen[atoi(f + 6)]++;
        }
        assert_true(++calls < 10000);
    } while (strcmp(cursor, "0") != 0);
    for (int i = 0; i < 500; i++) {
        assert_true(seen[i] >= 1);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_hash_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hash_converts_to_table_past_the_small_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hash_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hscan_and_hrandfield, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hscan_of_table_returns_every_field, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
