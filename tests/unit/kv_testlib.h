/* kv_testlib: a keyspace driven the way the node drives it, for the kv unit tests.
 *
 *   kvt_t t; kvt_init(&t, 42);
 *   kvt_expect(&t, "SET k v", "+OK\r\n");     // exact RESP bytes
 *   kvt_advance(&t, 1500);                     // the test's clock moves on
 *
 * Commands are written as space-separated words; '' stands for an empty argument. Reads run
 * through keyspace_execute at the test's clock; writes are encoded as records with a fresh HLC
 * stamp and applied through kv_record_apply (and each record is kept, so a test can replay the
 * same log into another keyspace). Arity and unknown commands are checked here as the node
 * does. After every command the keyspace's invariants are checked. */
#ifndef POLIS_TESTS_KV_TESTLIB_H
#define POLIS_TESTS_KV_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/mem.h"
#include "kv/keyspace.h"

#define KVT_ARGS_MAX 64
#define KVT_START_MS 1700000000000LL

typedef struct kvt {
    keyspace_t *ks;
    hlc_t clock;
    uint64_t rng;
    int64_t now_ms;
    int resp;
    buf_t out;     /* the last reply, NUL-terminated */
    buf_t log;     /* every record applied: u32 length, bytes */
    uint64_t dirty; /* of the last command */
} kvt_t;

static inline void kvt_init(kvt_t *t, uint64_t seed) {
    memset(t, 0, sizeof *t);
    t->ks = keyspace_create(seed);
    t->rng = seed;
    t->now_ms = KVT_START_MS;
    t->resp = 2;
    buf_init(&t->out);
    buf_init(&t->log);
}

static inline void kvt_free(kvt_t *t) {
    keyspace_free(t->ks);
    buf_free(&t->out);
    buf_free(&t->log);
}

static inline void kvt_advance(kvt_t *t, int64_t ms) { t->now_ms += ms; }

/* Runs argv[0..argc) and returns the reply (valid until the next command). */
static inline const char *kvt_runv(kvt_t *t, int argc, const slice_t *argv) {
    buf_clear(&t->out);
    reply_t reply = {&t->out, t->resp};
    const command_t *cmd = kv_command_lookup(argv[0].ptr, argv[0].len);
    t->dirty = 0;
    if (!cmd) {
        reply_error(&reply, "ERR unknown command");
    } else if ((cmd->arity > 0 && argc != cmd->arity) || (cmd->arity < 0 && argc < -cmd->arity)) {
        reply_error_arity(&reply, argv[0].ptr, argv[0].len);
    } else if (cmd->flags & CMD_WRITE) {
        buf_t record;
        buf_init(&record);
        kv_record_encode(&record, hlc_tick(&t->clock, t->now_ms), t->now_ms, argc, argv);
        uint32_t n = (uint32_t)record.len;
        buf_append(&t->log, &n, sizeof n);
        buf_append(&t->log, record.data, record.len);
        assert_int_equal(kv_record_apply(t->ks, &t->clock, &t->rng, record.data, record.len,
                                         &reply, &t->dirty),
                         0);
        buf_free(&record);
    } else {
        exec_ctx_t ctx = {.ks = t->ks, .reply = &reply, .argc = argc, .argv = argv,
                          .now_ms = t->now_ms, .clock = &t->clock, .rng = &t->rng};
        keyspace_execute(cmd, &ctx);
        t->dirty = ctx.dirty;
    }
    assert_int_equal(keyspace_check(t->ks), 0);
    buf_append(&t->out, "", 1);
    t->out.len--;
    return t->out.data;
}

/* Splits line on spaces ('' is an empty argument) and runs it. */
static inline const char *kvt_run(kvt_t *t, const char *line) {
    static char copy[4096];
    slice_t argv[KVT_ARGS_MAX];
    int argc = 0;
    size_t n = strlen(line);
    assert_true(n < sizeof copy);
    memcpy(copy, line, n + 1);
    char *save = NULL;
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        assert_true(argc < KVT_ARGS_MAX);
        argv[argc++] = strcmp(w, "''") == 0 ? (slice_t){"", 0} : (slice_t){w, strlen(w)};
    }
    return kvt_runv(t, argc, argv);
}

#define kvt_expect(t, line, want) assert_string_equal(kvt_run((t), (line)), (want))

/* Runs a printf-formatted command line. */
static inline const char *kvt_runf(kvt_t *t, const char *fmt, ...) {
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return kvt_run(t, line);
}

/* The integer of an integer reply (fails the test for any other reply). */
static inline long long kvt_int(kvt_t *t, const char *line) {
    const char *r = kvt_run(t, line);
    assert_true(r[0] == ':');
    return strtoll(r + 1, NULL, 10);
}

/* Applies every record of src's log to dst (which must have started empty). */
static inline void kvt_replay(const kvt_t *src, kvt_t *dst) {
    size_t at = 0;
    while (at < src->log.len) {
        uint32_t n;
        memcpy(&n, src->log.data + at, sizeof n);
        at += sizeof n;
        assert_int_equal(kv_record_apply(dst->ks, &dst->clock, &dst->rng, src->log.data + at, n,
                                         NULL, NULL),
                         0);
        at += n;
    }
    assert_int_equal(keyspace_check(dst->ks), 0);
}

/* ---- snapshots into memory ---- */

typedef struct kvt_stream {
    buf_t data;
    size_t read_at;
    size_t fail_after; /* writer: fail once this many bytes were written (0: never) */
} kvt_stream_t;

static inline int kvt_stream_write(void *ctx, const void *p, size_t n) {
    kvt_stream_t *s = ctx;
    if (s->fail_after && s->data.len + n > s->fail_after) {
        return -5;
    }
    buf_append(&s->data, p, n);
    return 0;
}

static inline int kvt_stream_read(void *ctx, void *p, size_t n) {
    kvt_stream_t *s = ctx;
    if (s->data.len - s->read_at < n) {
        return -5;
    }
    memcpy(p, s->data.data + s->read_at, n);
    s->read_at += n;
    return 0;
}

/* Dumps t's keyspace into a stream. */
static inline void kvt_dump(const kvt_t *t, kvt_stream_t *s) {
    memset(s, 0, sizeof *s);
    buf_init(&s->data);
    assert_int_equal(keyspace_dump(t->ks, kvt_stream_write, s), 0);
}

#endif
