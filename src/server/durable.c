/* durable: the write path's second half — the log behind the keyspace, group commit, applying
 * committed records, and the before-sleep hook that orders commit before replies.
 * Design: docs/ARCHITECTURE.md, "Data node" (and "Writes are logged as commands"). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "server/node.h"

#define RECORDS_KEEP (256 * 1024) /* the record buffer is given back above this when empty */

static int hook_load_snapshot(void *arg, io_read_fn *read, void *read_ctx) {
    server_t *s = arg;
    stamp_t max_stamp = 0;
    int rc = keyspace_load(s->ks, read, read_ctx, &max_stamp);
    hlc_observe(&s->clock, max_stamp);
    return rc;
}

static int hook_apply(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                      size_t len) {
    server_t *s = arg;
    if (type != RECORD_KV) {
        log_warning("server", "log record %llu has unknown type %d", (unsigned long long)index,
                    type);
        return -EINVAL;
    }
    reply_t none = {NULL, 2};
    return kv_record_apply(s->ks, &s->clock, &s->rng, data, len, &none, NULL);
}

static int hook_dump_snapshot(void *arg, io_write_fn *write, void *write_ctx) {
    server_t *s = arg;
    return keyspace_dump(s->ks, write, write_ctx);
}

int durable_open(server_t *s, char *err, size_t err_size) {
    if (!s->config.persistence) {
        return 0;
    }
    persist_options_t options = {
        .dir = s->config.dir,
        .fsync = (enum fsync_policy)s->config.fsync,
        .segment_bytes = (uint64_t)s->config.wal_segment_size,
        .snapshot_log_bytes = (uint64_t)s->config.snapshot_log_size,
    };
    persist_hooks_t hooks = {
        .load_snapshot = hook_load_snapshot,
        .apply = hook_apply,
        .dump_snapshot = hook_dump_snapshot,
        .arg = s,
    };
    return persist_open(&options, &hooks, &s->persist, err, err_size);
}

const char *server_write_failure(const server_t *s) {
    return s->persist ? persist_failure(s->persist) : NULL;
}

void reply_misconf(server_t *s, reply_t *r) {
    const char *why = server_write_failure(s);
    reply_errorf(r, "MISCONF Errors writing to the write-ahead log: %s",
                 why ? why : "the log refused the write");
}

/* After its last pending write applied, a client whose next command waited may run it. */
static void write_done(server_t *s, client_t *c) {
    assert(c->pending_writes > 0);
    c->pending_writes--;
    client_mark_output(c);
    if (c->pending_writes == 0 && (c->flags & CLIENT_WAITING)) {
        client_vec_push(&s->resume, c, &c->resume_slot);
    }
}

static void fail_pending(server_t *s) {
    log_warning("server", "write-ahead log failed, refusing writes: %s",
                server_write_failure(s) ? server_write_failure(s) : "unknown");
    for (size_t i = 0; i < s->pending_len; i++) {
        client_t *c = s->pending[i].client;
        if (c) {
            reply_t r = client_reply(c);
            reply_misconf(s, &r);
            write_done(s, c);
        }
    }
}

static void apply_pending(server_t *s) {
    for (size_t i = 0; i < s->pending_len; i++) {
        const pending_write_t *p = &s->pending[i];
        client_t *c = p->client;
        reply_t none = {NULL, 2};
        reply_t r = c ? client_reply(c) : none;
        uint64_t dirty = 0;
        int rc = kv_record_apply(s->ks, &s->clock, &s->rng, s->records.data + p->offset, p->len, &r,
                                 &dirty);
        if (rc < 0) {
            /* Every record was encoded here from a checked command: this is a bug. */
            log_warning("server", "record %llu did not apply (%d)", (unsigned long long)p->index,
                        rc);
            reply_error(&r, "ERR internal error: the write could not be applied");
        }
        s->stats.dirty += dirty;
        if (c) {
            write_done(s, c);
        }
    }
}

void server_commit(server_t *s) {
    if (s->pending_len == 0) {
        return;
    }
    assert(s->persist);
    assert(!s->in_commit);
    s->in_commit = 1;
    if (persist_flush(s->persist) < 0) {
        fail_pending(s);
    } else {
        apply_pending(s);
        s->stats.commits++;
        s->stats.commit_records += s->pending_len;
        if (s->pending_len > s->stats.commit_max_batch) {
            s->stats.commit_max_batch = s->pending_len;
        }
    }
    s->pending_len = 0;
    s->records.len = 0;
    if (s->records.cap > RECORDS_KEEP) {
        buf_free(&s->records);
    }
    s->in_commit = 0;
}

/* Runs the commands that waited behind their clients' own writes. A client closed meanwhile
 * clears its own slot; an eviction's commit may append more clients, which run too. */
static void resume_waiting(server_t *s) {
    for (size_t i = 0; i < s->resume.len; i++) {
        client_t *c = s->resume.items[i];
        if (!c) {
            continue;
        }
        s->resume.items[i] = NULL;
        c->resume_slot = 0;
        c->flags &= ~CLIENT_WAITING;
        client_process_input(c);
    }
    s->resume.len = 0;
}

static void idle_cb(uv_idle_t *idle) {
    (void)idle;
}

void server_before_sleep(server_t *s) {
    /* Each round commits what the previous one proposed, then runs the commands that waited
     * for it; a pipeline alternating writes and reads needs one round per alternation. */
    for (int round = 0; round < COMMIT_ROUNDS_MAX; round++) {
        server_commit(s);
        if (s->resume.len == 0) {
            break;
        }
        resume_waiting(s);
    }
    server_commit(s);
    /* Work left over keeps the loop from sleeping in poll until it is done. */
    if (s->resume.len > 0) {
        uv_idle_start(&s->idle, idle_cb);
    } else {
        uv_idle_stop(&s->idle);
    }
    clients_flush(s);
}
