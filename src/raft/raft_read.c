/* raft_read: ReadIndex, linearizable reads without a log write (Raft dissertation 6.4).
 *
 * The leader records its commit index as the read point, then confirms it is still the leader
 * by a heartbeat round: once a quorum has answered a heartbeat sent after the request, no other
 * leader can have committed anything newer. Requests are numbered (read_seq); heartbeats carry
 * the newest number and answers echo it, so one round confirms every request before it and
 * requests from one loop turn share a round. A new leader first commits an entry of its own term
 * (its no-op), because until then its commit index may be behind the real one: requests wait. A
 * follower forwards its requests to the leader and receives the read point back. Requests are
 * answered in order, and dropped when leadership changes (the node times them out). */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

void raft_read_state_push(raft_t *r, uint64_t ctx, uint64_t index) {
    if (r->read_states_count == r->read_states_cap) {
        r->read_states_cap = r->read_states_cap ? r->read_states_cap * 2 : 16;
        r->read_states = mem_realloc(r->read_states, r->read_states_cap * sizeof *r->read_states);
    }
    r->read_states[r->read_states_count++] = (raft_read_state_t){ctx, index};
}

void raft_read_clear(raft_t *r) {
    r->reads_head = 0;
    r->reads_count = 0;
    r->read_heartbeat = false;
}

static void push(raft_t *r, const raft_read_req_t *req) {
    if (r->reads_head + r->reads_count == r->reads_cap) {
        if (r->reads_head > 0) {
            memmove(r->reads, r->reads + r->reads_head, r->reads_count * sizeof *r->reads);
            r->reads_head = 0;
        } else {
            r->reads_cap = r->reads_cap ? r->reads_cap * 2 : 16;
            r->reads = mem_realloc(r->reads, r->reads_cap * sizeof *r->reads);
        }
    }
    r->reads[r->reads_head + r->reads_count++] = *req;
}

static void answer(raft_t *r, const raft_read_req_t *req) {
    if (req->from == r->id) {
        raft_read_state_push(r, req->ctx, req->index);
        r->stats.reads_served_leader++;
        return;
    }
    raft_msg_t *m = raft_send(r, RAFT_MSG_READ_INDEX_RESP, req->from);
    m->index = req->index;
    m->context = req->ctx;
    r->stats.reads_served_remote++;
}

static size_t confirmations(raft_t *r, uint64_t seq) {
    size_t n = 0;
    for (size_t i = 0; i < r->peers_count; i++) {
        const raft_progress_t *pr = &r->peers[i];
        if (!pr->learner && (pr->id == r->id || pr->read_acked >= seq)) {
            n++;
        }
    }
    return n;
}

/* Answers, in order, every request a quorum has confirmed. */
static void release(raft_t *r) {
    size_t quorum = raft_conf_quorum(&r->conf);
    while (r->reads_count > 0) {
        raft_read_req_t *head = &r->reads[r->reads_head];
        if (head->seq == 0 || confirmations(r, head->seq) < quorum) {
            break;
        }
        answer(r, head);
        r->reads_head++;
        r->reads_count--;
    }
    if (r->reads_count == 0) {
        r->reads_head = 0;
    }
}

int raft_read_request(raft_t *r, uint64_t ctx, uint64_t from) {
    assert(r->role == RAFT_LEADER);
    if (r->reads_count >= RAFT_READS_MAX) {
        return -ENOBUFS;
    }
    raft_read_req_t req = {ctx, from, 0, 0};
    push(r, &req);
    raft_read_on_commit_in_term(r);
    return 0;
}

void raft_read_on_commit_in_term(raft_t *r) {
    if (r->role != RAFT_LEADER || r->reads_count == 0 ||
        raft_log_term(&r->log, r->log.commit) != r->term) {
        return;
    }
    /* Requests still waiting for a read point are a suffix of the queue: once this term has a
     * commit, every request gets its point on arrival. Oldest first, so sequences stay ordered. */
    size_t first = r->reads_count;
    while (first > 0 && r->reads[r->reads_head + first - 1].seq == 0) {
        first--;
    }
    bool assigned = first < r->reads_count;
    for (size_t i = first; i < r->reads_count; i++) {
        raft_read_req_t *req = &r->reads[r->reads_head + i];
        req->index = r->log.commit;
        req->seq = ++r->read_seq;
    }
    release(r);
    if (assigned && r->reads_count > 0) {
        r->read_heartbeat = true;
    }
}

void raft_read_on_heartbeat_resp(raft_t *r, const raft_msg_t *m) {
    raft_progress_t *pr = raft_peer(r, m->from);
    assert(pr);
    if (m->context > pr->read_acked && m->context <= r->read_seq) {
        pr->read_acked = m->context;
        release(r);
    }
}
