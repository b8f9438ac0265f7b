/* libFuzzer target: the log decoder and recovery fed arbitrary bytes.
 * The first byte picks what the rest is:
 *   0: raw bytes for the record scanner (wal_scan), whose verdict is checked for consistency;
 *   1: the body of a log segment (a valid segment header is put in front) recovered by
 *      persist_open, which must either refuse with a message or open a log that then takes
 *      an append, a flush and a reopen;
 *   2: a hard state file, then a snapshot file, each loaded or refused. */
#include <assert.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "storage/hardstate.h"
#include "storage/persist.h"
#include "storage/record.h"
#include "storage/snapshot.h"

static char fuzz_dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void put_file(const char *name, const void *data, size_t len) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || (len > 0 && write(fd, data, len) != (ssize_t)len)) {
        abort();
    }
    close(fd);
}

static int count_cb(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                    size_t len) {
    (void)term;
    (void)index;
    (void)type;
    (void)data;
    (void)len;
    (*(uint64_t *)arg)++;
    return 0;
}

static void fuzz_scan(const uint8_t *data, size_t size) {
    wal_scan_t scan = {.next_index = 1};
    uint64_t seen = 0;
    int rc = wal_scan((const char *)data, size, 0, &scan, count_cb, &seen);
    assert(rc >= WAL_SCAN_CLEAN && rc <= WAL_SCAN_CORRUPT);
    assert(scan.end <= size);
    assert(seen == scan.records);
    if (rc == WAL_SCAN_CLEAN) {
        for (size_t i = scan.end; i < size; i++) {
            assert(data[i] == 0);
        }
    }
}

static void fuzz_recover(const uint8_t *data, size_t size) {
    nftw(fuzz_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    mkdir(fuzz_dir, 0755);
    char *seg = malloc(SEGMENT_HEADER_SIZE + size);
    segment_header_encode((unsigned char *)seg, 1);
    memcpy(seg + SEGMENT_HEADER_SIZE, data, size);
    put_file("wal-00000000000000000001.log", seg, SEGMENT_HEADER_SIZE + size);
    free(seg);
    persist_options_t opt = {.dir = fuzz_dir, .fsync = FSYNC_NO, .segment_bytes = 8192};
    uint64_t applied = 0;
    persist_hooks_t hooks = {NULL, count_cb, NULL, &applied};
    persist_t *p = NULL;
    char err[512];
    if (persist_open(&opt, &hooks, &p, err, sizeof err) < 0) {
        assert(strlen(err) > 0);
        return;
    }
    persist_status_t st;
    persist_get_status(p, &st);
    assert(st.last_index == applied);
    uint64_t index = persist_append(p, RECORD_KV, "after", 5);
    assert(index == applied + 1);
    assert(persist_flush(p) == 0);
    persist_close(p);
    uint64_t again = 0;
    hooks.arg = &again;
    int rc = persist_open(&opt, &hooks, &p, err, sizeof err);
    assert(rc == 0);
    assert(again == applied + 1);
    persist_close(p);
}

static void fuzz_files(const uint8_t *data, size_t size) {
    nftw(fuzz_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    mkdir(fuzz_dir, 0755);
    if (size == 0) {
        return;
    }
    size_t split = data[0] * 4u; /* the first byte says how long the hard state file is */
    data++;
    size--;
    split = split < size ? split : size;
    put_file(HARDSTATE_FILE, data, split);
    put_file("snap-00000000000000000001.snap", data + split, size - split);
    int dir_fd = open(fuzz_dir, O_RDONLY | O_DIRECTORY);
    hardstate_file_t hs;
    char err[256];
    hardstate_load(&hs, dir_fd, fuzz_dir, err, sizeof err);
    hardstate_close(&hs);
    snapshot_info_t info;
    if (snapshot_check(dir_fd, "snap-00000000000000000001.snap", &info, err, sizeof err) == 0) {
        assert(info.body_offset + info.body_len + SNAPSHOT_TRAILER_SIZE == info.file_size);
        snapshot_info_free(&info);
    }
    close(dir_fd);
}

static void remove_fuzz_dir(void) { nftw(fuzz_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    log_set_level(LOG_WARNING);
    snprintf(fuzz_dir, sizeof fuzz_dir, "/tmp/polis-fuzz-wal-%d", (int)getpid());
    mkdir(fuzz_dir, 0755);
    atexit(remove_fuzz_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) {
        return 0;
    }
    switch (data[0] % 3) {
    case 0:
        fuzz_scan(data + 1, size - 1);
        break;
    case 1:
        fuzz_recover(data + 1, size - 1);
        break;
    default:
        fuzz_files(data + 1, size - 1);
        break;
    }
    return 0;
}
