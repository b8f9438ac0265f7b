/* Tests of write records and snapshots: encode/apply round trip, rejection of every malformed
 * record, determinism (keyspaces with different table seeds that apply the same log end
 * identical, replies included), batches of records, and dump/load round trips with versions and
 * expire times. */
#include <errno.h>

#include "kv_testlib.h"

static void encode(buf_t *out, stamp_t stamp, int64_t time_ms, const char *line) {
    char copy[2048];
    slice_t argv[128];
    int argc = 0;
    assert_true(strlen(line) < sizeof copy);
    snprintf(copy, sizeof copy, "%s", line);
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        assert_true(argc < 128);
        argv[argc++] = (slice_t){w, strlen(w)};
    }
    buf_clear(out);
    kv_record_encode(out, stamp, time_ms, argc, argv);
}

static void test_record_round_trip_applies_with_its_stamp_and_time(void **state) {
    (void)state;
    kvt_t t;
    kvt_init(&t, 1);
    buf_t rec, out;
    buf_init(&rec);
    buf_init(&out);
    stamp_t stamp = hlc_physical(KVT_START_MS + 5000) + 3;
    encode(&rec, stamp, KVT_START_MS + 5000, "SET k v EX 10");
    assert_int_equal(kv_record_stamp(rec.data, rec.len), stamp);
    reply_t reply = {&out, 2};
    uint64_t dirty = 0;
    assert_int_equal(kv_record_apply(t.ks, &t.clock, &t.rng, rec.data, rec.len, &reply, &dirty),
                     0);
    assert_int_equal(out.len, 5);
    assert_memory_equal(out.data, "+OK\r\n", 5);
    assert_int_equal(dirty, 1);
    assert_int_equal(t.clock.last, stamp); /* the clock observed the record's stamp */
    /* the expire time counts from the record's time, not the test's clock */
    kvt_expect(&t, "PEXPIRETIME k", ":1700000015000\r\n");
    assert_int_equal(kvt_int(&t, "POLIS.VERSION k"), (long long)stamp);
    /* a replayed record needs no reply buffer */
    encode(&rec, stamp + 1, KVT_START_MS + 6000, "DEL k");
    assert_int_equal(kv_record_apply(t.ks, &t.clock, &t.rng, rec.data, rec.len, NULL, &dirty), 0);
    assert_int_equal(dirty, 1);
    kvt_expect(&t, "EXISTS k", ":0\r\n");
    buf_free(&rec);
    buf_free(&out);
    kvt_free(&t);
}

/* Applies n bytes from a copy of exactly that size (so the sanitizers see any read past them),
 * after prefetching the record's lookup both ways, as a batch's applier does ahead. */
static int apply_bytes(kvt_t *t, const void *p, size_t n) {
    char *copy = mem_alloc(n);
    if (n) {
        memcpy(copy, p, n);
    }
    size_t keys = keyspace_key_count(t->ks);
    kv_record_prefetch(t->ks, copy, n, false);
    kv_record_prefetch(t->ks, copy, n, true);
    assert_int_equal(keyspace_key_count(t->ks), keys);
    int rc = kv_record_apply(t->ks, &t->clock, &t->rng, copy, n, NULL, NULL);
    mem_free(copy);
    return rc;
}

static void test_malformed_records_are_rejected_and_change_nothing(void **state) {
    (void)state;
    kvt_t t;
    kvt_init(&t, 2);
    buf_t rec;
    buf_init(&rec);
    encode(&rec, 77, KVT_START_MS, "SET key value");
    /* every truncation, and one byte too many */
    for (size_t n = 0; n < rec.len; n++) {
        assert_int_equal(apply_bytes(&t, rec.data, n), -EINVAL);
    }
    buf_append(&rec, "x", 1);
    assert_int_equal(apply_bytes(&t, rec.data, rec.len), -EINVAL);
    /* bad version, argc too large, an argument length past the end */
    encode(&rec, 77, KVT_START_MS, "SET key value");
    rec.data[0] = 2;
    assert_int_equal(apply_bytes(&t, rec.data, rec.len), -EINVAL);
    rec.data[0] = 1;
    rec.data[17] = (char)0xff;
    assert_int_equal(apply_bytes(&t, rec.data, rec.len), -EINVAL);
    encode(&rec, 77, KVT_START_MS, "SET key value");
    rec.data[21 + 4 + 3 + 3] = (char)0x7f; /* high byte of the key's length */
    assert_int_equal(apply_bytes(&t, rec.data, rec.len), -EINVAL);
    /* well formed, but not a write this keyspace can apply */
    const char *refused[] = {"NOSUCH k", "GET k", "SET k", "SET", "HSET h f"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        encode(&rec, 77, KVT_START_MS, refused[i]);
        assert_int_equal(apply_bytes(&t, rec.data, rec.len), -EINVAL);
    }
    assert_int_equal(kv_record_stamp("\x02", 1), 0);
    assert_int_equal(t.clock.last, 0); /* nothing was observed */
    assert_int_equal(keyspace_key_count(t.ks), 0);
    /* a record with many arguments decodes into an allocated vector */
    buf_t many;
    buf_init(&many);
    buf_append_str(&many, "MSET");
    for (int i = 0; i < 40; i++) {
        buf_printf(&many, " k%d v%d", i, i);
    }
    buf_append(&many, "", 1);
    encode(&rec, 78, KVT_START_MS, many.data);
    assert_int_equal(apply_bytes(&t, rec.data, rec.len), 0);
    assert_int_equal(keyspace_key_count(t.ks), 40);
    buf_free(&many);
    buf_free(&rec);
    kvt_free(&t);
}

/* A workload touching every write path, with time passing (expiry during the run). */
static void run_workload(kvt_t *t) {
    for (int i = 0; i < 400; i++) {
        kvt_runf(t, "SET s:%d value-%d", i, i * 7);
        kvt_runf(t, "HSET h:%d f%d %d g x", i % 37, i, i);
        if (i % 3 == 0) {
            kvt_runf(t, "PEXPIRE s:%d %d", i, 50 + i);
        }
        if (i % 5 == 0) {
            kvt_runf(t, "INCRBYFLOAT f:%d 0.1", i % 7);
            kvt_runf(t, "APPEND s:%d -tail", i / 2);
        }
        if (i % 11 == 0) {
            kvt_runf(t, "RENAME s:%d r:%d", i / 3, i);
            kvt_runf(t, "COPY h:%d c:%d REPLACE", i % 37, i % 5);
            kvt_runf(t, "HDEL h:%d f%d", (i + 3) % 37, i - 20);
        }
        if (i % 50 == 49) {
            kvt_runf(t, "DEL s:%d s:%d", i - 10, i - 11);
            kvt_runf(t, "POLIS.DELEXPIRED s:%d s:%d", i - 30, i - 33);
        }
        kvt_advance(t, 3);
    }
}

static void test_same_log_gives_identical_keyspaces_whatever_the_seed(void **state) {
    (void)state;
    kvt_t leader, follower;
    kvt_init(&leader, 1111);
    kvt_init(&follower, 2222);
    run_workload(&leader);
    kvt_replay(&leader, &follower);
    assert_int_equal(keyspace_key_count(leader.ks), keyspace_key_count(follower.ks));
    assert_int_equal(keyspace_expires_count(leader.ks), keyspace_expires_count(follower.ks));
    assert_int_equal(keyspace_digest(leader.ks), keyspace_digest(follower.ks));
    assert_int_equal(leader.clock.last, follower.clock.last);
    /* and the digest does notice a difference */
    follower.now_ms = leader.now_ms;
    kvt_run(&follower, "HSET h:1 extra 1");
    assert_int_not_equal(keyspace_digest(leader.ks), keyspace_digest(follower.ks));
    kvt_free(&leader);
    kvt_free(&follower);
}

static void test_dump_load_round_trip_keeps_values_versions_and_expire_times(void **state) {
    (void)state;
    kvt_t t, copy;
    kvt_init(&t, 31);
    kvt_init(&copy, 32);
    run_workload(&t);
    kvt_runf(&t, "SET empty ''");
    kvt_stream_t s;
    kvt_dump(&t, &s);
    stamp_t max_stamp = 0;
    assert_int_equal(keyspace_load(copy.ks, kvt_stream_read, &s, &max_stamp), 0);
    assert_int_equal(s.read_at, s.data.len);
    assert_int_equal(keyspace_check(copy.ks), 0);
    assert_int_equal(keyspace_digest(copy.ks), keyspace_digest(t.ks));
    assert_int_equal(max_stamp, t.clock.last);
    copy.now_ms = t.now_ms;
    assert_string_equal(kvt_run(&copy, "HGETALL h:3"), kvt_run(&t, "HGETALL h:3"));
    /* loading replaces what was there */
    kvt_stream_t again;
    kvt_dump(&t, &again);
    kvt_run(&copy, "SET stray v");
    assert_int_equal(keyspace_load(copy.ks, kvt_stream_read, &again, &max_stamp), 0);
    kvt_expect(&copy, "EXISTS stray", ":0\r\n");
    buf_free(&s.data);
    buf_free(&again.data);
    kvt_free(&t);
    kvt_free(&copy);
}

static void test_load_rejects_every_truncation_and_corruption(void **state) {
    (void)state;
    kvt_t t, copy;
    kvt_init(&t, 41);
    kvt_init(&copy, 42);
    kvt_run(&t, "SET a 1 EX 100");
    kvt_run(&t, "HSET h f v g w");
    kvt_stream_t s;
    kvt_dump(&t, &s);
    size_t full = s.data.len;
    stamp_t max_stamp;
    for (size_t n = 0; n < full; n++) {
        s.data.len = n;
        s.read_at = 0;
        kvt_run(&copy, "SET leftover v");
        assert_int_not_equal(keyspace_load(copy.ks, kvt_stream_read, &s, &max_stamp), 0);
        assert_int_equal(keyspace_key_count(copy.ks), 0); /* a failed load leaves it empty */
    }
    s.data.len = full;
    s.data.data[0] = 'X'; /* bad magic */
    s.read_at = 0;
    assert_int_equal(keyspace_load(copy.ks, kvt_stream_read, &s, &max_stamp), -EINVAL);
    s.data.data[0] = 'P';
    s.data.data[full - 1] ^= 1; /* wrong key count in the trailer */
    s.read_at = 0;
    assert_int_equal(keyspace_load(copy.ks, kvt_stream_read, &s, &max_stamp), -EINVAL);
    s.data.data[full - 1] ^= 1;
    s.data.data[4] = 9; /* unknown kind of the first key */
    s.read_at = 0;
    assert_int_equal(keyspace_load(copy.ks, kvt_stream_read, &s, &max_stamp), -EINVAL);
    buf_free(&s.data);
    /* a writer's failure stops the dump and is returned */
    for (int i = 0; i < 2000; i++) {
        kvt_runf(&t, "SET key:%d %0100d", i, i);
    }
    kvt_stream_t failing = {.fail_after = 50000};
    buf_init(&failing.data);
    assert_int_equal(keyspace_dump(t.ks, kvt_stream_write, &failing), -5);
    buf_free(&failing.data);
    kvt_free(&t);
    kvt_free(&copy);
}

/* Adds the command in line to batch, with stamp and time 0. */
static void batch_line(buf_t *batch, const char *line, buf_t *scratch) {
    encode(scratch, 0, 0, line); /* checks the line fits; the batch encodes its own copy */
    slice_t argv[8];
    int argc = 0;
    const char *p = line;
    while (*p && argc < 8) {
        const char *end = strchr(p, ' ');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        argv[argc++] = (slice_t){p, n};
        p += n + (end ? 1 : 0);
    }
    kv_batch_add(batch, 0, 0, argc, argv);
}

static void test_batches_hold_records_in_order_and_a_lone_record_is_logged_bare(void **state) {
    (void)state;
    kvt_t t;
    kvt_init(&t, 4);
    buf_t batch, scratch, out;
    buf_init(&batch);
    buf_init(&scratch);
    buf_init(&out);
    kv_batch_reset(&batch);
    const char *lines[] = {"SET a 1", "INCR a", "HSET h f v"};
    for (size_t i = 0; i < 3; i++) {
        batch_line(&batch, lines[i], &scratch);
    }
    assert_int_equal(kv_batch_count(&batch), 3);
    const char *data, *rec;
    size_t len, rec_len;
    kv_batch_entry(&batch, &data, &len);
    assert_ptr_equal(data, batch.data);
    kv_batch_iter_t it;
    assert_int_equal(kv_batch_open(&it, data, len), 0);
    reply_t reply = {&out, 2};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(kv_batch_next(&it, &rec, &rec_len), 1);
        encode(&scratch, 0, 0, lines[i]);
        assert_int_equal(rec_len, scratch.len);
        assert_memory_equal(rec, scratch.data, rec_len);
        assert_int_equal(kv_record_apply(t.ks, &t.clock, &t.rng, rec, rec_len, &reply, NULL), 0);
    }
    assert_int_equal(kv_batch_next(&it, &rec, &rec_len), 0);
    buf_append(&out, "", 1);
    assert_string_equal(out.data, "+OK\r\n:2\r\n:1\r\n");
    /* every cut of the batch is refused where it falls, never read past */
    for (size_t n = 0; n < len; n++) {
        int rc = kv_batch_open(&it, data, n);
        size_t seen = 0;
        while (rc == 0 && (rc = kv_batch_next(&it, &rec, &rec_len)) == 1) {
            assert_true(rec + rec_len <= data + n);
            seen++;
            rc = 0;
        }
        assert_int_equal(rc, -EINVAL);
        assert_true(seen < 3);
    }
    /* a batch of one is its bare record, which opens as a batch of one */
    kv_batch_reset(&batch);
    batch_line(&batch, "SET b 2", &scratch);
    kv_batch_entry(&batch, &data, &len);
    encode(&scratch, 0, 0, "SET b 2");
    assert_int_equal(len, scratch.len);
    assert_memory_equal(data, scratch.data, len);
    assert_int_equal(kv_batch_open(&it, data, len), 0);
    assert_int_equal(kv_batch_next(&it, &rec, &rec_len), 1);
    assert_ptr_equal(rec, data);
    assert_int_equal(kv_batch_next(&it, &rec, &rec_len), 0);
    assert_int_equal(kv_batch_open(&it, "\x07junk", 5), -EINVAL);
    buf_free(&batch);
    buf_free(&scratch);
    buf_free(&out);
    kvt_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip_applies_with_its_stamp_and_time),
        cmocka_unit_test(test_malformed_records_are_rejected_and_change_nothing),
        cmocka_unit_test(test_same_log_gives_identical_keyspaces_whatever_the_seed),
        cmocka_unit_test(test_dump_load_round_trip_keeps_values_versions_and_expire_times),
        cmocka_unit_test(test_load_rejects_every_truncation_and_corruption),
        cmocka_unit_test(test_batches_hold_records_in_order_and_a_lone_record_is_logged_bare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
