/* wire: what the replication layer puts on the cluster bus and in its snapshots, as pure
 * encoders and decoders (no I/O; unit-tested in tests/unit/test_repl_wire.c).
 *
 *   REPL_MSG_RAFT           u32 group id, then one Raft message (raft_codec.h)
 *   REPL_MSG_FORWARD        a client's command sent by a follower to its leader
 *   REPL_MSG_FORWARD_REPLY  the reply bytes of forwarded commands, back to the follower
 *   REPL_MSG_FORWARD_CLOSE  the follower's client has gone: the leader drops its state
 *   REPL_MSG_NODE_INFO      a node's client address (for INFO, sent every half second)
 *
 * Every payload starts with a version byte; every count and length is checked against a named
 * limit and against the bytes left; trailing bytes are refused. Integers are little endian.
 * A member's bus address travels in the context of its membership change (repl_member_t) and
 * in snapshot metadata with the configuration, so every node, and a node restarting from a
 * snapshot, knows how to reach every member. Design: docs/ARCHITECTURE.md, "Replication". */
#ifndef POLIS_REPL_WIRE_H
#define POLIS_REPL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/bus.h"
#include "core/buf.h"
#include "raft/raft.h"

/* Bus message types of the replication layer (the bus reserves 0..15). */
enum repl_msg_type {
    REPL_MSG_RAFT = 16,
    REPL_MSG_FORWARD = 17,
    REPL_MSG_FORWARD_REPLY = 18,
    REPL_MSG_FORWARD_CLOSE = 19,
    REPL_MSG_NODE_INFO = 20,
};

#define REPL_FORWARD_ARGS_MAX (1u << 20)  /* arguments of one forwarded command */
#define REPL_FORWARD_HOPS_MAX 2           /* follower -> old leader -> new leader */
#define REPL_HOST_MAX BUS_HOST_MAX        /* a host name or address literal */
#define REPL_MEMBERS_MAX RAFT_MEMBERS_MAX /* members described in one snapshot */

enum repl_member_flag {
    REPL_MEMBER_PROMOTE = 1u << 0, /* a learner the leader makes a voter once caught up */
};

/* A member's identity and bus address. */
typedef struct repl_member {
    uint64_t id;
    uint16_t bus_port;
    uint8_t flags; /* enum repl_member_flag */
    char host[REPL_HOST_MAX + 1];
} repl_member_t;

/* ---- Raft messages ---- */

/* Appends the group header and m's wire form to out. 0 or raft_msg_encode's error. */
int repl_raft_encode(buf_t *out, uint32_t group, const raft_msg_t *m);
/* Splits a REPL_MSG_RAFT payload: *group and the Raft bytes after the header. 0 or -EBADMSG. */
int repl_raft_split(const uint8_t *payload, size_t len, uint32_t *group, const uint8_t **raft,
                    size_t *raft_len);

/* ---- Forwarding ---- */

/* The sender's identity for forwarding: a node id is not enough, since a restarted node
 * numbers its clients from 1 again; the incarnation is drawn at random at each start. */
typedef struct repl_forward {
    uint64_t incarnation;
    uint64_t client; /* the client's id on the sending node */
    uint8_t hops;    /* forwards this command has already made (1 when sent by the origin) */
    uint8_t resp;    /* the client's RESP version, 2 or 3 */
    uint32_t argc;
    const slice_t *argv; /* encode: the arguments; decode: see repl_forward_decode */
} repl_forward_t;

void repl_forward_encode(buf_t *out, const repl_forward_t *f);
/* Decodes a REPL_MSG_FORWARD payload. The arguments are written to `args` as a RESP multibulk
 * (what the leader parses as if the client had sent it); f->argv is left NULL. 0 or -EBADMSG. */
int repl_forward_decode(const uint8_t *p, size_t len, repl_forward_t *f, buf_t *args);

/* A run of reply bytes for one forwarded client: `replies` is how many commands' replies are
 * complete once these bytes are appended (a large reply may span several messages). */
typedef struct repl_forward_reply {
    uint64_t incarnation; /* the origin's, echoed */
    uint64_t client;
    uint32_t replies;
    const char *bytes;
    size_t len;
} repl_forward_reply_t;

void repl_forward_reply_encode(buf_t *out, const repl_forward_reply_t *r);
/* r->bytes points into p. 0 or -EBADMSG. */
int repl_forward_reply_decode(const uint8_t *p, size_t len, repl_forward_reply_t *r);

void repl_forward_close_encode(buf_t *out, uint64_t incarnation, uint64_t client);
int repl_forward_close_decode(const uint8_t *p, size_t len, uint64_t *incarnation,
                              uint64_t *client);

/* ---- Node info ---- */

typedef struct repl_node_info {
    uint64_t incarnation;
    uint16_t client_port;
    char client_host[REPL_HOST_MAX + 1];
} repl_node_info_t;

void repl_node_info_encode(buf_t *out, const repl_node_info_t *n);
int repl_node_info_decode(const uint8_t *p, size_t len, repl_node_info_t *n);

/* ---- Membership change context and snapshot metadata ---- */

/* The context of a membership change: the member's address and flags (id is the change's). */
void repl_member_encode(buf_t *out, const repl_member_t *m);
/* Decodes into m (m->id is left as it was). 0 or -EBADMSG. */
int repl_member_decode(const char *p, size_t len, repl_member_t *m);

/* Snapshot metadata: the configuration at the snapshot's index and the addresses of its
 * members (those known). */
void repl_meta_encode(buf_t *out, const raft_conf_t *conf, const repl_member_t *members,
                      size_t count);
/* 0 or -EBADMSG. An empty blob (a single node's snapshot from before replication) decodes as
 * -ENOENT: the caller uses its founding configuration. */
int repl_meta_decode(const char *p, size_t len, raft_conf_t *conf, repl_member_t *members,
                     size_t max, size_t *count);

/* Parses "HOST:PORT" (IPv6 in brackets) into m's host and bus_port. 0 or -EINVAL. */
int repl_member_parse_address(const char *text, size_t len, repl_member_t *m);

#endif
