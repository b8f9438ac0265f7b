/* bus_int: the cluster bus' internal structures, shared by bus.c (peers, queues, the API) and
 * bus_conn.c (connections and the handshake). Not for use outside src/cluster/. */
#ifndef POLIS_CLUSTER_BUS_INT_H
#define POLIS_CLUSTER_BUS_INT_H

#include "cluster/bus.h"
#include "cluster/frame.h"
#include "core/buf.h"

/* Bus-internal message types (below BUS_TYPE_USER_MIN). */
enum bus_internal_type {
    BUS_MSG_HELLO = 1,   /* dialer -> listener: nonce_hello */
    BUS_MSG_WELCOME = 2, /* listener -> dialer: nonce_hello, nonce_welcome */
    BUS_MSG_PROOF = 3,   /* dialer -> listener: nonce_welcome, nonce_hello */
    BUS_MSG_PING = 4,    /* dialer -> listener when idle: keeps liveness detectable */
};

#define BUS_NONCE_SIZE 16
/* A connection keeps an emptied write buffer up to this capacity for its next batch. */
#define BUS_SPARE_BYTES_MAX (2 * BUS_WRITE_BYTES_MAX)

/* One queued message: what bus_send was given, stamped, not yet encoded (the sequence number
 * and MAC are assigned when it is written, so drops leave no gap on the wire). */
typedef struct bus_msg {
    stamp_t stamp;
    uint32_t len;
    uint16_t type;
    uint8_t data[];
} bus_msg_t;

/* A bounded ring of messages. */
typedef struct bus_queue {
    bus_msg_t **items;
    size_t cap;
    size_t head;
    size_t count;
    size_t bytes;
} bus_queue_t;

enum bus_conn_state {
    CONN_CONNECTING,  /* dialer: TCP connect in progress */
    CONN_HELLO_SENT,  /* dialer: waiting for WELCOME */
    CONN_AWAIT_HELLO, /* listener: waiting for HELLO */
    CONN_AWAIT_PROOF, /* listener: waiting for PROOF */
    CONN_READY,       /* authenticated: data frames under the session key */
};

typedef struct bus_peer bus_peer_t;

typedef struct bus_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* handshake timeout, then ping (dialer) or idle check (listener) */
    uv_connect_t connect;
    bus_t *bus;
    bus_peer_t *peer; /* dialer: the owning peer; listener: the identified peer. May be NULL. */
    uint32_t peer_id; /* the id the peer proved (listener) or the id we dialed (dialer) */
    int outgoing;
    int closing;
    int handles; /* libuv handles not yet closed; the conn is freed at 0 */
    int writing; /* a write is in flight */
    enum bus_conn_state state;
    buf_t in;
    buf_t spare; /* an empty buffer kept from the last write that completed at once */
    bus_mac_t *session;
    uint64_t seq_in;
    uint64_t seq_out;
    uint64_t last_rx_ms;
    uint64_t last_tx_ms;
    uint8_t nonce_hello[BUS_NONCE_SIZE];
    uint8_t nonce_welcome[BUS_NONCE_SIZE];
    struct bus_conn *next; /* listener: the bus' list of accepted connections */
} bus_conn_t;

typedef struct bus_resolve bus_resolve_t;

struct bus_peer {
    bus_t *bus;
    bus_peer_addr_t addr;
    bus_conn_t *out; /* the outgoing connection, or NULL between attempts */
    uv_timer_t retry;
    bus_resolve_t *resolving;
    bus_queue_t queue;
    bus_peer_stats_t stats; /* counters; connected and queued_* are filled by bus_stats */
    uint32_t attempts;      /* failed attempts since the last handshake, for the backoff */
    int ever_connected;
    int removed;
};

typedef struct bus_handler {
    bus_handler_cb *cb;
    void *ctx;
} bus_handler_t;

struct bus {
    uv_loop_t *loop;
    hlc_t *clock;
    uint32_t id;
    uint16_t port;
    int closing;
    int dirty;   /* some peer may have messages to write */
    size_t refs; /* live peers, connections and own handles; freed at 0 once closing */
    size_t queue_frames_max;
    size_t queue_bytes_max;
    enum bus_drop_policy drop_policy;
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    uint32_t handshake_timeout_ms;
    uint32_t ping_interval_ms;
    uint32_t idle_timeout_ms;
    uint64_t rng;
    uv_tcp_t listener;
    uv_check_t check;
    uv_idle_t idle;
    int has_secret;
    size_t secret_len;
    uint8_t secret[BUS_SECRET_MAX];
    bus_mac_t *base_mac; /* keyed by the secret: handshake frames */
    bus_peer_t *peers[BUS_PEERS_MAX];
    size_t peer_count;
    bus_conn_t *incoming;
    size_t incoming_count;
    bus_counters_t counters;
    bus_handler_t handlers[BUS_TYPE_LIMIT];
};

/* bus.c */
bus_peer_t *bus_find_peer(const bus_t *bus, uint32_t id);
void bus_unref(bus_t *bus);
void bus_mark_dirty(bus_t *bus);
/* Encodes the peer's queued messages onto out under c's session key, up to about
 * BUS_WRITE_BYTES_MAX bytes (at least one message); the rest stays queued. */
void bus_peer_drain(bus_peer_t *peer, bus_conn_t *c, buf_t *out);
void bus_peer_schedule_retry(bus_peer_t *peer);
/* Called by the connection layer when the peer's outgoing connection finished its handshake. */
void bus_peer_on_ready(bus_peer_t *peer);
/* Dispatches an authenticated user frame to its handler. */
void bus_deliver(bus_t *bus, bus_conn_t *c, const bus_frame_t *frame);

/* bus_conn.c */
void bus_conn_dial(bus_peer_t *peer, const struct sockaddr *addr);
void bus_conn_close(bus_conn_t *c, const char *reason);
/* Writes the bytes of data (taking them: data is left empty). May close c on a write error. */
void bus_conn_write(bus_conn_t *c, buf_t *data);
/* Moves c's spare write buffer (empty, possibly with capacity) into out, to encode a batch in. */
void bus_conn_take_spare(bus_conn_t *c, buf_t *out);
/* Encodes one frame from us to c's peer onto out; handshake frames use the base key. */
int bus_conn_encode(bus_conn_t *c, buf_t *out, uint16_t type, stamp_t stamp, const void *payload,
                    uint32_t len);
void bus_on_connection(uv_stream_t *listener, int status);
int bus_sockaddr_is_loopback(const struct sockaddr *sa);

#endif
