/* durable: the write path's second half — the data group behind the keyspace (its Raft log is
 * the write-ahead log; a single node is a group of one), applying committed entries with the
 * replies they produce, the outcome of every proposal, and the before-sleep hook that orders
 * commit before replies. Design: docs/ARCHITECTURE.md, "Data node" and "Replication". */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

#define BATCH_KEEP (256 * 1024)       /* the batch buffer is given back above this */
#define BATCH_BYTES_MAX (1024 * 1024) /* a batch is proposed before it grows past this */

static const char err_not_applied[] =
    "NOTAPPLIED The write was not applied: leadership changed before it committed";
static const char err_internal[] = "ERR internal error: the write could not be applied";
static const char err_unknown[] =
    "UNKNOWN The write's outcome is unknown: leadership changed and whether it committed was "
    "not learned in time; it may or may not have been applied";

/* ---- the state machine behind the group ---- */

static int sm_load(void *ctx, io_read_fn *read, void *read_ctx) {
    server_t *s = ctx;
    stamp_t max_stamp = 0;
    int rc = keyspace_load(s->ks, read, read_ctx, &max_stamp);
    hlc_observe(&s->clock, max_stamp);
    return rc;
}

static int sm_dump(void *ctx, io_write_fn *write, void *write_ctx) {
    server_t *s = ctx;
    return keyspace_dump(s->ks, write, write_ctx);
}

static void sm_clear(void *ctx) {
    server_t *s = ctx;
    keyspace_clear(s->ks);
}

/* ---- proposals waiting for their fate, in index order ---- */

static pending_write_t *pending_at(server_t *s, size_t i) {
    assert(i < s->pending_len);
    return &s->pending[s->pending_head + i];
}

/* Queues a proposal at (index, term, sub) in index order. */
static void pending_insert(server_t *s, client_t *c, uint64_t index, uint64_t term, uint32_t sub,
                           int kind) {
    if (s->pending_head + s->pending_len == s->pending_cap) {
        if (s->pending_head > 0) {
            memmove(s->pending, s->pending + s->pending_head, s->pending_len * sizeof *s->pending);
            s->pending_head = 0;
        } else {
            s->pending_cap = s->pending_cap ? s->pending_cap * 2 : 256;
            s->pending = mem_realloc(s->pending, s->pending_cap * sizeof *s->pending);
        }
    }
    /* Usually the last; after leadership changed, a new term's index may be lower than an
     * older term's proposals still waiting for their fate. */
    size_t pos = s->pending_len;
    while (pos > 0 && pending_at(s, pos - 1)->index > index) {
        pos--;
    }
    pending_write_t *base = s->pending + s->pending_head;
    memmove(base + pos + 1, base + pos, (s->pending_len - pos) * sizeof *base);
    base[pos] = (pending_write_t){index, term, c, sub, kind};
    s->pending_len++;
    if (c) {
        c->last_write_index = index;
    }
}

/* c has one more write whose reply comes later, proposed in term. */
static void pending_count(client_t *c, uint64_t term) {
    if (c) {
        c->pending_writes++;
        c->pending_term = term;
        c->reply_deferred = 1;
    }
}

void pending_add(server_t *s, client_t *c, uint64_t index, uint64_t term, int kind) {
    pending_count(c, term);
    pending_insert(s, c, index, term, 0, kind);
}

static void pending_remove(server_t *s, size_t i) {
    pending_write_t *base = s->pending + s->pending_head;
    if (i == 0) {
        s->pending_head++;
    } else {
        memmove(base + i, base + i + 1, (s->pending_len - i - 1) * sizeof *base);
    }
    if (--s->pending_len == 0) {
        s->pending_head = 0;
    }
}

/* A proposal's reply was written (or nobody waits for it). */
static void pending_done(client_t *c) {
    if (c) {
        assert(c->pending_writes > 0);
        c->pending_writes--;
        client_reply_done(c);
    }
}

static void pending_answer(client_t *c, const char *error) {
    if (c) {
        reply_t r = client_reply(c);
        reply_error(&r, error);
        pending_done(c);
    }
}

/* ---- this turn's writes, one entry ---- */

void batch_add(server_t *s, client_t *c, stamp_t stamp, int64_t now_ms, int argc,
               const slice_t *argv) {
    /* A record that would take the batch past its bound starts the next one (alone, a large
     * record is logged bare, within the entry limit record_fits checked). */
    size_t room = KV_BATCH_RECORD_BYTES(kv_record_size(argc, argv));
    if (kv_batch_count(&s->batch) > 0 && s->batch.len + room > BATCH_BYTES_MAX) {
        batch_propose(s);
    }
    uint32_t n = kv_batch_count(&s->batch);
    if (n == 0) {
        kv_batch_reset(&s->batch);
    }
    if (n == s->batched_cap) {
        s->batched_cap = s->batched_cap ? s->batched_cap * 2 : 64;
        s->batched = mem_realloc(s->batched, s->batched_cap * sizeof *s->batched);
    }
    s->batched[n] = c;
    kv_batch_add(&s->batch, stamp, now_ms, argc, argv);
    pending_count(c, s->term);
}

void batch_forget(server_t *s, client_t *c) {
    uint32_t n = kv_batch_count(&s->batch);
    for (uint32_t i = 0; i < n && c->pending_writes > 0; i++) {
        if (s->batched[i] == c) {
            s->batched[i] = NULL;
            c->pending_writes--;
        }
    }
}

void batch_propose(server_t *s) {
    uint32_t n = kv_batch_count(&s->batch);
    if (n == 0) {
        return;
    }
    const char *data;
    size_t len;
    kv_batch_entry(&s->batch, &data, &len);
    uint64_t index = 0, term = 0;
    int rc = s->group ? repl_group_propose(s->group, data, len, &index, &term) : -EIO;
    for (uint32_t i = 0; i < n; i++) {
        client_t *c = s->batched[i];
        if (rc == 0) {
            pending_insert(s, c, index, term, i, PENDING_WRITE);
        } else if (c) {
            /* Leadership moved since the write was taken (a message stepped in between). */
            reply_t r = client_reply(c);
            if (rc == RAFT_ENOTLEADER || rc == RAFT_ETRANSFER) {
                reply_error(&r, err_not_applied);
            } else {
                reply_propose_error(s, &r, rc);
            }
            pending_done(c);
        }
    }
    buf_clear(&s->batch);
    if (s->batch.cap > BATCH_KEEP) {
        buf_free(&s->batch);
    }
}

int server_transfer(server_t *s, uint64_t target) {
    batch_propose(s);
    return repl_group_transfer(s->group, target);
}

/* Settles the proposals up to record `sub` of entry e, in (index, sub) order: the one at e's
 * index and term with that sub succeeded (its client is returned, NULL if nobody waits);
 * another term at e's index was lost; a lower index was covered by a snapshot this node
 * installed, so its fate is unknown here. sub UINT32_MAX settles everything up to e. */
static client_t *take_pending(server_t *s, const raft_entry_t *e, uint32_t sub) {
    while (s->pending_len > 0 && pending_at(s, 0)->index <= e->index) {
        pending_write_t p = *pending_at(s, 0);
        bool mine = p.index == e->index && p.term == e->term;
        if (mine && p.sub > sub) {
            break; /* a later record's */
        }
        pending_remove(s, 0);
        if (mine && p.sub == sub) {
            return p.client;
        }
        const char *fate = p.index < e->index ? err_unknown : err_not_applied;
        pending_answer(p.client, mine ? err_internal : fate);
    }
    return NULL;
}

static void apply_record(server_t *s, const raft_entry_t *e, uint32_t sub, const char *data,
                         size_t len) {
    client_t *c = take_pending(s, e, sub);
    reply_t none = {NULL, 2};
    reply_t r = c ? client_reply(c) : none;
    s->stats.commit_records++; /* the keyspace's records (no-ops and conf entries aside) */
    uint64_t dirty = 0;
    int rc = kv_record_apply(s->ks, &s->clock, &s->rng, data, len, &r, &dirty);
    if (rc < 0) {
        /* Every record was encoded from a checked command: a bug, or a newer version. */
        log_warning("server", "record %u of log entry %llu did not apply (%d)", sub,
                    (unsigned long long)e->index, rc);
        reply_error(&r, err_internal);
    }
    s->stats.dirty += dirty;
    pending_done(c);
}

/* A batch is applied with the keyspace lookups of later records already under way: the table
 * bucket of the record PREFETCH_FAR ahead, and the entry of the one PREFETCH_NEAR ahead (its
 * bucket was started earlier), so the records' memory loads overlap. */
#define PREFETCH_FAR 8
#define PREFETCH_NEAR 4

static void prefetch_next(server_t *s, kv_batch_iter_t *ahead, bool chain) {
    const char *data;
    size_t len;
    if (kv_batch_next(ahead, &data, &len) > 0) {
        kv_record_prefetch(s->ks, data, len, chain);
    }
}

static void sm_apply(void *ctx, const raft_entry_t *e) {
    server_t *s = ctx;
    if (e->type == RAFT_ENTRY_CONF || e->len == 0) {
        client_t *c = take_pending(s, e, 0); /* clients never propose empty entries */
        if (c) {
            reply_t r = client_reply(c);
            reply_ok(&r);
            pending_done(c);
        }
    } else {
        kv_batch_iter_t it;
        const char *data;
        size_t len;
        int rc = kv_batch_open(&it, e->data, e->len); /* refused: it holds nothing */
        kv_batch_iter_t far = it, near = it;
        for (int k = 0; k < PREFETCH_FAR; k++) {
            prefetch_next(s, &far, false);
        }
        for (int k = 0; k < PREFETCH_NEAR; k++) {
            prefetch_next(s, &near, true);
        }
        int next;
        for (uint32_t sub = 0; (next = kv_batch_next(&it, &data, &len)) > 0; sub++) {
            prefetch_next(s, &far, false);
            prefetch_next(s, &near, true);
            apply_record(s, e, sub, data, len);
        }
        if (rc < 0 || next < 0) {
            log_warning("server", "log entry %llu is not a record batch",
                        (unsigned long long)e->index);
        }
    }
    take_pending(s, e, UINT32_MAX); /* none is left unless the entry was malformed */
}

/* Replies to committed writes leave before the leader's own disk write of new entries, when
 * the commit runs from the before-sleep hook (not from inside a command: eviction commits). */
static void sm_flush(void *ctx) {
    server_t *s = ctx;
    if (s->flush_in_commit) {
        clients_flush(s);
    }
}

/* ---- opening ---- */

int durable_open(server_t *s, char *err, size_t err_size) {
    if (!s->config.persistence) {
        return 0;
    }
    repl_group_options_t o = {
        .loop = &s->loop,
        .group_id = 0,
        .id = s->node_id,
        .founders = s->founders,
        .founders_count = s->founders_count,
        .peers = s->static_peers,
        .peers_count = s->static_peer_count,
        .dir = s->config.dir,
        .fsync = (enum fsync_policy)s->config.fsync,
        .segment_bytes = (uint64_t)s->config.wal_segment_size,
        .snapshot_log_bytes = (uint64_t)s->config.snapshot_log_size,
        .async_commit = s->config.replication == REPLICATION_ASYNC,
        .seed = s->rng ^ s->node_id,
        .bus = s->bus,
        .sm = {s, sm_load, sm_dump, sm_clear, sm_apply, replica_read_ready, replica_role_changed,
               sm_flush},
    };
    s->term_since_ms = time_mono_ms();
    return repl_group_open(&o, &s->group, err, err_size);
}

void durable_close(server_t *s) {
    repl_group_close(s->group);
    s->group = NULL;
}

persist_t *server_persist(const server_t *s) {
    return s->group ? repl_group_persist(s->group) : NULL;
}

const char *server_write_failure(const server_t *s) {
    if (!s->group) {
        return NULL;
    }
    persist_t *p = server_persist(s);
    const char *why = p ? persist_failure(p) : NULL;
    return why ? why : repl_group_failure(s->group);
}

void reply_misconf(server_t *s, reply_t *r) {
    const char *why = server_write_failure(s);
    reply_errorf(r, "MISCONF Errors writing to the write-ahead log: %s",
                 why ? why : "the log refused the write");
}

void reply_propose_error(server_t *s, reply_t *r, int rc) {
    if (rc == -EMSGSIZE) {
        reply_error(r, "ERR the write is larger than the largest log entry a replica can "
                       "receive (8 MB)");
    } else if (rc == -ENOBUFS) {
        reply_error(r, "TRYAGAIN Too many writes are waiting to commit; the command was not "
                       "executed");
    } else {
        reply_misconf(s, r);
    }
}

/* The log failed: nothing pending will be applied here (the node stops serving the group). */
static void fail_pending(server_t *s) {
    log_warning("server", "write-ahead log failed, refusing writes: %s",
                server_write_failure(s) ? server_write_failure(s) : "unknown");
    while (s->pending_len > 0) {
        client_t *c = pending_at(s, 0)->client;
        pending_remove(s, 0);
        if (c) {
            reply_t r = client_reply(c);
            reply_misconf(s, &r);
            pending_done(c);
        }
    }
}

void server_commit(server_t *s) {
    if (!s->group || s->in_commit) {
        return;
    }
    s->in_commit = 1;
    batch_propose(s);
    uint64_t applied_before = s->stats.commit_records;
    repl_group_process(s->group);
    uint64_t applied = s->stats.commit_records - applied_before;
    if (applied > 0) {
        s->stats.commits++;
        if (applied > s->stats.commit_max_batch) {
            s->stats.commit_max_batch = applied;
        }
    }
    if (s->pending_len > 0 && server_write_failure(s)) {
        fail_pending(s);
    }
    s->in_commit = 0;
}

void durable_cron(server_t *s, int64_t now_ms) {
    if (s->pending_len == 0 || now_ms - s->term_since_ms < FATE_WAIT_MS) {
        return;
    }
    /* Proposals of an older term, or of this term once this node no longer leads it, can only
     * learn their fate from what a leader commits; past the bound the client is told so. */
    for (size_t i = 0; i < s->pending_len;) {
        pending_write_t *p = pending_at(s, i);
        if (p->term < s->term || s->role != RAFT_LEADER) {
            client_t *c = p->client;
            pending_remove(s, i);
            pending_answer(c, err_unknown);
        } else {
            i++;
        }
    }
}

/* ---- the before-sleep hook ---- */

/* Runs the commands that waited (for their clients' own writes, a leader, a read point). A
 * client closed meanwhile clears its own slot; an eviction's commit may append more clients,
 * which run too. */
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
    s->flush_in_commit = 1;
    for (int round = 0; round < COMMIT_ROUNDS_MAX; round++) {
        server_commit(s);
        if (s->resume.len == 0) {
            break;
        }
        resume_waiting(s);
    }
    replica_issue_reads(s);
    server_commit(s);
    s->flush_in_commit = 0;
    replica_check_blocked(s, time_mono_ms());
    clients_flush(s);
    if (s->bus) {
        bus_flush(s->bus); /* this turn's Raft messages and forwards leave together */
    }
    clients_free_dead(s);
    /* Work left over (rounds used up, clients whose output drained in the flush, writes taken
     * after the last commit) keeps the loop from sleeping in poll until it is done. */
    if (s->resume.len > 0 || kv_batch_count(&s->batch) > 0) {
        uv_idle_start(&s->idle, idle_cb);
    } else {
        uv_idle_stop(&s->idle);
    }
}
