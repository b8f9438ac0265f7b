/* Tests of persist (src/storage): append/flush/reopen, segment rolling, truncation, Raft-style
 * appends, read-back, the directory lock and temporary files, recovery after a cut at every byte
 * of the last record, refusal with file and offset on a flipped byte. Snapshots, hard state and
 * the failed state are in test_persist_snapshot.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "persist_testlib.h"

typedef struct fixture {
    char dir[64];
    sm_t *sm;
    persist_t *p;
    persist_options_t opt;
    char err[512];
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    tdir_make(f->dir, sizeof f->dir);
    f->sm = calloc(1, sizeof *f->sm);
    f->opt = (persist_options_t){.dir = f->dir, .fsync = FSYNC_ALWAYS, .segment_bytes = 4096};
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture_t *f = *state;
    persist_close(f->p);
    sm_clear(f->sm);
    free(f->sm);
    tdir_remove(f->dir);
    free(f);
    return 0;
}

/* (Re)opens with a fresh state machine; returns persist_open's code. */
static int reopen(fixture_t *f) {
    persist_close(f->p);
    f->p = NULL;
    sm_clear(f->sm);
    persist_hooks_t hooks = sm_hooks(f->sm);
    f->err[0] = '\0';
    return persist_open(&f->opt, &hooks, &f->p, f->err, sizeof f->err);
}

static void append_n(fixture_t *f, int from, int to) {
    for (int i = from; i <= to; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "value-%d", i);
        assert_int_equal(persist_append(f->p, RECORD_KV, v, (size_t)n), (uint64_t)i);
    }
}

static void assert_sm_values(fixture_t *f, int from, int to) {
    assert_int_equal(f->sm->count, (uint64_t)(to - from + 1));
    for (int i = from; i <= to; i++) {
        char v[32];
        snprintf(v, sizeof v, "value-%d", i);
        assert_string_equal(f->sm->data[i - from], v);
        assert_int_equal(f->sm->index[i - from], (uint64_t)i);
    }
}

static void test_append_flush_reopen_replays_in_order(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 50);
    assert_int_equal(persist_flush(f->p), 0);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.durable_index, 50);
    assert_int_equal(st.last_term, 1);
    assert_int_equal(st.fsync_count, 1); /* one fdatasync for the whole batch */
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 50);
    persist_get_status(f->p, &st);
    assert_int_equal(st.records_recovered, 50);
    append_n(f, 51, 60);
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 60);
}

static void test_unflushed_records_are_not_recovered(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 3);
    assert_int_equal(persist_flush(f->p), 0);
    append_n(f, 4, 5);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.last_index, 5);
    assert_int_equal(st.durable_index, 3);
}

static void test_segments_roll_and_sort_by_first_index(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    for (int batch = 0; batch < 20; batch++) {
        append_n(f, batch * 20 + 1, batch * 20 + 20);
        assert_int_equal(persist_flush(f->p), 0);
    }
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_true(st.segment_count > 3);
    assert_int_equal(count_files(f->dir, "wal-", ".log"), (int)st.segment_count);
    char first[600];
    snprintf(first, sizeof first, "%s/wal-00000000000000000001.log", f->dir);
    assert_true(file_size_of(first) >= 4096); /* preallocated */
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 400);
}

static void test_record_larger_than_a_segment_gets_its_own(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 2);
    char *big = malloc(10000);
    memset(big, 'x', 10000);
    assert_int_equal(persist_append(f->p, RECORD_KV, big, 10000), 3);
    append_n(f, 4, 4);
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(f->sm->count, 4);
    assert_int_equal(strlen(f->sm->data[2]), 10000);
    free(big);
}

static void test_append_entry_checks_contiguity_and_term(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    assert_int_equal(persist_append_entry(f->p, 1, 1, RECORD_KV, "a", 1), 0);
    assert_int_equal(persist_append_entry(f->p, 1, 3, RECORD_KV, "c", 1), -EINVAL);
    assert_int_equal(persist_append_entry(f->p, 1, 1, RECORD_KV, "a", 1), -EINVAL);
    assert_int_equal(persist_append_entry(f->p, 5, 2, RECORD_KV, "b", 1), 0);
    assert_int_equal(persist_append_entry(f->p, 4, 3, RECORD_KV, "c", 1), -EINVAL);
    assert_int_equal(persist_append_entry(f->p, 5, 3, 0, "c", 1), -EINVAL);
    assert_int_equal(persist_flush(f->p), 0);
    uint64_t term = 0;
    assert_int_equal(persist_term_at(f->p, 2, &term), 0);
    assert_int_equal(term, 5);
    assert_int_equal(persist_term_at(f->p, 1, &term), 0);
    assert_int_equal(term, 1);
    assert_int_equal(persist_term_at(f->p, 3, &term), -ENOENT);
    /* The single-node form continues with the current term. */
    assert_int_equal(persist_append(f->p, RECORD_KV, "c", 1), 3);
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(f->sm->count, 3);
    assert_int_equal(f->sm->term[2], 5);
}

static void test_truncate_after_overwrites_a_suffix_durably(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    for (int i = 1; i <= 300; i++) {
        assert_int_equal(persist_append_entry(f->p, 1, (uint64_t)i, RECORD_KV, "old", 3), 0);
        if (i % 30 == 0) {
            assert_int_equal(persist_flush(f->p), 0);
        }
    }
    persist_status_t st;
    persist_get_status(f->p, &st);
    uint64_t segments_before = st.segment_count;
    assert_int_equal(persist_truncate_after(f->p, 400), -EINVAL);
    assert_int_equal(persist_truncate_after(f->p, 57), 0); /* reaches back several segments */
    persist_get_status(f->p, &st);
    assert_int_equal(st.last_index, 57);
    assert_true(st.segment_count < segments_before);
    for (int i = 58; i <= 70; i++) {
        assert_int_equal(persist_append_entry(f->p, 2, (uint64_t)i, RECORD_KV, "new", 3), 0);
    }
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(f->sm->count, 70);
    assert_string_equal(f->sm->data[56], "old");
    assert_string_equal(f->sm->data[57], "new");
    assert_int_equal(f->sm->term[69], 2);
}

static void test_truncated_records_do_not_come_back_after_restart(void **state) {
    fixture_t *f = *state;
    f->opt.segment_bytes = 1 << 20;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 20);
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(persist_truncate_after(f->p, 10), 0);
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 10);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.torn_bytes_cut, 0); /* cut cleanly, not found torn */
}

static void test_truncate_of_buffered_records_only(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 5);
    assert_int_equal(persist_flush(f->p), 0);
    append_n(f, 6, 9);
    assert_int_equal(persist_truncate_after(f->p, 7), 0);
    assert_int_equal(persist_append_entry(f->p, 1, 8, RECORD_KV, "value-8", 7), 0);
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 8);
}

static int count_after(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                       size_t len) {
    uint64_t *next = arg;
    assert_int_equal(index, *next);
    *next = index + 1;
    return 0;
}

static void test_read_after_returns_disk_then_buffered_records(void **state) {
    fixture_t *f = *state;
    f->opt.retain_entries = 0;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 200);
    assert_int_equal(persist_flush(f->p), 0);
    append_n(f, 201, 205);
    uint64_t next = 151;
    assert_int_equal(persist_read_after(f->p, 150, count_after, &next), 0);
    assert_int_equal(next, 206);
    next = 1;
    assert_int_equal(persist_read_after(f->p, 0, count_after, &next), 0);
    assert_int_equal(next, 206);
}

static void test_open_fails_when_the_directory_is_locked(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    persist_t *second = NULL;
    sm_t *sm2 = calloc(1, sizeof *sm2);
    persist_hooks_t hooks = sm_hooks(sm2);
    char err[256];
    assert_true(persist_open(&f->opt, &hooks, &second, err, sizeof err) < 0);
    assert_non_null(strstr(err, "another polis process"));
    free(sm2);
}

static void test_temporary_files_are_removed_at_open(void **state) {
    fixture_t *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/snap-00000000000000000009.snap.tmp", f->dir);
    mkdir(f->dir, 0755);
    FILE *t = fopen(path, "w");
    fputs("half a snapshot", t);
    fclose(t);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(file_size_of(path), -1);
}

/* The path of the newest segment. */
static void last_segment(fixture_t *f, char *out, size_t size) {
    persist_status_t st;
    persist_get_status(f->p, &st);
    (void)st;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s/wal-*.log | tail -1", f->dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(fgets(out, (int)size, p));
    out[strcspn(out, "\n")] = '\0';
    pclose(p);
}

static void test_cut_at_every_byte_of_last_record_loses_only_it(void **state) {
    fixture_t *f = *state;
    f->opt.segment_bytes = 1 << 20;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 9);
    assert_int_equal(persist_flush(f->p), 0);
    char seg[600];
    last_segment(f, seg, sizeof seg);
    /* Where the last record starts and ends: flush one more and compare. */
    struct stat st;
    persist_close(f->p);
    f->p = NULL;
    char *copy = NULL;
    size_t len = 0;
    assert_int_equal(fileio_read_file(AT_FDCWD, seg, 1 << 21, &copy, &len), 0);
    size_t end = len;
    while (end > 0 && copy[end - 1] == 0) {
        end--;
    }
    size_t rec_len = 32 + strlen("value-9");
    size_t start = end - rec_len;
    for (size_t cut = start; cut < end; cut++) {
        int fd = open(seg, O_WRONLY | O_TRUNC);
        assert_true(write(fd, copy, cut) == (ssize_t)cut);
        close(fd);
        assert_int_equal(reopen(f), 0);
        assert_sm_values(f, 1, 8);
        persist_status_t s;
        persist_get_status(f->p, &s);
        /* Counted up to the last nonzero byte: trailing zeros of a cut header do not count. */
        assert_true(s.torn_bytes_cut <= cut - start);
        assert_true(cut == start || s.torn_bytes_cut > 0);
        assert_int_equal(s.last_index, 8);
        /* The log goes on from there. */
        append_n(f, 9, 9);
        assert_int_equal(persist_flush(f->p), 0);
        assert_int_equal(reopen(f), 0);
        assert_sm_values(f, 1, 9);
        persist_close(f->p);
        f->p = NULL;
    }
    (void)st;
    mem_free(copy);
}

static void test_flipped_byte_before_tail_refuses_with_file_and_offset(void **state) {
    fixture_t *f = *state;
    f->opt.segment_bytes = 1 << 20;
    assert_int_equal(reopen(f), 0);
    append_n(f, 1, 9);
    assert_int_equal(persist_flush(f->p), 0);
    char seg[600];
    last_segment(f, seg, sizeof seg);
    persist_close(f->p);
    f->p = NULL;
    /* Record 5 starts after the 32-byte segment header and four records of 32 + 7 bytes. */
    size_t rec5 = 32 + 4 * (32 + 7);
    for (size_t at = rec5; at < rec5 + 32 + 7; at += 3) {
        int fd = open(seg, O_RDWR);
        unsigned char c;
        assert_int_equal(pread(fd, &c, 1, (off_t)at), 1);
        c ^= 0x40;
        assert_int_equal(pwrite(fd, &c, 1, (off_t)at), 1);
        assert_true(reopen(f) < 0);
        char want[700];
        snprintf(want, sizeof want, "corrupt record in %s at offset %zu: ", seg, rec5);
        assert_non_null(strstr(f->err, want));
        c ^= 0x40;
        assert_int_equal(pwrite(fd, &c, 1, (off_t)at), 1);
        close(fd);
    }
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 9);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_flush_reopen_replays_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unflushed_records_are_not_recovered, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_segments_roll_and_sort_by_first_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_record_larger_than_a_segment_gets_its_own, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_append_entry_checks_contiguity_and_term, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncate_after_overwrites_a_suffix_durably, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_truncated_records_do_not_come_back_after_restart,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate_of_buffered_records_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_after_returns_disk_then_buffered_records,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails_when_the_directory_is_locked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_temporary_files_are_removed_at_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cut_at_every_byte_of_last_record_loses_only_it,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_flipped_byte_before_tail_refuses_with_file_and_offset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
