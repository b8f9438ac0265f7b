/* Tests of the hash table (src/core/dict.c): insert, find, delete, growth and shrinking through
 * incremental rehashing, the scan guarantee across resizes, random picks, and the seeded hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dict.h"
#include "core/mem.h"
#include "core/rng.h"

typedef struct item {
    dict_node_t node;
    char key[24];
    size_t len;
    int seen;
} item_t;

static slice_t item_key(const dict_node_t *node) {
    const item_t *it = (const item_t *)node;
    return (slice_t){it->key, it->len};
}

static const dict_type_t item_type = {item_key};

static item_t *item_new(int i) {
    item_t *it = mem_calloc(1, sizeof *it);
    it->len = (size_t)snprintf(it->key, sizeof it->key, "key:%d", i);
    return it;
}

static slice_t key_of(int i, char *buf) {
    return (slice_t){buf, (size_t)snprintf(buf, 24, "key:%d", i)};
}

static void add(dict_t *d, int i) {
    item_t *it = item_new(i);
    slice_t k = item_key(&it->node);
    assert_null(dict_find(d, k, dict_hash(d, k)));
    dict_add(d, &it->node, dict_hash(d, k));
}

static int del(dict_t *d, int i) {
    char buf[24];
    slice_t k = key_of(i, buf);
    dict_node_t **link = dict_find_link(d, k, dict_hash(d, k));
    if (!link) {
        return 0;
    }
    mem_free(dict_unlink(d, link));
    return 1;
}

static int has(const dict_t *d, int i) {
    char buf[24];
    slice_t k = key_of(i, buf);
    return dict_find(d, k, dict_hash(d, k)) != NULL;
}

static void free_item(void *arg, dict_node_t *node) {
    (void)arg;
    mem_free(node);
}

static void test_insert_find_delete_through_growth_and_shrink(void **state) {
    (void)state;
    dict_t d;
    dict_init(&d, &item_type, 7);
    for (int i = 0; i < 5000; i++) {
        add(&d, i);
        if (i % 97 == 0) {
            assert_int_equal(dict_check(&d), 0);
            assert_true(has(&d, i / 2));
        }
    }
    assert_int_equal(dict_count(&d), 5000);
    for (int i = 0; i < 5000; i++) {
        assert_true(has(&d, i));
    }
    assert_false(has(&d, 5000));
    size_t grown = d.size[0] + d.size[1];
    for (int i = 0; i < 4990; i++) {
        assert_int_equal(del(&d, i), 1);
        assert_int_equal(del(&d, i), 0);
        if (i % 101 == 0) {
            assert_int_equal(dict_check(&d), 0);
        }
    }
    while (dict_rehash_steps(&d, 100)) {
    }
    assert_int_equal(dict_count(&d), 10);
    assert_true(d.size[0] < grown / 64);
    assert_true(has(&d, 4995) && !has(&d, 10));
    dict_clear(&d, free_item, NULL);
    assert_int_equal(dict_count(&d), 0);
    assert_null(d.table[0]);
}

static void test_lookups_see_both_tables_during_rehash(void **state) {
    (void)state;
    dict_t d;
    dict_init(&d, &item_type, 11);
    dict_prefetch(&d, 42, false); /* no table yet */
    dict_prefetch(&d, 42, true);
    for (int i = 0; i < 64; i++) {
        add(&d, i);
    }
    add(&d, 64); /* 64 entries in 64 buckets: this one starts a resize to 128 */
    assert_true(dict_is_rehashing(&d));
    size_t moved = d.rehash_index;
    for (int i = 0; i <= 70; i++) { /* prefetching present and absent keys changes nothing */
        char buf[24];
        slice_t k = key_of(i, buf);
        dict_prefetch(&d, dict_hash(&d, k), false);
        dict_prefetch(&d, dict_hash(&d, k), true);
    }
    assert_int_equal(d.rehash_index, moved);
    assert_int_equal(dict_count(&d), 65);
    for (int i = 0; i <= 64; i++) {
        assert_true(has(&d, i));
    }
    assert_int_equal(dict_check(&d), 0);
    /* a removal while rehashing works on whichever table holds the entry */
    assert_int_equal(del(&d, 3), 1);
    assert_int_equal(del(&d, 63), 1);
    assert_int_equal(dict_check(&d), 0);
    while (dict_rehash_steps(&d, 1)) {
        assert_int_equal(dict_check(&d), 0);
    }
    assert_false(dict_is_rehashing(&d));
    assert_int_equal(d.size[0], 128);
    assert_int_equal(dict_count(&d), 63);
    dict_clear(&d, free_item, NULL);
}

static void mark_seen(void *arg, const dict_node_t *node) {
    (void)arg;
    ((item_t *)node)->seen++;
}

/* Scans while growing (or shrinking) the table between steps; every entry present throughout
 * must have been visited. */
static void scan_with_resizes(int grow) {
    dict_t d;
    dict_init(&d, &item_type, 99);
    int stable = 300, churn = 6000;
    for (int i = 0; i < stable; i++) {
        add(&d, i);
    }
    if (!grow) {
        for (int i = stable; i < stable + churn; i++) {
            add(&d, i);
        }
    }
    uint64_t cursor = 0;
    int steps = 0;
    do {
        cursor = dict_scan(&d, cursor, mark_seen, NULL);
        steps++;
        if (grow && steps % 3 == 0 && steps < 300) {
            for (int i = 0; i < 40; i++) {
                add(&d, stable + (steps / 3) * 40 + i);
            }
        }
        if (!grow && steps % 2 == 0) {
            for (int i = 0; i < 60; i++) {
                del(&d, stable + (steps / 2) * 60 + i);
            }
        }
        assert_true(steps < 100000);
    } while (cursor != 0);
    for (int i = 0; i < stable; i++) {
        char buf[24];
        slice_t k = key_of(i, buf);
        item_t *it = (item_t *)dict_find(&d, k, dict_hash(&d, k));
        assert_non_null(it);
        assert_true(it->seen >= 1);
    }
    dict_clear(&d, free_item, NULL);
}

static void test_scan_returns_every_stable_entry_while_growing(void **state) {
    (void)state;
    scan_with_resizes(1);
}

static void test_scan_returns_every_stable_entry_while_shrinking(void **state) {
    (void)state;
    scan_with_resizes(0);
}

static void test_full_scan_of_a_quiet_table_visits_each_entry_once(void **state) {
    (void)state;
    dict_t d;
    dict_init(&d, &item_type, 5);
    for (int i = 0; i < 1000; i++) {
        add(&d, i);
    }
    for (int rehashing = 0; rehashing < 2; rehashing++) {
        if (rehashing) {
            add(&d, 5000); /* crosses 1024: starts a resize left in progress */
            for (int i = 1001; i < 1030; i++) {
                add(&d, i);
            }
            assert_true(dict_is_rehashing(&d));
        }
        dict_iter_t iter;
        dict_iter_init(&iter, &d);
        for (const dict_node_t *n = dict_iter_next(&iter); n; n = dict_iter_next(&iter)) {
            ((item_t *)n)->seen = 0;
        }
        uint64_t cursor = 0;
        do {
            cursor = dict_scan(&d, cursor, mark_seen, NULL);
        } while (cursor != 0);
        size_t visited = 0;
        dict_iter_init(&iter, &d);
        for (const dict_node_t *n = dict_iter_next(&iter); n; n = dict_iter_next(&iter)) {
            assert_int_equal(((const item_t *)n)->seen, 1);
            visited++;
        }
        assert_int_equal(visited, dict_count(&d));
    }
    dict_clear(&d, free_item, NULL);
}

static void test_random_reaches_every_entry_and_survives_sparse_tables(void **state) {
    (void)state;
    dict_t d;
    dict_init(&d, &item_type, 3);
    uint64_t rng = 1;
    assert_null(dict_random(&d, &rng));
    for (int i = 0; i < 20; i++) {
        add(&d, i);
    }
    int hits[20] = {0};
    for (int n = 0; n < 4000; n++) {
        item_t *it = (item_t *)dict_random(&d, &rng);
        hits[atoi(it->key + 4)]++;
    }
    for (int i = 0; i < 20; i++) {
        assert_true(hits[i] > 50);
    }
    /* one entry left in a big table: found by the sweep after random misses */
    for (int i = 20; i < 20000; i++) {
        add(&d, i);
    }
    for (int i = 0; i < 20000; i++) {
        if (i != 12345) {
            del(&d, i);
        }
    }
    for (int n = 0; n < 10; n++) {
        item_t *it = (item_t *)dict_random(&d, &rng);
        assert_string_equal(it->key, "key:12345");
    }
    dict_clear(&d, free_item, NULL);
}

static void test_hash_depends_on_seed_bytes_and_length(void **state) {
    (void)state;
    const char *s = "the quick brown fox jumps over the lazy dog";
    for (size_t n = 0; n <= strlen(s); n++) {
        assert_int_not_equal(hash_bytes(1, s, n), hash_bytes(2, s, n));
        if (n > 0) {
            assert_int_not_equal(hash_bytes(1, s, n), hash_bytes(1, s, n - 1));
            char flipped[64];
            memcpy(flipped, s, n);
            flipped[n / 2] ^= 1;
            assert_int_not_equal(hash_bytes(1, s, n), hash_bytes(1, flipped, n));
        }
        assert_int_equal(hash_bytes(9, s, n), hash_bytes(9, s, n));
    }
    char zeros[32] = {0};
    assert_int_not_equal(hash_bytes(1, zeros, 31), hash_bytes(1, zeros, 32));
}

static void test_hash_spreads_sequential_keys_evenly(void **state) {
    (void)state;
    enum { BUCKETS = 1024, KEYS = 1024 * 64 };
    static unsigned counts[BUCKETS];
    memset(counts, 0, sizeof counts);
    char buf[32];
    for (int i = 0; i < KEYS; i++) {
        int n = snprintf(buf, sizeof buf, "key:%012d", i);
        counts[hash_bytes(0x1234, buf, (size_t)n) & (BUCKETS - 1)]++;
    }
    /* chi-square with 1023 degrees of freedom: mean 1023, far below 1300 for a good hash */
    double expected = (double)KEYS / BUCKETS, chi = 0;
    for (int b = 0; b < BUCKETS; b++) {
        double diff = counts[b] - expected;
        chi += diff * diff / expected;
    }
    assert_true(chi < 1300);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_insert_find_delete_through_growth_and_shrink),
        cmocka_unit_test(test_lookups_see_both_tables_during_rehash),
        cmocka_unit_test(test_scan_returns_every_stable_entry_while_growing),
        cmocka_unit_test(test_scan_returns_every_stable_entry_while_shrinking),
        cmocka_unit_test(test_full_scan_of_a_quiet_table_visits_each_entry_once),
        cmocka_unit_test(test_random_reaches_every_entry_and_survives_sparse_tables),
        cmocka_unit_test(test_hash_depends_on_seed_bytes_and_length),
        cmocka_unit_test(test_hash_spreads_sequential_keys_evenly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
