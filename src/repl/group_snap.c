/* group_snap: a group's snapshots. A snapshot is the state machine's dump at the applied index,
 * written by persist (a forked child for background ones) with the configuration and member
 * addresses as metadata. The core holds only its length (snapshot_external): once persist has
 * the file in place the core is told (raft_compact, which drops the in-memory log behind it),
 * and the chunks the core sends to a follower that is too far behind are read from that file.
 * A follower receives the leader's file bytes and installs them through persist, which checks,
 * syncs and loads them. Design: docs/ARCHITECTURE.md, "Replication". */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "repl/group_int.h"

#define SNAPSHOT_RETRY_MS 5000 /* after a failed automatic snapshot */

void repl_snap_meta(repl_group_t *g, buf_t *out) {
    repl_member_t list[REPL_MEMBERS_MAX];
    size_t n = 0;
    const raft_conf_t *conf = &g->applied_conf;
    for (uint32_t i = 0; i < conf->voters_count + conf->learners_count; i++) {
        uint64_t id = i < conf->voters_count ? conf->voters[i]
                                             : conf->learners[i - conf->voters_count];
        const repl_member_t *m = repl_peer_find(g, id);
        if (m && n < REPL_MEMBERS_MAX) {
            list[n++] = *m;
        }
    }
    repl_meta_encode(out, conf, list, n);
}

int repl_group_snapshot(repl_group_t *g, int background) {
    if (!g->raft || !g->persist) {
        return -EIO;
    }
    if (g->applied == 0) {
        return -EAGAIN; /* nothing applied yet */
    }
    uint64_t term = 0;
    int rc = persist_term_at(g->persist, g->applied, &term);
    if (rc < 0) {
        return rc;
    }
    buf_t meta;
    buf_init(&meta);
    repl_snap_meta(g, &meta);
    persist_snapshot_point_t at = {g->applied, term, meta.data, meta.len};
    rc = background ? persist_snapshot_background_at(g->persist, &at)
                    : persist_snapshot_now_at(g->persist, &at);
    buf_free(&meta);
    if (rc == 0 && !background) {
        repl_snap_adopt(g);
    }
    return rc;
}

void repl_snap_close_file(repl_group_t *g) {
    if (g->snap_fd >= 0) {
        close(g->snap_fd);
    }
    g->snap_fd = -1;
    g->snap_fd_index = 0;
}

void repl_snap_adopt(repl_group_t *g) {
    persist_snapshot_point_t pt;
    persist_snapshot_get(g->persist, &pt);
    if (pt.index <= g->core_snap_index || !g->raft) {
        return;
    }
    int fd = -1;
    uint64_t size = 0;
    if (persist_snapshot_open(g->persist, &fd, &size) < 0) {
        return;
    }
    int rc = raft_compact(g->raft, pt.index, NULL, size, NULL);
    if (rc != 0 && rc != -EALREADY) {
        log_warning("repl", "group %u: the core refused snapshot %llu (%s)", g->o.group_id,
                    (unsigned long long)pt.index, raft_strerror(rc));
        close(fd);
        return;
    }
    /* -EALREADY: this node is the only member and forgot past it (raft_forget); the core keeps
     * no snapshot it could be asked to send. */
    repl_snap_close_file(g);
    g->snap_fd = fd;
    g->snap_fd_index = pt.index;
    g->core_snap_index = pt.index;
}

int repl_snap_install(repl_group_t *g, const raft_snapshot_t *snap) {
    persist_install_t *in = NULL;
    int rc = persist_install_begin(g->persist, &in);
    if (rc < 0) {
        return rc;
    }
    rc = persist_install_write(in, snap->data, snap->len);
    if (rc < 0) {
        persist_install_abort(in);
        return rc;
    }
    persist_snapshot_point_t pt;
    rc = persist_install_finish(in, &pt); /* loads the state machine too */
    if (rc < 0) {
        log_warning("repl", "group %u: installing the leader's snapshot %llu failed: %s",
                    g->o.group_id, (unsigned long long)snap->meta.index, strerror(-rc));
        return rc;
    }
    repl_member_t members[REPL_MEMBERS_MAX];
    size_t count = 0;
    raft_conf_t conf;
    if (repl_meta_decode(pt.meta, pt.meta_len, &conf, members, REPL_MEMBERS_MAX, &count) == 0) {
        for (size_t i = 0; i < count; i++) {
            repl_peer_learn(g, &members[i], false);
        }
    }
    g->applied_conf = snap->meta.conf;
    repl_snap_close_file(g);
    g->core_snap_index = pt.index;
    log_notice("repl", "group %u: installed the leader's snapshot at index %llu (%llu bytes)",
               g->o.group_id, (unsigned long long)pt.index, (unsigned long long)snap->len);
    return 0;
}

int repl_snap_fill(repl_group_t *g, const raft_msg_t *m, raft_msg_t *out) {
    if (g->snap_fd < 0 || g->snap_fd_index != m->snapshot.index) {
        repl_snap_close_file(g);
        persist_snapshot_point_t pt;
        persist_snapshot_get(g->persist, &pt);
        uint64_t size = 0;
        if (pt.index != m->snapshot.index ||
            persist_snapshot_open(g->persist, &g->snap_fd, &size) < 0) {
            return -ENOENT; /* a newer snapshot replaced it; the core is told at the next poll */
        }
        g->snap_fd_index = pt.index;
    }
    buf_clear(&g->chunk);
    buf_reserve(&g->chunk, m->chunk_len);
    size_t done = 0;
    while (done < m->chunk_len) {
        ssize_t n = pread(g->snap_fd, g->chunk.data + done, m->chunk_len - done,
                          (off_t)(m->snapshot_offset + done));
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            return -EIO;
        }
        done += (size_t)n;
    }
    *out = *m;
    out->chunk = g->chunk.data;
    return 0;
}

/* Starts a background snapshot once enough log was written since the last one. */
static void maybe_snapshot(repl_group_t *g, const persist_status_t *st, int64_t now_ms) {
    if (g->o.snapshot_log_bytes == 0 || st->log_bytes < g->o.snapshot_log_bytes ||
        st->snapshot_in_progress || st->failure || g->applied <= st->snapshot_index ||
        now_ms < g->snapshot_retry_ms) {
        return;
    }
    int rc = repl_group_snapshot(g, 1);
    if (rc < 0 && rc != -EBUSY) {
        g->snapshot_retry_ms = now_ms + SNAPSHOT_RETRY_MS;
    }
}

/* The commit index reaches the hard state without an fsync per change: at most once a
 * second, so a restarted node applies most of what it knew before hearing from a leader. */
static void save_commit(repl_group_t *g, int64_t now_ms) {
    raft_status_t st;
    raft_get_status(g->raft, &st);
    if (st.commit <= g->saved_hs.commit || now_ms - g->saved_ms < REPL_HARDSTATE_SAVE_MS ||
        st.term != g->saved_hs.term || st.vote != g->saved_hs.voted_for) {
        return;
    }
    persist_hard_state_t phs = {st.term, st.vote, st.commit};
    if (persist_hard_state_save(g->persist, &phs) == 0) {
        g->saved_hs = phs;
        g->saved_ms = now_ms;
    }
}

void repl_snap_poll(repl_group_t *g) {
    if (!g->raft || !g->persist) {
        return;
    }
    int64_t now_ms = time_mono_ms();
    persist_poll(g->persist, now_ms);
    repl_snap_adopt(g);
    persist_status_t st;
    persist_get_status(g->persist, &st);
    if (st.failure) {
        char why[300];
        snprintf(why, sizeof why, "writing the Raft log failed: %s", st.failure);
        repl_group_fail(g, why);
        return;
    }
    maybe_snapshot(g, &st, now_ms);
    save_commit(g, now_ms);
}
