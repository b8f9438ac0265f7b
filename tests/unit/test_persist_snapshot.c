/* Tests of persist's snapshots, hard state and failed state (src/storage): SAVE and BGSAVE with
 * covered segments removed, recovery = snapshot + later records, a damaged snapshot ignored,
 * installing a snapshot received as bytes (log kept or discarded by Raft's rule), hard state
 * atomic across a torn slot, and a failing fsync or a full disk entering the failed state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "core/timeutil.h"
#include "persist_testlib.h"

typedef struct fixture {
    char dir[64];
    sm_t *sm;
    persist_t *p;
    persist_options_t opt;
    fault_t fault;
    char err[512];
} fixture_t;

static int setup(void **state) {
    fixture_t *f = calloc(1, sizeof *f);
    tdir_make(f->dir, sizeof f->dir);
    f->sm = calloc(1, sizeof *f->sm);
    fault_init(&f->fault);
    f->opt = (persist_options_t){.dir = f->dir, .fsync = FSYNC_ALWAYS, .segment_bytes = 4096,
                                 .io = &f->fault.io};
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

static int reopen(fixture_t *f) {
    persist_close(f->p);
    f->p = NULL;
    sm_clear(f->sm);
    f->sm->loaded_snapshot = 0;
    persist_hooks_t hooks = sm_hooks(f->sm);
    f->err[0] = '\0';
    return persist_open(&f->opt, &hooks, &f->p, f->err, sizeof f->err);
}

/* Appends, flushes and applies records from..to (as a node does). */
static void write_n(fixture_t *f, int from, int to) {
    for (int i = from; i <= to; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "value-%d", i);
        assert_int_equal(persist_append(f->p, RECORD_KV, v, (size_t)n), (uint64_t)i);
    }
    assert_int_equal(persist_flush(f->p), 0);
    for (int i = from; i <= to; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "value-%d", i);
        sm_apply(f->sm, 1, (uint64_t)i, RECORD_KV, v, (size_t)n);
    }
}

static void assert_sm_values(fixture_t *f, int from, int to) {
    assert_int_equal(f->sm->count, (uint64_t)(to - from + 1));
    for (int i = from; i <= to; i++) {
        char v[32];
        snprintf(v, sizeof v, "value-%d", i);
        assert_string_equal(f->sm->data[i - from], v);
    }
}

static int count_from(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                      size_t len) {
    uint64_t *next = arg;
    assert_int_equal(index, *next);
    *next = index + 1;
    return 0;
}

static void test_snapshot_now_removes_covered_segments_and_recovers(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 300);
    persist_status_t st;
    persist_get_status(f->p, &st);
    uint64_t segments_before = st.segment_count;
    assert_int_equal(persist_snapshot_now(f->p), 0);
    persist_get_status(f->p, &st);
    assert_int_equal(st.snapshot_index, 300);
    assert_int_equal(st.log_bytes, 0);
    assert_true(st.segment_count < segments_before);
    assert_int_equal(count_files(f->dir, "snap-", ".snap"), 1);
    write_n(f, 301, 310);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(f->sm->loaded_snapshot, 1);
    assert_sm_values(f, 1, 310);
    persist_get_status(f->p, &st);
    assert_int_equal(st.records_recovered, 10);
    /* A second snapshot replaces the first. */
    assert_int_equal(persist_snapshot_now(f->p), 0);
    assert_int_equal(count_files(f->dir, "snap-", ".snap"), 1);
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 310);
}

static void test_snapshot_refuses_unflushed_records(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 3);
    assert_int_equal(persist_append(f->p, RECORD_KV, "x", 1), 4);
    assert_int_equal(persist_snapshot_now(f->p), -EAGAIN);
}

static void wait_snapshot(fixture_t *f) {
    persist_status_t st;
    for (int i = 0; i < 500; i++) {
        persist_poll(f->p, time_mono_ms());
        persist_get_status(f->p, &st);
        if (!st.snapshot_in_progress) {
            return;
        }
        usleep(10000);
    }
    fail_msg("snapshot child did not finish");
}

static void test_background_snapshot_in_child_then_recovery(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 200);
    assert_int_equal(persist_snapshot_background(f->p), 0);
    assert_int_equal(persist_snapshot_background(f->p), -EBUSY);
    write_n(f, 201, 220); /* the parent goes on while the child writes */
    wait_snapshot(f);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.snapshot_index, 200);
    assert_int_equal(st.last_snapshot_ok, 1);
    assert_int_equal(st.snapshot_count, 1);
    assert_true(st.last_save_unix > 0);
    assert_int_equal(reopen(f), 0);
    assert_int_equal(f->sm->loaded_snapshot, 1);
    assert_sm_values(f, 1, 220);
}

static void test_automatic_snapshot_past_log_size(void **state) {
    fixture_t *f = *state;
    f->opt.snapshot_log_bytes = 2000;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 100);
    persist_poll(f->p, time_mono_ms());
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.snapshot_in_progress, 1);
    wait_snapshot(f);
    persist_get_status(f->p, &st);
    assert_int_equal(st.snapshot_index, 100);
    assert_true(st.log_bytes < 2000);
}

static void damage_snapshot(fixture_t *f, const char *name) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    int fd = open(path, O_RDWR);
    assert_int_equal(pwrite(fd, "\x7f", 1, 60), 1);
    close(fd);
}

static void test_damaged_snapshot_is_ignored_when_the_log_still_covers(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 50); /* one segment: the active one is never removed */
    assert_int_equal(persist_snapshot_now(f->p), 0);
    write_n(f, 51, 60);
    persist_close(f->p);
    f->p = NULL;
    damage_snapshot(f, "snap-00000000000000000050.snap");
    assert_int_equal(reopen(f), 0);
    assert_int_equal(f->sm->loaded_snapshot, 0);
    assert_sm_values(f, 1, 60);
}

static void test_damaged_snapshot_without_its_log_refuses_to_start(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 300);
    assert_int_equal(persist_snapshot_now(f->p), 0);
    write_n(f, 301, 310);
    persist_close(f->p);
    f->p = NULL;
    damage_snapshot(f, "snap-00000000000000000300.snap");
    assert_true(reopen(f) < 0);
    assert_non_null(strstr(f->err, "records are missing"));
}

static void test_install_snapshot_bytes_from_a_leader(void **state) {
    fixture_t *f = *state;
    /* The leader: its own directory, 100 records, a snapshot with membership metadata. */
    char leader_dir[64];
    tdir_make(leader_dir, sizeof leader_dir);
    sm_t *leader_sm = calloc(1, sizeof *leader_sm);
    persist_hooks_t lh = sm_hooks(leader_sm);
    persist_options_t lo = {.dir = leader_dir, .fsync = FSYNC_ALWAYS, .segment_bytes = 4096};
    persist_t *leader = NULL;
    assert_int_equal(persist_open(&lo, &lh, &leader, f->err, sizeof f->err), 0);
    for (int i = 1; i <= 100; i++) {
        char v[32];
        int n = snprintf(v, sizeof v, "value-%d", i);
        assert_int_equal(persist_append_entry(leader, 3, (uint64_t)i, RECORD_KV, v, (size_t)n), 0);
        sm_apply(leader_sm, 3, (uint64_t)i, RECORD_KV, v, (size_t)n);
    }
    assert_int_equal(persist_flush(leader), 0);
    persist_snapshot_point_t at = {100, 3, "members:1,2,3", 13};
    assert_int_equal(persist_snapshot_now_at(leader, &at), 0);
    int sfd;
    uint64_t size;
    assert_int_equal(persist_snapshot_open(leader, &sfd, &size), 0);
    /* The follower: a divergent log (term 2) up to 120. */
    assert_int_equal(reopen(f), 0);
    for (int i = 1; i <= 120; i++) {
        assert_int_equal(persist_append_entry(f->p, 2, (uint64_t)i, RECORD_KV, "stale", 5), 0);
    }
    assert_int_equal(persist_flush(f->p), 0);
    persist_install_t *in;
    assert_int_equal(persist_install_begin(f->p, &in), 0);
    char chunk[777];
    for (uint64_t off = 0; off < size; off += sizeof chunk) {
        size_t n = size - off < sizeof chunk ? (size_t)(size - off) : sizeof chunk;
        assert_int_equal(pread(sfd, chunk, n, (off_t)off), (ssize_t)n);
        assert_int_equal(persist_install_write(in, chunk, n), 0);
    }
    close(sfd);
    persist_snapshot_point_t got;
    assert_int_equal(persist_install_finish(in, &got), 0);
    assert_int_equal(got.index, 100);
    assert_int_equal(got.term, 3);
    assert_memory_equal(got.meta, "members:1,2,3", 13);
    assert_sm_values(f, 1, 100); /* loaded through the hook */
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.last_index, 100); /* the conflicting log was discarded */
    assert_int_equal(persist_append_entry(f->p, 3, 101, RECORD_KV, "value-101", 9), 0);
    assert_int_equal(persist_flush(f->p), 0);
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 101);
    persist_snapshot_get(f->p, &got);
    assert_memory_equal(got.meta, "members:1,2,3", 13);
    /* A damaged transfer is rejected and changes nothing. */
    assert_int_equal(persist_install_begin(f->p, &in), 0);
    assert_int_equal(persist_install_write(in, "garbage", 7), 0);
    assert_int_equal(persist_install_finish(in, NULL), -EINVAL);
    assert_int_equal(count_files(f->dir, "install", ".tmp"), 0);
    persist_close(leader);
    sm_clear(leader_sm);
    free(leader_sm);
    tdir_remove(leader_dir);
}

/* The bytes of a snapshot at (n, term) made by a leader in its own directory. */
static char *leader_snapshot(uint64_t term, int n, uint64_t *size) {
    char dir[64];
    tdir_make(dir, sizeof dir);
    sm_t *sm = calloc(1, sizeof *sm);
    persist_hooks_t hooks = sm_hooks(sm);
    persist_options_t o = {.dir = dir, .fsync = FSYNC_NO};
    persist_t *leader = NULL;
    char err[256];
    assert_int_equal(persist_open(&o, &hooks, &leader, err, sizeof err), 0);
    for (int i = 1; i <= n; i++) {
        char v[32];
        int len = snprintf(v, sizeof v, "value-%d", i);
        assert_int_equal(persist_append_entry(leader, term, (uint64_t)i, RECORD_KV, v,
                                              (size_t)len), 0);
        sm_apply(sm, term, (uint64_t)i, RECORD_KV, v, (size_t)len);
    }
    assert_int_equal(persist_flush(leader), 0);
    persist_snapshot_point_t at = {(uint64_t)n, term, NULL, 0};
    assert_int_equal(persist_snapshot_now_at(leader, &at), 0);
    int fd;
    assert_int_equal(persist_snapshot_open(leader, &fd, size), 0);
    char *bytes = malloc(*size);
    assert_int_equal(pread(fd, bytes, *size, 0), (ssize_t)*size);
    close(fd);
    persist_close(leader);
    sm_clear(sm);
    free(sm);
    tdir_remove(dir);
    return bytes;
}

static int install_bytes(fixture_t *f, const char *bytes, uint64_t size) {
    persist_install_t *in;
    assert_int_equal(persist_install_begin(f->p, &in), 0);
    assert_int_equal(persist_install_write(in, bytes, size), 0);
    return persist_install_finish(in, NULL);
}

static void test_install_keeps_log_that_agrees_with_the_snapshot(void **state) {
    fixture_t *f = *state;
    uint64_t size;
    char *bytes = leader_snapshot(1, 200, &size);
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 250); /* the same term-1 records, and 50 more */
    assert_int_equal(install_bytes(f, bytes, size), 0);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.snapshot_index, 200);
    assert_int_equal(st.last_index, 250); /* the records after the snapshot were kept */
    assert_true(st.first_index <= 201);
    uint64_t next = 201;
    assert_int_equal(persist_read_after(f->p, 200, count_from, &next), 0);
    assert_int_equal(next, 251);
    assert_int_equal(reopen(f), 0);
    assert_sm_values(f, 1, 250);
    /* The same snapshot again is not newer: refused as stale. */
    assert_int_equal(install_bytes(f, bytes, size), -ESTALE);
    free(bytes);
    persist_install_abort(NULL);
}

static void test_hard_state_is_durable_and_atomic(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    persist_hard_state_t hs;
    persist_hard_state_get(f->p, &hs);
    assert_int_equal(hs.term, 0);
    for (uint64_t t = 1; t <= 5; t++) {
        persist_hard_state_t w = {t, t % 3, t * 10};
        assert_int_equal(persist_hard_state_save(f->p, &w), 0);
    }
    assert_int_equal(reopen(f), 0);
    persist_hard_state_get(f->p, &hs);
    assert_int_equal(hs.term, 5);
    assert_int_equal(hs.voted_for, 2);
    assert_int_equal(hs.commit, 50);
    /* The single-node form appends in the hard state's term. */
    assert_int_equal(persist_append(f->p, RECORD_KV, "x", 1), 1);
    uint64_t term;
    assert_int_equal(persist_term_at(f->p, 1, &term), 0);
    assert_int_equal(term, 5);
    /* A torn write of the newest slot leaves the previous state. */
    persist_close(f->p);
    f->p = NULL;
    char path[600];
    snprintf(path, sizeof path, "%s/hardstate", f->dir);
    int fd = open(path, O_RDWR);
    /* Saves 2..5 alternate slots by sequence parity: the newest (5) is in slot 1. */
    assert_int_equal(pwrite(fd, "\xff", 1, 512 + 20), 1);
    close(fd);
    assert_int_equal(reopen(f), 0);
    persist_hard_state_get(f->p, &hs);
    assert_int_equal(hs.term, 4);
    /* Both slots damaged: refuse to start. */
    persist_close(f->p);
    f->p = NULL;
    fd = open(path, O_RDWR);
    assert_int_equal(pwrite(fd, "\xff", 1, 20), 1);
    assert_int_equal(pwrite(fd, "\xff", 1, 512 + 20), 1);
    close(fd);
    assert_true(reopen(f) < 0);
    assert_non_null(strstr(f->err, "corrupt hard state"));
}

static void test_failed_fsync_enters_failed_state_and_is_never_retried(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 10);
    f->fault.syncs_left = 0;
    assert_int_equal(persist_append(f->p, RECORD_KV, "value-11", 8), 11);
    assert_int_equal(persist_flush(f->p), -EIO);
    const char *why = persist_failure(f->p);
    assert_non_null(why);
    assert_non_null(strstr(why, "fdatasync"));
    assert_non_null(strstr(why, "Input/output error"));
    /* Everything later is refused, even once the disk would work again, and nothing is
     * written or synced again (no retry that could report lost pages as durable). */
    f->fault.syncs_left = -1;
    size_t calls = f->fault.trace_len;
    assert_int_equal(persist_append(f->p, RECORD_KV, "value-12", 8), 0);
    assert_int_equal(persist_append_entry(f->p, 1, 12, RECORD_KV, "x", 1), -EIO);
    assert_int_equal(persist_flush(f->p), -EIO);
    persist_hard_state_t hs = {1, 1, 1};
    assert_int_equal(persist_hard_state_save(f->p, &hs), -EIO);
    assert_int_equal(persist_snapshot_now(f->p), -EIO);
    persist_poll(f->p, time_mono_ms() + 10000);
    assert_int_equal(f->fault.trace_len, calls);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.durable_index, 10);
    assert_ptr_equal(st.failure, why);
    /* A restart re-reads what is on disk and works again. */
    assert_int_equal(reopen(f), 0);
    assert_null(persist_failure(f->p));
    assert_true(f->sm->count >= 10);
}

static void test_full_disk_enters_failed_state_with_enospc(void **state) {
    fixture_t *f = *state;
    f->fault.no_fallocate = 1;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 5);
    f->fault.write_room = 100; /* a short write, then ENOSPC */
    for (int i = 6; i <= 60; i++) {
        assert_int_equal(persist_append(f->p, RECORD_KV, "0123456789", 10), (uint64_t)i);
    }
    assert_int_equal(persist_flush(f->p), -ENOSPC);
    assert_non_null(strstr(persist_failure(f->p), "No space left on device"));
    assert_non_null(strstr(persist_failure(f->p), "write to"));
    f->fault.write_room = -1;
    assert_int_equal(reopen(f), 0);
    /* The acknowledged five are there; whole records of the failed batch may be too. */
    assert_true(f->sm->count >= 5);
    for (int i = 0; i < 5; i++) {
        char v[32];
        snprintf(v, sizeof v, "value-%d", i + 1);
        assert_string_equal(f->sm->data[i], v);
    }
}

static void test_files_are_synced_before_rename_and_directory_after(void **state) {
    fixture_t *f = *state;
    assert_int_equal(reopen(f), 0);
    /* A new segment: preallocated, header written, synced, renamed, directory fsynced. */
    f->fault.trace_len = 0;
    write_n(f, 1, 300); /* rolls several segments */
    assert_non_null(strstr(f->fault.trace, "sfwsrS")); /* the old segment synced first */
    assert_null(strstr(f->fault.trace, "rw")); /* nothing written between rename and dir sync */
    /* A snapshot: written, synced, renamed, directory fsynced; then old files removed. */
    f->fault.trace_len = 0;
    f->fault.trace[0] = '\0';
    assert_int_equal(persist_snapshot_now(f->p), 0);
    const char *t = f->fault.trace;
    const char *rename = strchr(t, 'r');
    assert_non_null(rename);
    assert_true(rename > t && rename[-1] == 's');
    assert_int_equal(rename[1], 'S');
    /* A truncation: cut, preallocated again and fsynced before anything else. */
    write_n(f, 301, 310);
    f->fault.trace_len = 0;
    assert_int_equal(persist_truncate_after(f->p, 305), 0);
    assert_string_equal(f->fault.trace, "tfS");
}

static void test_everysec_syncs_from_poll(void **state) {
    fixture_t *f = *state;
    f->opt.fsync = FSYNC_EVERYSEC;
    assert_int_equal(reopen(f), 0);
    write_n(f, 1, 5);
    persist_status_t st;
    persist_get_status(f->p, &st);
    assert_int_equal(st.durable_index, 0);
    persist_poll(f->p, time_mono_ms() + 1500);
    persist_get_status(f->p, &st);
    assert_int_equal(st.durable_index, 5);
}

int main(void) {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_snapshot_now_removes_covered_segments_and_recovers),
        T(test_snapshot_refuses_unflushed_records),
        T(test_background_snapshot_in_child_then_recovery),
        T(test_automatic_snapshot_past_log_size),
        T(test_damaged_snapshot_is_ignored_when_the_log_still_covers),
        T(test_damaged_snapshot_without_its_log_refuses_to_start),
        T(test_install_snapshot_bytes_from_a_leader),
        T(test_install_keeps_log_that_agrees_with_the_snapshot),
        T(test_hard_state_is_durable_and_atomic),
        T(test_failed_fsync_enters_failed_state_and_is_never_retried),
        T(test_full_disk_enters_failed_state_with_enospc),
        T(test_files_are_synced_before_rename_and_directory_after),
        T(test_everysec_syncs_from_poll),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
