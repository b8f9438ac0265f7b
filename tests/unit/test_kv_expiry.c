/* Tests of expiry and eviction: logical expiry (an expired key is absent to every command),
 * the expire family's rules, the active expire cycle, POLIS.DELEXPIRED, and eviction picks under
 * each policy. The test's clock is moved by hand (kvt_advance). */
#include "kv_testlib.h"

static int setup(void **state) {
    kvt_t *t = malloc(sizeof *t);
    kvt_init(t, 5);
    *state = t;
    return 0;
}

static int teardown(void **state) {
    kvt_free(*state);
    free(*state);
    return 0;
}

static void test_expired_key_is_absent_to_every_command(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "SET k v PX 100", "+OK\r\n");
    kvt_expect(t, "HSET h f v", ":1\r\n");
    kvt_expect(t, "PEXPIRE h 100", ":1\r\n");
    kvt_advance(t, 99);
    kvt_expect(t, "GET k", "$1\r\nv\r\n");
    kvt_expect(t, "PTTL k", ":1\r\n");
    kvt_advance(t, 1); /* expire time reached: gone */
    kvt_expect(t, "GET k", "$-1\r\n");
    kvt_expect(t, "EXISTS k h", ":0\r\n");
    kvt_expect(t, "TTL k", ":-2\r\n");
    kvt_expect(t, "TYPE h", "+none\r\n");
    kvt_expect(t, "HGET h f", "$-1\r\n");
    kvt_expect(t, "KEYS *", "*0\r\n");
    kvt_expect(t, "SCAN 0", "*2\r\n$1\r\n0\r\n*0\r\n");
    kvt_expect(t, "RANDOMKEY", "$-1\r\n");
    kvt_expect(t, "POLIS.VERSION k", ":0\r\n");
    kvt_expect(t, "DBSIZE", ":2\r\n");
    kvt_expect(t, "RENAME k x", "-ERR no such key\r\n"); /* a write: removes k */
    kvt_expect(t, "DBSIZE", ":1\r\n"); /* h is still held until removed, as in Redis */
    kvt_expect(t, "SET k new NX", "+OK\r\n"); /* a write removes the expired key first */
    kvt_expect(t, "TTL k", ":-1\r\n");
    kvt_expect(t, "HSET h g w", ":1\r\n");
    kvt_expect(t, "HGETALL h", "*2\r\n$1\r\ng\r\n$1\r\nw\r\n");
    keyspace_stats_t stats;
    keyspace_get_stats(t->ks, &stats);
    assert_int_equal(stats.expired_keys, 2);
}

static void test_expire_options(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "EXPIRE nope 10", ":0\r\n");
    kvt_expect(t, "SET k v", "+OK\r\n");
    kvt_expect(t, "EXPIRE k 100 XX", ":0\r\n");
    kvt_expect(t, "EXPIRE k 100 GT", ":0\r\n"); /* no expire time counts as infinite */
    kvt_expect(t, "EXPIRE k 100 LT", ":1\r\n");
    kvt_expect(t, "EXPIRE k 50 NX", ":0\r\n");
    kvt_expect(t, "EXPIRE k 200 GT", ":1\r\n");
    kvt_expect(t, "EXPIRE k 300 LT", ":0\r\n");
    kvt_expect(t, "TTL k", ":200\r\n");
    kvt_expect(t, "PEXPIREAT k 1700000500000", ":1\r\n");
    kvt_expect(t, "PEXPIRETIME k", ":1700000500000\r\n");
    kvt_expect(t, "EXPIRETIME k", ":1700000500\r\n");
    kvt_expect(t, "EXPIRE k 10 NX XX",
               "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n");
    kvt_expect(t, "EXPIRE k 10 GT LT",
               "-ERR GT and LT options at the same time are not compatible\r\n");
    kvt_expect(t, "EXPIRE k 10 FOO", "-ERR Unsupported option FOO\r\n");
    kvt_expect(t, "EXPIRE k 9223372036854775807",
               "-ERR invalid expire time in 'expire' command\r\n");
    kvt_expect(t, "PERSIST k", ":1\r\n");
    kvt_expect(t, "PERSIST k", ":0\r\n");
    kvt_expect(t, "EXPIRE k -1", ":1\r\n"); /* a time in the past deletes */
    kvt_expect(t, "EXISTS k", ":0\r\n");
    assert_int_equal(keyspace_expires_count(t->ks), 0);
}

typedef struct found {
    int count;
    char keys[64][16];
} found_t;

static void on_found(void *arg, slice_t key) {
    found_t *f = arg;
    assert_true(f->count < 64 && key.len < 16);
    memcpy(f->keys[f->count], key.ptr, key.len);
    f->keys[f->count][key.len] = '\0';
    f->count++;
}

static void test_expire_cycle_finds_each_expired_key_once_per_call(void **state) {
    kvt_t *t = *state;
    for (int i = 0; i < 40; i++) {
        kvt_runf(t, "SET short:%d v PX %d", i, 100 + i);
        kvt_runf(t, "SET long:%d v EX 1000", i);
        kvt_runf(t, "SET plain:%d v", i);
    }
    assert_int_equal(keyspace_expires_count(t->ks), 80);
    found_t f = {0};
    assert_int_equal(keyspace_expire_cycle(t->ks, t->now_ms, 64, &t->rng, on_found, &f), 0);
    kvt_advance(t, 120); /* short:0 .. short:20 have expired */
    size_t total = 0;
    for (int round = 0; round < 10; round++) {
        memset(&f, 0, sizeof f);
        size_t n = keyspace_expire_cycle(t->ks, t->now_ms, 5, &t->rng, on_found, &f);
        assert_true(n <= 5);
        for (int i = 0; i < f.count; i++) {
            assert_memory_equal(f.keys[i], "short:", 6);
            assert_true(atoi(f.keys[i] + 6) <= 20);
            for (int j = 0; j < i; j++) {
                assert_string_not_equal(f.keys[i], f.keys[j]);
            }
            /* the node logs POLIS.DELEXPIRED for what it found */
            assert_string_equal(kvt_runf(t, "POLIS.DELEXPIRED %s", f.keys[i]), ":1\r\n");
        }
        total += n;
    }
    assert_int_equal(total, 21);
    assert_int_equal(keyspace_key_count(t->ks), 120 - 21);
    assert_int_equal(keyspace_expires_count(t->ks), 80 - 21);
}

static void test_delexpired_spares_a_key_rewritten_since(void **state) {
    kvt_t *t = *state;
    kvt_expect(t, "SET k old PX 10", "+OK\r\n");
    kvt_expect(t, "SET live v", "+OK\r\n");
    kvt_advance(t, 20);
    kvt_expect(t, "SET k new", "+OK\r\n"); /* logged between the cycle and its record */
    kvt_expect(t, "POLIS.DELEXPIRED k live nope", ":0\r\n");
    kvt_expect(t, "GET k", "$3\r\nnew\r\n");
    kvt_expect(t, "GET live", "$1\r\nv\r\n");
}

static int evict(kvt_t *t, enum evict_policy policy, char *out) {
    slice_t key;
    if (!keyspace_evict_pick(t->ks, policy, t->now_ms, &t->rng, &key)) {
        return 0;
    }
    memcpy(out, key.ptr, key.len);
    out[key.len] = '\0';
    return 1;
}

static void test_eviction_picks_follow_the_policy(void **state) {
    kvt_t *t = *state;
    char key[64];
    assert_false(evict(t, EVICT_ALLKEYS_LRU, key));
    kvt_expect(t, "SET only v", "+OK\r\n");
    assert_false(evict(t, EVICT_NOEVICTION, key));
    assert_false(evict(t, EVICT_VOLATILE_LRU, key)); /* no key has an expire time */
    assert_true(evict(t, EVICT_ALLKEYS_RANDOM, key));
    assert_string_equal(key, "only");
    assert_true(evict(t, EVICT_ALLKEYS_LRU, key));
    assert_string_equal(key, "only");
    /* two keys: a sample of 5 misses the better one with probability 1/32 */
    kvt_expect(t, "SET other v", "+OK\r\n");
    kvt_advance(t, 60000);
    kvt_expect(t, "GET only", "$1\r\nv\r\n"); /* a read refreshes the LRU clock */
    int idle_picked = 0;
    for (int i = 0; i < 100; i++) {
        assert_true(evict(t, EVICT_ALLKEYS_LRU, key));
        idle_picked += strcmp(key, "other") == 0;
    }
    assert_true(idle_picked > 85);
    /* volatile-ttl: the soonest to expire among the keys with a time */
    kvt_expect(t, "EXPIRE only 500", ":1\r\n");
    kvt_expect(t, "EXPIRE other 50", ":1\r\n");
    kvt_expect(t, "SET forever v", "+OK\r\n");
    int soonest_picked = 0;
    for (int i = 0; i < 100; i++) {
        assert_true(evict(t, EVICT_VOLATILE_TTL, key));
        soonest_picked += strcmp(key, "other") == 0;
        assert_string_not_equal(key, "forever");
        assert_true(evict(t, EVICT_VOLATILE_LRU, key));
        assert_string_not_equal(key, "forever");
    }
    assert_true(soonest_picked > 85);
    /* an expired key is taken at once */
    kvt_advance(t, 50000);
    assert_true(evict(t, EVICT_VOLATILE_LRU, key));
    assert_string_equal(key, "other");
}

static void test_lru_pick_prefers_old_keys_in_a_large_keyspace(void **state) {
    kvt_t *t = *state;
    for (int i = 0; i < 1000; i++) {
        kvt_runf(t, "SET old:%d v", i);
    }
    kvt_advance(t, 3600 * 1000);
    for (int i = 0; i < 1000; i++) {
        kvt_runf(t, "SET new:%d v", i);
    }
    int old = 0;
    char key[64];
    for (int i = 0; i < 200; i++) {
        assert_true(evict(t, EVICT_ALLKEYS_LRU, key));
        old += strncmp(key, "old:", 4) == 0;
    }
    /* a sample of 5 holds an old key with probability 1 - 2^-5 */
    assert_true(old > 170);
    assert_true(keyspace_avg_ttl_ms(t->ks, t->now_ms) == 0);
    kvt_expect(t, "EXPIRE old:1 100", ":1\r\n");
    assert_int_equal(keyspace_avg_ttl_ms(t->ks, t->now_ms), 100000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_expired_key_is_absent_to_every_command, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_expire_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire_cycle_finds_each_expired_key_once_per_call,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_delexpired_spares_a_key_rewritten_since, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_eviction_picks_follow_the_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lru_pick_prefers_old_keys_in_a_large_keyspace, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
