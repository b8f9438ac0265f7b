/* cmd_repl: replication commands — READONLY, READWRITE, WAIT (Redis' semantics) and polis' own
 * POLIS.GROUP ADD|REMOVE|TRANSFER|STATUS|HELP. ADD, REMOVE, TRANSFER and WAIT run on the
 * leader (a follower forwards them). Design: docs/ARCHITECTURE.md, "Replication". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "server/node.h"

void node_readonly(client_t *c, int argc, const slice_t *argv) {
    c->flags |= CLIENT_READONLY;
    reply_t r = client_reply(c);
    reply_ok(&r);
}

void node_readwrite(client_t *c, int argc, const slice_t *argv) {
    c->flags &= ~CLIENT_READONLY;
    reply_t r = client_reply(c);
    reply_ok(&r);
}

/* WAIT numreplicas timeout: how many other members hold the connection's last write (their
 * match index reached it), once numreplicas do or after timeout ms (0: no limit). */
void node_wait(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    long long replicas, timeout;
    if (!resp_parse_ll(argv[1].ptr, argv[1].len, &replicas) ||
        !resp_parse_ll(argv[2].ptr, argv[2].len, &timeout)) {
        reply_error(&r, ERR_NOT_INTEGER);
        return;
    }
    if (timeout < 0) {
        reply_error(&r, "ERR timeout is negative");
        return;
    }
    server_t *s = c->srv;
    long long n = replica_count_acks(s, c->last_write_index);
    if (!s->group || n >= replicas) {
        reply_int(&r, n);
        return;
    }
    replica_block(c, BLOCK_WAIT, c->last_write_index, replicas, timeout);
}

static int parse_node_id(reply_t *r, slice_t arg, uint64_t *id) {
    long long v;
    if (!resp_parse_ll(arg.ptr, arg.len, &v) || v <= 0 || v > UINT32_MAX) {
        reply_errorf(r, "ERR invalid node id '%.*s': expected 1 to 4294967295",
                     (int)(arg.len > 64 ? 64 : arg.len), arg.ptr);
        return -1;
    }
    *id = (uint64_t)v;
    return 0;
}

static void reply_conf_error(reply_t *r, int rc, uint64_t id) {
    if (rc == RAFT_ECONFPENDING) {
        reply_error(r, "ERR another membership change is in progress (or the leader is new); "
                       "try again");
    } else if (rc == RAFT_ENOTLEADER || rc == RAFT_ETRANSFER) {
        reply_error(r, "TRYAGAIN leadership is changing; the command was not executed");
    } else if (rc == -EINVAL) {
        reply_error(r, "ERR the group would be left without a voter");
    } else if (rc == -ENOSPC) {
        reply_error(r, "ERR the group is full (32 members at most)");
    } else if (rc == -EALREADY) {
        reply_errorf(r, "ERR node %llu is already a member of the group", (unsigned long long)id);
    } else if (rc == -ENOENT) {
        reply_errorf(r, "ERR node %llu is not a member of the group", (unsigned long long)id);
    } else {
        reply_errorf(r, "ERR the membership change failed: %s",
                     rc < -1000 ? raft_strerror(rc) : strerror(-rc));
    }
}

static int require_group(client_t *c, reply_t *r) {
    if (!c->srv->group) {
        reply_error(r, "ERR persistence is off: this node is a cache, not a replication group");
        return -1;
    }
    return 0;
}

static int is_member(server_t *s, uint64_t id) {
    repl_status_t st;
    repl_group_status(s->group, &st);
    return raft_conf_is_voter(&st.conf, id) || raft_conf_is_learner(&st.conf, id);
}

/* POLIS.GROUP ADD id host:busport [LEARNER]: the node joins as a learner; without LEARNER the
 * leader makes it a voter once it has caught up. Replies once the change is committed. */
void node_group_add(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    repl_member_t m = {0};
    int learner = argc == 5 && slice_eq_nocase(argv[4], "learner");
    if (argc > 5 || (argc == 5 && !learner)) {
        reply_error(&r, ERR_SYNTAX);
        return;
    }
    if (require_group(c, &r) < 0 || parse_node_id(&r, argv[2], &m.id) < 0) {
        return;
    }
    if (repl_member_parse_address(argv[3].ptr, argv[3].len, &m) < 0) {
        reply_errorf(&r, "ERR invalid address '%.*s': expected HOST:BUSPORT",
                     (int)(argv[3].len > 128 ? 128 : argv[3].len), argv[3].ptr);
        return;
    }
    if (m.id == s->node_id || is_member(s, m.id)) {
        reply_conf_error(&r, -EALREADY, m.id);
        return;
    }
    char err[256];
    if (replica_ensure_bus(s, err, sizeof err) < 0) {
        reply_errorf(&r, "ERR %s", err);
        return;
    }
    uint64_t index = 0, term = 0;
    int rc = repl_group_propose_member(s->group, RAFT_CONF_ADD_LEARNER, &m, !learner, &index,
                                       &term);
    if (rc != 0) {
        reply_conf_error(&r, rc, m.id);
        return;
    }
    log_notice("repl", "adding node %llu at %s:%u as a %s", (unsigned long long)m.id, m.host,
               m.bus_port, learner ? "learner" : "learner, a voter once caught up");
    pending_add(s, c, index, term, PENDING_CONF);
}

void node_group_remove(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    repl_member_t m = {0};
    if (require_group(c, &r) < 0 || parse_node_id(&r, argv[2], &m.id) < 0) {
        return;
    }
    if (!is_member(s, m.id)) {
        reply_conf_error(&r, -ENOENT, m.id);
        return;
    }
    uint64_t index = 0, term = 0;
    int rc = repl_group_propose_member(s->group, RAFT_CONF_REMOVE, &m, false, &index, &term);
    if (rc != 0) {
        reply_conf_error(&r, rc, m.id);
        return;
    }
    log_notice("repl", "removing node %llu from the group", (unsigned long long)m.id);
    pending_add(s, c, index, term, PENDING_CONF);
}

/* POLIS.GROUP TRANSFER [id]: replies once another node leads, or an error if the transfer
 * was abandoned (the target did not catch up within an election timeout). */
void node_group_transfer(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    uint64_t target = 0;
    if (argc > 3) {
        reply_error(&r, ERR_SYNTAX);
        return;
    }
    if (require_group(c, &r) < 0 || (argc == 3 && parse_node_id(&r, argv[2], &target) < 0)) {
        return;
    }
    repl_status_t st;
    repl_group_status(s->group, &st);
    if (target != 0 && (target == s->node_id || !raft_conf_is_voter(&st.conf, target))) {
        reply_errorf(&r, "ERR node %llu is not another voter of the group",
                     (unsigned long long)target);
        return;
    }
    int rc = server_transfer(s, target);
    if (rc == -EINVAL && target == 0) {
        reply_error(&r, "ERR there is no other voter to hand leadership to");
        return;
    }
    if (rc != 0) {
        reply_conf_error(&r, rc, target);
        return;
    }
    repl_group_status(s->group, &st);
    replica_block(c, BLOCK_TRANSFER, st.transfer_target, 0, TRANSFER_WAIT_MS);
}

static void reply_member(reply_t *r, const member_view_t *v) {
    reply_map(r, 8);
    reply_bulk_cstr(r, "id");
    reply_int(r, (long long)v->id);
    reply_bulk_cstr(r, "role");
    reply_bulk_cstr(r, v->voter ? "voter" : "learner");
    reply_bulk_cstr(r, "address");
    reply_bulk_cstr(r, v->address);
    reply_bulk_cstr(r, "client");
    reply_bulk_cstr(r, v->client);
    reply_bulk_cstr(r, "state");
    reply_bulk_cstr(r, v->state);
    reply_bulk_cstr(r, "match");
    reply_int(r, v->match);
    reply_bulk_cstr(r, "lag");
    reply_int(r, v->lag);
    reply_bulk_cstr(r, "connected");
    reply_int(r, v->connected);
}

void node_group_status(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    if (require_group(c, &r) < 0) {
        return;
    }
    repl_status_t st;
    repl_group_status(s->group, &st);
    member_view_t views[RAFT_MEMBERS_MAX];
    size_t n = replica_members(s, views, RAFT_MEMBERS_MAX);
    reply_map(&r, 10);
    reply_bulk_cstr(&r, "node_id");
    reply_int(&r, (long long)s->node_id);
    reply_bulk_cstr(&r, "role");
    reply_bulk_cstr(&r, replica_role_name(s));
    reply_bulk_cstr(&r, "leader_id");
    reply_int(&r, (long long)st.leader);
    reply_bulk_cstr(&r, "leader_address");
    reply_bulk_cstr(&r, st.leader ? replica_client_address(s, st.leader) : "");
    reply_bulk_cstr(&r, "term");
    reply_int(&r, (long long)st.term);
    reply_bulk_cstr(&r, "commit_index");
    reply_int(&r, (long long)st.commit);
    reply_bulk_cstr(&r, "applied_index");
    reply_int(&r, (long long)st.applied);
    reply_bulk_cstr(&r, "last_index");
    reply_int(&r, (long long)st.last_index);
    reply_bulk_cstr(&r, "replication");
    reply_bulk_cstr(&r, s->config.replication == REPLICATION_ASYNC ? "async" : "sync");
    reply_bulk_cstr(&r, "members");
    reply_array(&r, n);
    for (size_t i = 0; i < n; i++) {
        reply_member(&r, &views[i]);
    }
}

void node_group_help(client_t *c, int argc, const slice_t *argv) {
    static const char *const lines[] = {
        "POLIS.GROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ADD <id> <host:busport> [LEARNER]",
        "    Add node <id>, listening for the cluster bus at <host:busport>: a learner that",
        "    becomes a voter once it has caught up (LEARNER: it stays a learner).",
        "REMOVE <id>",
        "    Remove node <id> from the group.",
        "TRANSFER [<id>]",
        "    Hand leadership to voter <id> (default: the most up-to-date one).",
        "STATUS",
        "    Return this node's view of the group: role, leader, indexes, members.",
        NULL};
    reply_help(c, lines);
}
