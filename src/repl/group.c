/* group: one Raft group driven on the node's loop (see group.h): open and restore, ticks, the
 * Ready loop with persistence before send, proposals, status, and the async replica's reset.
 * Design: docs/ARCHITECTURE.md, "Replication". */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "storage/fileio.h"
#include "raft/raft_codec.h"
#include "repl/group_int.h"

#define READIES_PER_PROCESS 64 /* a bound on one process call; the rest waits for the next */
#define VOTE_FLOOR_FILE "vote-floor" /* a reset replica's vote floor until its log has entries */

/* ---- persist hooks: the state machine behind the log ---- */

static int hook_load(void *arg, io_read_fn *read, void *read_ctx) {
    repl_group_t *g = arg;
    return g->o.sm.load(g->o.sm.ctx, read, read_ctx);
}

static int hook_dump(void *arg, io_write_fn *write, void *write_ctx) {
    repl_group_t *g = arg;
    return g->o.sm.dump(g->o.sm.ctx, write, write_ctx);
}

/* The vote floor of a reset replica (raft_set_vote_floor): the term of the reset, in a file of
 * its directory written durably before the data is wiped and removed once the log holds
 * entries again, so a restart in between keeps it. The helpers run on the directory's fd. */
static int open_dir(const repl_group_t *g) {
    int dfd = open(g->o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return dfd >= 0 ? dfd : -errno;
}

static int vote_floor_save(const repl_group_t *g, uint64_t term) {
    char text[32];
    int len = snprintf(text, sizeof text, "%" PRIu64 "\n", term);
    int dfd = open_dir(g);
    if (dfd < 0) {
        return dfd;
    }
    int rc = fileio_write_atomic(storage_io_default(), dfd, VOTE_FLOOR_FILE, text, (size_t)len);
    close(dfd);
    return rc;
}

/* The saved floor, or 0 when there is none. */
static uint64_t vote_floor_load(const repl_group_t *g) {
    int dfd = open_dir(g);
    char *text = NULL;
    size_t len = 0;
    uint64_t floor = 0;
    if (dfd >= 0 && fileio_read_file(dfd, VOTE_FLOOR_FILE, 31, &text, &len) == 0) {
        char digits[32];
        memcpy(digits, text, len);
        digits[len] = '\0';
        floor = strtoull(digits, NULL, 10);
    }
    mem_free(text);
    if (dfd >= 0) {
        close(dfd);
    }
    return floor;
}

/* Once the log holds entries (on disk: no Ready is pending), the floor no longer applies. */
static void vote_floor_drop(repl_group_t *g) {
    raft_status_t st;
    raft_get_status(g->raft, &st);
    if (st.last_index == 0 || raft_has_ready(g->raft)) {
        return;
    }
    int dfd = open_dir(g);
    int rc = dfd;
    if (dfd >= 0) {
        rc = unlinkat(dfd, VOTE_FLOOR_FILE, 0) == 0 ? 0 : -errno;
        close(dfd);
    }
    if (rc < 0 && rc != -ENOENT) {
        log_warning("repl", "cannot remove %s/%s: %s", g->o.dir, VOTE_FLOOR_FILE, strerror(-rc));
        return; /* tried again after the next Ready loop */
    }
    g->vote_floor_kept = false;
}

static int persist_start(repl_group_t *g, char *err, size_t err_size) {
    persist_options_t po = {
        .dir = g->o.dir,
        .fsync = g->o.fsync,
        .segment_bytes = g->o.segment_bytes,
        .snapshot_log_bytes = 0, /* the driver decides: snapshots carry the applied index */
        .retain_entries = REPL_LOG_KEEP_ENTRIES,
    };
    persist_hooks_t hooks = {.load_snapshot = hook_load, .dump_snapshot = hook_dump, .arg = g};
    return persist_open(&po, &hooks, &g->persist, err, err_size);
}

/* ---- restore ---- */

typedef struct restore_log {
    repl_group_t *g;
    raft_entry_t *entries;
    size_t count, cap;
} restore_log_t;

static int restore_record(void *arg, uint64_t term, uint64_t index, int type, const char *data,
                          size_t len) {
    restore_log_t *rl = arg;
    if (type != REPL_RECORD_NORMAL && type != REPL_RECORD_CONF) {
        return -EBADMSG;
    }
    if (len > RAFT_ENTRY_BYTES_MAX) {
        return -EFBIG; /* a record written before replication, larger than an entry may be */
    }
    if (rl->count == rl->cap) {
        rl->cap = rl->cap ? rl->cap * 2 : 1024;
        rl->entries = mem_realloc(rl->entries, rl->cap * sizeof *rl->entries);
    }
    raft_entry_t *e = &rl->entries[rl->count++];
    *e = (raft_entry_t){.term = term,
                        .index = index,
                        .type = type == REPL_RECORD_CONF ? RAFT_ENTRY_CONF : RAFT_ENTRY_NORMAL,
                        .len = (uint32_t)len,
                        .data = NULL};
    if (len) {
        e->data = mem_alloc(len);
        memcpy(e->data, data, len);
    }
    if (e->type == RAFT_ENTRY_CONF) {
        repl_peer_learn_entry(rl->g, e);
    }
    return 0;
}

static void restore_log_free(restore_log_t *rl) {
    for (size_t i = 0; i < rl->count; i++) {
        mem_free(rl->entries[i].data);
    }
    mem_free(rl->entries);
}

static void conf_of_founders(const repl_group_t *g, raft_conf_t *conf) {
    memset(conf, 0, sizeof *conf);
    for (size_t i = 0; i < g->founders_count; i++) {
        conf->voters[conf->voters_count++] = g->founders[i];
    }
}

/* The durable snapshot's point as the core wants it (data stays in the file). */
static int snapshot_point(repl_group_t *g, raft_snapshot_t *snap, char *err, size_t err_size) {
    persist_snapshot_point_t pt;
    persist_snapshot_get(g->persist, &pt);
    memset(snap, 0, sizeof *snap);
    if (pt.index == 0) {
        return 0;
    }
    repl_member_t members[REPL_MEMBERS_MAX];
    size_t count = 0;
    int rc = repl_meta_decode(pt.meta, pt.meta_len, &snap->meta.conf, members, REPL_MEMBERS_MAX,
                              &count);
    if (rc == -ENOENT) {
        conf_of_founders(g, &snap->meta.conf); /* a single node's snapshot from before */
    } else if (rc < 0) {
        snprintf(err, err_size, "snapshot %llu in %s has unreadable metadata",
                 (unsigned long long)pt.index, g->o.dir);
        return rc;
    }
    for (size_t i = 0; i < count; i++) {
        repl_peer_learn(g, &members[i], false);
    }
    int fd = -1;
    rc = persist_snapshot_open(g->persist, &fd, &snap->len);
    if (rc < 0) {
        snprintf(err, err_size, "cannot open snapshot %llu in %s: %s",
                 (unsigned long long)pt.index, g->o.dir, strerror(-rc));
        return rc;
    }
    g->snap_fd = fd;
    g->snap_fd_index = pt.index;
    snap->meta.index = pt.index;
    snap->meta.term = pt.term;
    g->core_snap_index = pt.index;
    return 1;
}

static void raft_config_of(const repl_group_t *g, raft_config_t *cfg, bool founding) {
    raft_config_default(cfg, g->o.id);
    cfg->voters = founding ? g->founders : NULL;
    cfg->voters_count = founding ? g->founders_count : 0;
    cfg->election_ticks = REPL_ELECTION_TICKS;
    cfg->heartbeat_ticks = 1;
    cfg->seed = g->o.seed;
    cfg->snapshot_chunk_bytes = REPL_CHUNK_BYTES;
    cfg->log_keep_entries = REPL_LOG_KEEP_ENTRIES;
    cfg->log_keep_bytes = g->o.snapshot_log_bytes / REPL_LOG_KEEP_SHARE;
    cfg->async_commit = g->o.async_commit;
    cfg->snapshot_external = true;
}

static int restore(repl_group_t *g, char *err, size_t err_size) {
    raft_snapshot_t snap;
    int has_snap = snapshot_point(g, &snap, err, err_size);
    if (has_snap < 0) {
        return has_snap;
    }
    restore_log_t rl = {.g = g};
    int rc = persist_read_after(g->persist, snap.meta.index, restore_record, &rl);
    persist_hard_state_t phs;
    persist_hard_state_get(g->persist, &phs);
    raft_hard_state_t hs = {phs.term, phs.voted_for, phs.commit};
    uint64_t last = rl.count ? rl.entries[rl.count - 1].index : snap.meta.index;
    if (hs.commit > last) {
        hs.commit = last; /* the log lost unsynced records (fsync everysec/no) */
    }
    raft_config_t cfg;
    raft_config_of(g, &cfg, true);
    if (rc == 0) {
        rc = raft_create(&cfg, &g->raft);
    }
    if (rc == 0) {
        rc = raft_restore(g->raft, &hs, has_snap ? &snap : NULL, rl.entries, rl.count);
    }
    if (rc != 0) {
        snprintf(err, err_size, "cannot restore the Raft log of %s: %s", g->o.dir,
                 rc < -1000 ? raft_strerror(rc) : strerror(-rc));
    }
    restore_log_free(&rl);
    uint64_t floor = rc == 0 ? vote_floor_load(g) : 0;
    if (floor > 0) {
        raft_set_vote_floor(g->raft, floor <= hs.term ? floor : hs.term);
        g->vote_floor_kept = true;
    }
    g->saved_hs = phs;
    g->applied = snap.meta.index;
    if (has_snap) {
        g->applied_conf = snap.meta.conf;
    } else {
        conf_of_founders(g, &g->applied_conf);
    }
    return rc;
}

/* ---- ticks and elections ---- */

static void tick_cb(uv_timer_t *t) {
    repl_group_t *g = t->data;
    if (g->raft) {
        raft_tick(g->raft);
    }
}

static bool sole_voter(const raft_conf_t *conf, uint64_t id) {
    return conf->voters_count == 1 && conf->voters[0] == id;
}

/* A group whose only voter is this node elects itself now instead of after a timeout. */
static void elect_alone(repl_group_t *g) {
    raft_conf_t conf;
    repl_group_conf(g, &conf);
    if (!sole_voter(&conf, g->o.id)) {
        return;
    }
    for (int i = 0; i < 4 * REPL_ELECTION_TICKS && g->raft && g->role != RAFT_LEADER; i++) {
        raft_tick(g->raft);
        repl_group_process(g);
    }
}

int repl_group_open(const repl_group_options_t *o, repl_group_t **out, char *err,
                    size_t err_size) {
    assert(o && out);
    assert(o->id != 0 && o->founders_count <= RAFT_MEMBERS_MAX);
    repl_group_t *g = mem_calloc(1, sizeof *g);
    g->o = *o;
    g->o.founders = NULL;
    g->o.peers = NULL;
    g->bus = o->bus;
    g->snap_fd = -1;
    g->role = -1;
    memcpy(g->founders, o->founders, o->founders_count * sizeof *g->founders);
    g->founders_count = o->founders_count;
    buf_init(&g->scratch);
    buf_init(&g->chunk);
    for (size_t i = 0; i < o->peers_count; i++) {
        repl_peer_learn(g, &o->peers[i], true);
    }
    int rc = persist_start(g, err, err_size);
    if (rc == 0) {
        rc = restore(g, err, err_size);
    }
    if (rc != 0) {
        raft_destroy(g->raft);
        persist_close(g->persist);
        repl_snap_close_file(g);
        buf_free(&g->scratch);
        buf_free(&g->chunk);
        mem_free(g);
        return rc < 0 ? rc : -EINVAL;
    }
    uv_timer_init(o->loop, &g->timer);
    g->timer.data = g;
    uv_timer_start(&g->timer, tick_cb, REPL_TICK_MS, REPL_TICK_MS);
    repl_peer_sync_bus(g);
    repl_group_process(g);
    elect_alone(g);
    *out = g;
    return 0;
}

static void free_cb(uv_handle_t *h) {
    repl_group_t *g = h->data;
    buf_free(&g->scratch);
    buf_free(&g->chunk);
    mem_free(g);
}

void repl_group_close(repl_group_t *g) {
    if (!g) {
        return;
    }
    raft_destroy(g->raft);
    g->raft = NULL;
    persist_close(g->persist);
    g->persist = NULL;
    repl_snap_close_file(g);
    uv_timer_stop(&g->timer);
    uv_close((uv_handle_t *)&g->timer, free_cb);
}

void repl_group_set_bus(repl_group_t *g, bus_t *bus) {
    g->bus = bus;
    repl_peer_sync_bus(g);
}

void repl_group_fail(repl_group_t *g, const char *why) {
    snprintf(g->failure, sizeof g->failure, "%s", why);
    log_warning("repl", "group %u stops: %s", g->o.group_id, why);
    raft_destroy(g->raft);
    g->raft = NULL;
    g->leader = 0;
    g->role = RAFT_FOLLOWER;
    g->o.sm.role_changed(g->o.sm.ctx, RAFT_FOLLOWER, 0, g->term);
}

void repl_group_conf(const repl_group_t *g, raft_conf_t *conf) {
    if (!g->raft) {
        *conf = g->applied_conf;
        return;
    }
    raft_status_t st;
    raft_get_status(g->raft, &st);
    *conf = st.conf;
}

int repl_group_receive(repl_group_t *g, uint64_t from, const uint8_t *raft, size_t len) {
    if (!g->raft) {
        return 0;
    }
    raft_msg_t m;
    if (raft_msg_decode(raft, len, &m) != 0) {
        log_verbose("repl", "undecodable Raft message from node %llu", (unsigned long long)from);
        return -EBADMSG;
    }
    int rc = m.from == from ? raft_step(g->raft, &m) : -EINVAL;
    raft_msg_release(&m);
    return rc;
}

/* ---- the Ready loop ---- */

/* Membership changes take effect when appended: their members must be on the bus before this
 * Ready's messages leave. */
static void learn_members(repl_group_t *g, const raft_ready_t *rd) {
    bool seen = rd->snapshot != NULL;
    for (size_t i = 0; i < rd->entries_count; i++) {
        if (rd->entries[i].type == RAFT_ENTRY_CONF) {
            repl_peer_learn_entry(g, &rd->entries[i]);
            seen = true;
        }
    }
    if (seen) {
        repl_peer_sync_bus(g);
    }
}

static int append_entries(repl_group_t *g, const raft_ready_t *rd) {
    persist_status_t st;
    persist_get_status(g->persist, &st);
    uint64_t first = rd->entries[0].index;
    if (first <= st.last_index) {
        int rc = persist_truncate_after(g->persist, first - 1);
        if (rc < 0) {
            return rc;
        }
    }
    for (size_t i = 0; i < rd->entries_count; i++) {
        const raft_entry_t *e = &rd->entries[i];
        bool conf = e->type == RAFT_ENTRY_CONF;
        int rc = persist_append_entry(g->persist, e->term, e->index,
                                      conf ? REPL_RECORD_CONF : REPL_RECORD_NORMAL, e->data,
                                      e->len);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* Step 1 of a Ready: everything durable before anything is sent. */
static int persist_ready(repl_group_t *g, const raft_ready_t *rd) {
    int rc = 0;
    if (rd->snapshot) {
        rc = repl_snap_install(g, rd->snapshot);
    }
    if (rc == 0 && rd->entries_count > 0) {
        rc = append_entries(g, rd);
    }
    if (rc == 0) {
        rc = persist_flush(g->persist);
    }
    const raft_hard_state_t *hs = &rd->hard_state;
    if (rc == 0 && rd->hard_state_changed &&
        (hs->term != g->saved_hs.term || hs->vote != g->saved_hs.voted_for)) {
        persist_hard_state_t phs = {hs->term, hs->vote, hs->commit};
        rc = persist_hard_state_save(g->persist, &phs);
        if (rc == 0) {
            g->saved_hs = phs;
            g->saved_ms = time_mono_ms();
        }
    }
    return rc;
}

static void send_messages(repl_group_t *g, const raft_ready_t *rd) {
    for (size_t i = 0; i < rd->messages_count; i++) {
        const raft_msg_t *m = &rd->messages[i];
        raft_msg_t filled;
        if (m->type == RAFT_MSG_SNAPSHOT && !m->chunk && m->chunk_len > 0) {
            if (repl_snap_fill(g, m, &filled) < 0) {
                continue; /* the core sends it again after a heartbeat interval */
            }
            m = &filled;
        }
        buf_clear(&g->scratch);
        if (!g->bus || repl_raft_encode(&g->scratch, g->o.group_id, m) != 0) {
            continue;
        }
        bus_send(g->bus, (uint32_t)m->to, REPL_MSG_RAFT, g->scratch.data, g->scratch.len);
    }
}

static void apply_committed(repl_group_t *g, const raft_ready_t *rd) {
    for (size_t i = 0; i < rd->committed_count; i++) {
        const raft_entry_t *e = &rd->committed[i];
        if (e->type == RAFT_ENTRY_CONF) {
            raft_conf_change_t cc;
            if (raft_conf_entry_decode(e, &cc) == 0) {
                g->applied_conf = cc.conf;
            }
        }
        g->o.sm.apply(g->o.sm.ctx, e);
        g->applied = e->index;
    }
    if (rd->snapshot && rd->snapshot->meta.index > g->applied) {
        g->applied = rd->snapshot->meta.index;
    }
}

static void queue_read_states(repl_group_t *g, const raft_ready_t *rd) {
    for (size_t i = 0; i < rd->read_states_count; i++) {
        if (g->reads_count == REPL_READS_MAX) {
            /* The oldest waiter is dropped; its reader times out and asks again. */
            memmove(g->reads, g->reads + 1, (REPL_READS_MAX - 1) * sizeof *g->reads);
            g->reads_count--;
        }
        g->reads[g->reads_count++] = rd->read_states[i];
    }
}

static void release_reads(repl_group_t *g) {
    size_t done = 0;
    while (done < g->reads_count && g->reads[done].index <= g->applied) {
        g->o.sm.read_ready(g->o.sm.ctx, g->reads[done].ctx);
        done++;
    }
    if (done > 0) {
        memmove(g->reads, g->reads + done, (g->reads_count - done) * sizeof *g->reads);
        g->reads_count -= done;
    }
}

static const char *role_text(int role, bool learner) {
    return learner && role == RAFT_FOLLOWER ? "learner" : raft_role_name(role);
}

static void report_role(repl_group_t *g) {
    raft_status_t st;
    raft_get_status(g->raft, &st);
    if (st.role == g->role && st.leader == g->leader && st.term == g->term) {
        return;
    }
    bool learner = raft_conf_is_learner(&st.conf, g->o.id);
    if (st.role != g->role || st.leader != g->leader) {
        if (st.leader != 0 && st.leader != g->o.id) {
            log_notice("repl", "group %u: %s in term %llu, leader is node %llu", g->o.group_id,
                       role_text(st.role, learner), (unsigned long long)st.term,
                       (unsigned long long)st.leader);
        } else {
            log_notice("repl", "group %u: %s in term %llu%s", g->o.group_id,
                       role_text(st.role, learner), (unsigned long long)st.term,
                       st.role == RAFT_LEADER ? "" : ", no leader known");
        }
    }
    g->role = st.role;
    g->leader = st.leader;
    g->term = st.term;
    g->o.sm.role_changed(g->o.sm.ctx, st.role, st.leader, st.term);
}

static void group_reset(repl_group_t *g);

static void refresh_cache(repl_group_t *g) {
    raft_status_t st;
    raft_get_status(g->raft, &st);
    g->sole_voter = sole_voter(&st.conf, g->o.id);
    g->commit = st.commit;
    g->commit_in_term = raft_get_term(g->raft, st.commit) == st.term;
    g->log_bytes = st.log_bytes;
}

int repl_group_process(repl_group_t *g) {
    int handled = 0;
    if (g->raft && raft_needs_reset(g->raft)) {
        group_reset(g); /* found while stepping a message */
    }
    while (g->raft && handled < READIES_PER_PROCESS && raft_has_ready(g->raft)) {
        raft_ready_t rd;
        raft_ready(g->raft, &rd);
        handled++;
        learn_members(g, &rd);
        bool applied = false;
        if (rd.send_early) {
            send_messages(g, &rd); /* followers write while this leader writes */
            if (g->bus) {
                bus_flush(g->bus);
            }
            if (rd.committed_count > 0 && rd.entries_count > 0) {
                /* Committed means durable on a majority already: the replies need not wait
                 * for this leader's disk write of the new entries. */
                apply_committed(g, &rd);
                applied = true;
                if (g->o.sm.flush) {
                    g->o.sm.flush(g->o.sm.ctx);
                }
            }
        }
        int rc = persist_ready(g, &rd);
        if (rc < 0) {
            const char *why = persist_failure(g->persist);
            char text[300];
            snprintf(text, sizeof text, "writing the Raft log failed: %s",
                     why ? why : strerror(-rc));
            repl_group_fail(g, text);
            break;
        }
        if (rd.snapshot) {
            repl_peer_sync_bus(g); /* the snapshot's members */
        }
        if (!rd.send_early) {
            send_messages(g, &rd);
            if (g->bus && (rd.entries_count > 0 || rd.snapshot)) {
                bus_flush(g->bus); /* acknowledgements leave before the applying below */
            }
        }
        if (!applied) {
            apply_committed(g, &rd);
        }
        queue_read_states(g, &rd);
        raft_advance(g->raft, &rd);
        release_reads(g);
        report_role(g);
    }
    if (g->raft) {
        raft_forget(g->raft, g->applied); /* refused unless this node is the only member */
        refresh_cache(g);
        if (g->vote_floor_kept) {
            vote_floor_drop(g);
        }
    }
    return handled;
}

/* ---- async reset ---- */

/* Removes the log segments and snapshots (names per persist.h); the hard state stays. */
static int wipe_data(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) {
        return -errno;
    }
    int rc = 0;
    struct dirent *de;
    for (int guard = 0; guard < 1000000 && (de = readdir(d)) != NULL; guard++) {
        size_t n = strlen(de->d_name);
        bool wal = n > 8 && strncmp(de->d_name, "wal-", 4) == 0 &&
                   strcmp(de->d_name + n - 4, ".log") == 0;
        bool snap = n > 10 && strncmp(de->d_name, "snap-", 5) == 0 &&
                    strcmp(de->d_name + n - 5, ".snap") == 0;
        if ((wal || snap) && unlinkat(dirfd(d), de->d_name, 0) != 0) {
            rc = -errno;
        }
    }
    if (rc == 0 && fsync(dirfd(d)) != 0) {
        rc = -errno;
    }
    closedir(d);
    return rc;
}

/* After a reset the node follows (the new core starts as a follower of no known leader). */
static void report_reset_role(repl_group_t *g, const raft_status_t *st) {
    g->role = RAFT_FOLLOWER;
    g->leader = 0;
    g->term = st->term;
    g->o.sm.role_changed(g->o.sm.ctx, RAFT_FOLLOWER, 0, st->term);
}

/* Async replication lost writes at a failover and this replica had applied some of them: its
 * state is discarded and rebuilt from the leader (a snapshot, then the log), as a Redis replica
 * does a full resynchronisation. Term and vote are kept (a vote must never be forgotten). */
static void group_reset(repl_group_t *g) {
    raft_status_t st;
    raft_get_status(g->raft, &st);
    log_warning("repl",
                "group %u: this replica applied writes (up to index %llu) that the leader's log "
                "does not hold (async replication loses the last writes on failover): "
                "discarding its data and resynchronising from the leader",
                g->o.group_id, (unsigned long long)st.commit);
    raft_destroy(g->raft);
    g->raft = NULL;
    persist_close(g->persist);
    g->persist = NULL;
    repl_snap_close_file(g);
    g->o.sm.clear(g->o.sm.ctx);
    char err[300];
    int rc = vote_floor_save(g, st.term); /* first: a crash during the wipe must keep it */
    if (rc == 0) {
        rc = wipe_data(g->o.dir);
    }
    if (rc == 0) {
        rc = persist_start(g, err, sizeof err);
    }
    persist_hard_state_t phs = {st.term, st.vote, 0};
    if (rc == 0) {
        rc = persist_hard_state_save(g->persist, &phs);
    }
    if (rc == 0) {
        report_reset_role(g, &st);
    }
    raft_config_t cfg;
    raft_config_of(g, &cfg, true);
    raft_hard_state_t hs = {st.term, st.vote, 0};
    if (rc == 0 && (rc = raft_create(&cfg, &g->raft)) == 0) {
        rc = raft_restore(g->raft, &hs, NULL, NULL, 0);
    }
    if (rc == 0) {
        raft_set_vote_floor(g->raft, st.term);
        g->vote_floor_kept = true;
    }
    g->saved_hs = phs;
    g->applied = 0;
    g->core_snap_index = 0;
    g->reads_count = 0;
    conf_of_founders(g, &g->applied_conf);
    g->resets++;
    if (rc != 0) {
        snprintf(err, sizeof err, "resetting the replica's data failed (%d)", rc);
        repl_group_fail(g, err);
    }
}

/* ---- proposals ---- */

static size_t entry_limit(const repl_group_t *g) {
    return g->bus ? REPL_ENTRY_MAX_BUS : RAFT_ENTRY_BYTES_MAX;
}

int repl_group_propose(repl_group_t *g, const void *data, size_t len, uint64_t *index,
                       uint64_t *term) {
    assert(index && term);
    if (!g->raft) {
        return -EIO;
    }
    if (len > entry_limit(g)) {
        return -EMSGSIZE;
    }
    int rc = raft_propose(g->raft, data, len, index);
    if (rc == 0) {
        *term = g->term;
    }
    return rc;
}

int repl_group_can_propose(const repl_group_t *g) {
    return g->raft ? raft_can_propose(g->raft) : -EIO;
}

/* A snapshot at the applied index that the core adopts at once (see raft_forget). */
static int snapshot_for_new_member(repl_group_t *g) {
    int rc = repl_group_snapshot(g, 0);
    if (rc == 0) {
        repl_snap_adopt(g);
    }
    return rc;
}

int repl_group_propose_member(repl_group_t *g, int type, const repl_member_t *m, bool promote,
                              uint64_t *index, uint64_t *term) {
    assert(m && index && term);
    if (!g->raft) {
        return -EIO;
    }
    repl_member_t ctx = *m;
    ctx.flags = promote ? REPL_MEMBER_PROMOTE : 0;
    buf_t context;
    buf_init(&context);
    if (type != RAFT_CONF_REMOVE) {
        repl_member_encode(&context, &ctx);
    }
    int rc = raft_propose_conf_change(g->raft, type, m->id, context.data, context.len, index);
    if (rc == RAFT_ESNAPSHOT && (rc = snapshot_for_new_member(g)) == 0) {
        rc = raft_propose_conf_change(g->raft, type, m->id, context.data, context.len, index);
    }
    buf_free(&context);
    if (rc == 0) {
        *term = g->term;
    }
    return rc;
}

/* The voter with the highest match, other than this node. */
static uint64_t best_transfer_target(const repl_group_t *g) {
    raft_conf_t conf;
    repl_group_conf(g, &conf);
    uint64_t best = 0, best_match = 0;
    for (uint32_t i = 0; i < conf.voters_count; i++) {
        raft_progress_info_t info;
        uint64_t id = conf.voters[i];
        if (id != g->o.id && raft_get_progress(g->raft, id, &info) == 0 &&
            (best == 0 || info.match > best_match)) {
            best = id;
            best_match = info.match;
        }
    }
    return best;
}

int repl_group_transfer(repl_group_t *g, uint64_t target) {
    if (!g->raft) {
        return -EIO;
    }
    if (target == 0 && g->role == RAFT_LEADER) {
        target = best_transfer_target(g);
        if (target == 0) {
            return -EINVAL;
        }
    }
    return raft_transfer_leader(g->raft, target);
}

int repl_group_read_index(repl_group_t *g, uint64_t ctx) {
    if (!g->raft) {
        return -EIO;
    }
    return raft_read_index(g->raft, ctx);
}

/* With one voter the commit index moves only when a Ready is advanced, so the values cached
 * at the end of the last Ready loop are exact. */
bool repl_group_read_local(const repl_group_t *g) {
    return g->raft && g->role == RAFT_LEADER && g->sole_voter && g->commit_in_term &&
           g->applied >= g->commit;
}

const char *repl_group_failure(const repl_group_t *g) {
    return g->failure[0] ? g->failure : NULL;
}

uint64_t repl_group_log_bytes(const repl_group_t *g) {
    return g->log_bytes;
}

/* ---- status ---- */

void repl_group_status(const repl_group_t *g, repl_status_t *out) {
    memset(out, 0, sizeof *out);
    out->resets = g->resets;
    out->failure = g->failure[0] ? g->failure : NULL;
    out->applied = g->applied;
    out->term = g->term;
    out->role = RAFT_FOLLOWER;
    out->conf = g->applied_conf;
    if (!g->raft) {
        return;
    }
    raft_status_t st;
    raft_get_status(g->raft, &st);
    out->role = st.role;
    out->leader = st.leader;
    out->term = st.term;
    out->commit = st.commit;
    out->last_index = st.last_index;
    out->snapshot_index = g->core_snap_index;
    out->log_bytes = st.log_bytes;
    out->transfer_target = st.transfer_target;
    out->conf = st.conf;
    out->stats = st.stats;
    out->learner = raft_conf_is_learner(&st.conf, g->o.id);
    out->member = out->learner || raft_conf_is_voter(&st.conf, g->o.id);
}

int repl_group_progress(const repl_group_t *g, uint64_t id, raft_progress_info_t *info) {
    return g->raft ? raft_get_progress(g->raft, id, info) : RAFT_ENOTLEADER;
}

persist_t *repl_group_persist(const repl_group_t *g) {
    return g->persist;
}

void repl_group_poll(repl_group_t *g, int64_t now_ms) {
    (void)now_ms;
    repl_snap_poll(g);
    if (g->raft) {
        repl_peer_sync_bus(g);
        repl_peer_promote(g);
    }
}
