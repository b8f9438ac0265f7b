/* bus: the cluster bus, the node-to-node transport on libuv. It carries opaque typed messages
 * (the Raft wiring registers one handler per type) between nodes identified by a 32-bit id.
 *
 * Each node listens on its bus port (client port + BUS_PORT_OFFSET by default) and keeps one
 * outgoing connection per peer, on which it sends; it receives on the connections its peers
 * open to it. Connections start with a three-frame handshake proving both ends know the cluster
 * secret (and their ids); then every frame carries an HMAC under a per-connection session key
 * and a sequence number, so frames can be neither forged nor replayed. Lost connections are
 * retried with bounded exponential backoff and jitter. Messages queued for a peer during one
 * loop turn leave in one write; the queue is bounded and drops by a chosen policy when full.
 * Every frame carries the sender's hybrid logical clock stamp: the bus ticks the owner's clock
 * on each send and merges each received stamp into it (the bus keeps no clock of its own).
 *
 * Frame layout: cluster/frame.h. Design and usage: docs/ARCHITECTURE.md, "Cluster bus".
 * Single-threaded: every call runs on the loop's thread. */
#ifndef POLIS_CLUSTER_BUS_H
#define POLIS_CLUSTER_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/frame.h"
#include "core/hlc.h"

#define BUS_PORT_OFFSET 10000
#define BUS_PEERS_MAX 64
#define BUS_HOST_MAX 255
/* Longest cluster secret; any byte string of 1..BUS_SECRET_MAX bytes. */
#define BUS_SECRET_MAX 256
/* Message types below BUS_TYPE_USER_MIN are the bus' own (handshake, ping). */
#define BUS_TYPE_USER_MIN 16
#define BUS_TYPE_LIMIT 256
/* Connections accepted but not yet identified or already identified, all peers together. */
#define BUS_INCOMING_MAX (2 * BUS_PEERS_MAX)

/* A batch stops growing past this many bytes; the rest leaves with the next write. */
#define BUS_WRITE_BYTES_MAX (1u << 20)

#define BUS_QUEUE_FRAMES_DEFAULT 4096
#define BUS_QUEUE_BYTES_DEFAULT (32u << 20)
#define BUS_RECONNECT_MIN_MS_DEFAULT 50
#define BUS_RECONNECT_MAX_MS_DEFAULT 1000
#define BUS_HANDSHAKE_TIMEOUT_MS_DEFAULT 1000
#define BUS_PING_INTERVAL_MS_DEFAULT 500
#define BUS_IDLE_TIMEOUT_MS_DEFAULT 3000

typedef struct bus bus_t;

/* What bus_send does when a peer's queue is full. Raft tolerates lost messages, so a bounded
 * queue that drops beats unbounded memory. */
enum bus_drop_policy {
    BUS_DROP_OLDEST = 0, /* default: evict the oldest queued messages (newer state wins) */
    BUS_DROP_NEWEST = 1, /* refuse the new message (bus_send returns -ENOBUFS) */
};

typedef struct bus_peer_addr {
    uint32_t id;
    uint16_t port;
    char host[BUS_HOST_MAX + 1]; /* an IPv4/IPv6 literal or a host name */
} bus_peer_addr_t;

typedef struct bus_options {
    uint32_t id;             /* this node, nonzero */
    const char *listen_host; /* NULL: "127.0.0.1" */
    uint16_t listen_port;    /* 0: an ephemeral port (see bus_port) */
    /* The shared cluster secret, 1..BUS_SECRET_MAX bytes; NULL or empty: no secret, and then
     * only loopback peers and loopback incoming connections are accepted. */
    const char *secret;
    size_t secret_len;
    const bus_peer_addr_t *peers; /* the initial peers (may be NULL when peer_count is 0) */
    size_t peer_count;
    hlc_t *clock; /* the owner's clock; must outlive the bus */
    /* Bounds and timings; 0 takes the default above. */
    size_t queue_frames_max;
    size_t queue_bytes_max;
    enum bus_drop_policy drop_policy;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    uint32_t handshake_timeout_ms;
    uint32_t ping_interval_ms;
    uint32_t idle_timeout_ms;
    uint64_t seed; /* reconnect jitter; 0: drawn from the OS */
} bus_options_t;

/* Called for each authenticated frame of a registered type, after the bus merged the stamp
 * into the owner's clock. payload is valid only during the call. The handler may call
 * bus_send, bus_add_peer, bus_remove_peer and bus_flush; it must not call bus_close. */
typedef void bus_handler_cb(void *ctx, uint32_t from, uint16_t type, const uint8_t *payload,
                            size_t len, stamp_t stamp);

typedef struct bus_peer_stats {
    uint32_t id;
    int connected;       /* our outgoing connection has finished its handshake */
    uint64_t frames_out; /* frames written to the peer (user messages and pings) */
    uint64_t bytes_out;  /* bytes of those frames */
    uint64_t writes;     /* writes carrying queued messages: one per batch */
    uint64_t frames_in;  /* frames received from the peer */
    uint64_t bytes_in;
    uint64_t reconnects;  /* outgoing connections established after the first */
    uint64_t drops;       /* messages dropped because the queue was full */
    uint64_t unhandled;   /* frames received of a type with no handler */
    size_t queued_frames; /* messages waiting to be written */
    size_t queued_bytes;
} bus_peer_stats_t;

typedef struct bus_counters {
    uint64_t auth_failures;   /* frames whose MAC did not match (connection closed) */
    uint64_t protocol_errors; /* bad magic, version, length, sequence, ids or handshake */
    uint64_t refused;         /* incoming connections refused (limit, not loopback, unknown) */
} bus_counters_t;

/* Creates the bus, starts listening and starts connecting to the peers.
 * Returns 0, -EINVAL (bad options), -EPERM (a non-loopback peer or listen address without a
 * secret: the reason is logged), or a libuv error (the listen address is in use...). */
int bus_create(uv_loop_t *loop, const bus_options_t *options, bus_t **out);

/* Starts closing every connection and handle. The memory is freed by the loop once their
 * close callbacks ran, so keep running the loop (uv_run returns when everything is closed).
 * Queued messages are discarded. Must not be called from a handler. */
void bus_close(bus_t *bus);

/* The port the bus listens on (the chosen one when listen_port was 0). */
uint16_t bus_port(const bus_t *bus);

/* Registers cb for messages of type (BUS_TYPE_USER_MIN <= type < BUS_TYPE_LIMIT); a NULL cb
 * unregisters. 0 or -EINVAL. */
int bus_set_handler(bus_t *bus, uint16_t type, bus_handler_cb *cb, void *ctx);

/* Queues a message for peer_id; it is written with the other messages of this loop turn.
 * The payload is copied. Ticks the clock: the message carries the new stamp.
 * Returns 0 when queued (under BUS_DROP_OLDEST, possibly evicting older messages),
 * -ENOBUFS when dropped under BUS_DROP_NEWEST, -ENOENT for an unknown peer, -EINVAL for a
 * bad type or for our own id, -EMSGSIZE for a payload over BUS_FRAME_PAYLOAD_MAX or over the
 * queue's byte bound. Delivery is at most once, in order per peer. */
int bus_send(bus_t *bus, uint32_t peer_id, uint16_t type, const void *payload, size_t len);

/* Writes the queued messages now instead of at the end of the loop turn. */
void bus_flush(bus_t *bus);

/* Adds a peer at runtime and starts connecting to it. 0, -EEXIST, -EINVAL, -ENOSPC (over
 * BUS_PEERS_MAX), -EPERM (not loopback and no secret). */
int bus_add_peer(bus_t *bus, uint32_t id, const char *host, uint16_t port);

/* Removes a peer: drops its queue and closes its connections, both ways. 0 or -ENOENT. */
int bus_remove_peer(bus_t *bus, uint32_t id);

/* Fills *out for one peer. 0 or -ENOENT. */
int bus_stats(const bus_t *bus, uint32_t peer_id, bus_peer_stats_t *out);

/* Copies up to max peer ids into ids; returns how many peers there are. */
size_t bus_peer_ids(const bus_t *bus, uint32_t *ids, size_t max);

void bus_counters(const bus_t *bus, bus_counters_t *out);

/* Parses a peer list "ID@HOST:PORT,ID@HOST:PORT,..." (IPv6 hosts in brackets: 1@[::1]:17000)
 * into out (room for max). 0 with *count set, or -EINVAL with a reason in err. */
int bus_peers_parse(const char *spec, bus_peer_addr_t *out, size_t max, size_t *count, char *err,
                    size_t err_len);

/* 1 when host is a loopback literal (127.0.0.0/8, ::1, ::ffff:127.x) or "localhost". */
int bus_host_is_loopback(const char *host);

#endif
