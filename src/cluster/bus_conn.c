/* bus_conn: the cluster bus' connections: dialing, accepting, the handshake, reading frames
 * and writing batches (the API and the queues are in bus.c; design in docs/ARCHITECTURE.md).
 *
 * Handshake, all three frames MAC'd with the cluster secret and carrying sequence number 0:
 *   dialer   -> listener  HELLO    payload nonce_hello
 *   listener -> dialer    WELCOME  payload nonce_hello | nonce_welcome
 *   dialer   -> listener  PROOF    payload nonce_welcome | nonce_hello
 * Each side proves it knows the secret by MACing the other's fresh nonce, so a recorded
 * handshake cannot be replayed. Then both derive the session key
 *   HMAC(secret, "polis-bus-session-v1" | dialer id | listener id | nonce_hello | nonce_welcome)
 * and the dialer's data frames carry it and sequence numbers 1, 2, 3... which the listener
 * checks, so frames cannot be replayed, reordered or moved to another connection either.
 * Data flows one way per connection: each node sends on the connection it dialed. */
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "cluster/bus_int.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

/* Room made in the receive buffer before each read. */
#define BUS_READ_CHUNK (64u << 10)

typedef struct bus_write {
    uv_write_t req;
    bus_conn_t *conn;
    buf_t data;
} bus_write_t;

static const char session_label[] = "polis-bus-session-v1";

static bus_conn_t *conn_new(bus_t *bus, int outgoing) {
    bus_conn_t *c = mem_calloc(1, sizeof *c);
    c->bus = bus;
    c->outgoing = outgoing;
    buf_init(&c->in);
    buf_init(&c->spare);
    uv_tcp_init(bus->loop, &c->tcp);
    uv_timer_init(bus->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->connect.data = c;
    c->handles = 2;
    c->last_rx_ms = c->last_tx_ms = uv_now(bus->loop);
    bus->refs++;
    return c;
}

static void conn_on_closed(uv_handle_t *handle) {
    bus_conn_t *c = handle->data;
    assert(c->handles > 0);
    if (--c->handles > 0) {
        return;
    }
    bus_t *bus = c->bus;
    buf_free(&c->in);
    buf_free(&c->spare);
    bus_mac_free(c->session);
    mem_free(c);
    bus_unref(bus);
}

static void conn_unlink(bus_conn_t *c) {
    bus_conn_t **p = &c->bus->incoming;
    while (*p && *p != c) {
        p = &(*p)->next;
    }
    if (*p) {
        *p = c->next;
        c->bus->incoming_count--;
    }
}

/* Writes "peer N (ADDR:PORT)" or "ADDR:PORT" for log lines. */
static void conn_describe(bus_conn_t *c, char *out, size_t n) {
    struct sockaddr_storage ss;
    int len = sizeof ss;
    char addr[64] = "?";
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, addr, sizeof addr);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, addr, sizeof addr);
        }
    }
    if (c->peer_id) {
        snprintf(out, n, "peer %u (%s)", c->peer_id, addr);
    } else {
        snprintf(out, n, "%s", addr);
    }
}

void bus_conn_close(bus_conn_t *c, const char *reason) {
    assert(c != NULL && reason != NULL);
    if (c->closing) {
        return;
    }
    c->closing = 1;
    if (c->outgoing) {
        bus_peer_t *peer = c->peer;
        c->peer = NULL;
        if (peer) {
            peer->out = NULL;
            if (c->state == CONN_READY) {
                log_notice("bus", "lost connection to peer %u: %s", peer->addr.id, reason);
            } else if (peer->attempts == 0) { /* the first failure of a run of them */
                log_notice("bus", "cannot connect to peer %u at %s:%u: %s (retrying)",
                           peer->addr.id, peer->addr.host, (unsigned)peer->addr.port, reason);
            } else {
                log_debug("bus", "cannot connect to peer %u: %s", peer->addr.id, reason);
            }
            bus_peer_schedule_retry(peer);
        }
    } else {
        conn_unlink(c);
        log_debug("bus", "incoming connection from peer %u closed: %s", c->peer_id, reason);
    }
    uv_close((uv_handle_t *)&c->tcp, conn_on_closed);
    uv_close((uv_handle_t *)&c->timer, conn_on_closed);
}

/* Once nothing is in flight, what was queued meanwhile (or behind a batch's byte bound) is
 * written at the next flush. */
static void conn_after_write(bus_conn_t *c) {
    if (c->outgoing && c->peer && c->writing == 0 && c->peer->queue.count > 0) {
        bus_mark_dirty(c->bus);
    }
}

static void conn_on_written(uv_write_t *req, int status) {
    bus_write_t *w = (bus_write_t *)req;
    bus_conn_t *c = w->conn;
    buf_free(&w->data);
    mem_free(w);
    assert(c->writing > 0);
    c->writing--;
    if (c->closing) {
        return;
    }
    if (status < 0) {
        bus_conn_close(c, uv_strerror(status));
        return;
    }
    conn_after_write(c);
}

/* Keeps a buffer written whole for the connection's next batch (no allocation and no regrowth
 * per batch); one that grew past the bound is freed. */
static void conn_keep_spare(bus_conn_t *c, buf_t *data) {
    if (c->spare.data == NULL && data->cap <= BUS_SPARE_BYTES_MAX) {
        c->spare = *data;
        c->spare.len = 0;
        buf_init(data);
        return;
    }
    buf_free(data);
}

void bus_conn_take_spare(bus_conn_t *c, buf_t *out) {
    assert(c != NULL && out != NULL);
    *out = c->spare;
    buf_init(&c->spare);
}

/* As much as the socket takes now (no request, no callback, no poll change), the rest through
 * uv_write, which keeps the order behind writes still in flight. */
void bus_conn_write(bus_conn_t *c, buf_t *data) {
    assert(c != NULL && data != NULL);
    if (c->closing || data->len == 0) {
        buf_free(data);
        return;
    }
    c->last_tx_ms = uv_now(c->bus->loop);
    size_t done = 0;
    if (c->writing == 0) {
        uv_buf_t now = uv_buf_init(data->data, (unsigned)data->len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
        if (n < 0 && n != UV_EAGAIN) {
            buf_free(data);
            bus_conn_close(c, uv_strerror(n));
            return;
        }
        done = n > 0 ? (size_t)n : 0;
        if (done == data->len) {
            conn_keep_spare(c, data);
            conn_after_write(c);
            return;
        }
    }
    bus_write_t *w = mem_alloc(sizeof *w);
    w->conn = c;
    w->data = *data;
    buf_init(data);
    uv_buf_t b = uv_buf_init(w->data.data + done, (unsigned)(w->data.len - done));
    c->writing++;
    int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, conn_on_written);
    if (rc < 0) {
        c->writing--;
        buf_free(&w->data);
        mem_free(w);
        bus_conn_close(c, uv_strerror(rc));
    }
}

static int is_handshake_type(uint16_t type) {
    return type == BUS_MSG_HELLO || type == BUS_MSG_WELCOME || type == BUS_MSG_PROOF;
}

int bus_conn_encode(bus_conn_t *c, buf_t *out, uint16_t type, stamp_t stamp, const void *payload,
                    uint32_t len) {
    assert(c != NULL && out != NULL);
    int handshake = is_handshake_type(type);
    assert(handshake || c->session != NULL);
    bus_frame_t f = {
        .type = type,
        .from = c->bus->id,
        .to = c->peer_id,
        .seq = handshake ? 0 : c->seq_out++,
        .stamp = stamp,
        .payload = payload,
        .payload_len = len,
    };
    return bus_frame_encode(out, &f, handshake ? c->bus->base_mac : c->session);
}

/* Encodes a bus-internal frame, ticking the clock for its stamp. */
static void conn_encode_internal(bus_conn_t *c, buf_t *out, uint16_t type, const void *payload,
                                 uint32_t len) {
    stamp_t stamp = hlc_tick(c->bus->clock, time_wall_ms());
    int rc = bus_conn_encode(c, out, type, stamp, payload, len);
    assert(rc == 0); /* internal payloads are tiny */
    (void)rc;
}

static int conn_derive_session(bus_conn_t *c) {
    bus_t *bus = c->bus;
    uint8_t material[sizeof session_label - 1 + 8 + 2 * BUS_NONCE_SIZE];
    uint32_t dialer = c->outgoing ? bus->id : c->peer_id;
    uint32_t listener = c->outgoing ? c->peer_id : bus->id;
    size_t n = sizeof session_label - 1;
    memcpy(material, session_label, n);
    for (int i = 0; i < 4; i++) {
        material[n + i] = (uint8_t)(dialer >> (24 - 8 * i));
        material[n + 4 + i] = (uint8_t)(listener >> (24 - 8 * i));
    }
    n += 8;
    memcpy(material + n, c->nonce_hello, BUS_NONCE_SIZE);
    memcpy(material + n + BUS_NONCE_SIZE, c->nonce_welcome, BUS_NONCE_SIZE);
    uint8_t key[BUS_FRAME_MAC_SIZE];
    int rc = bus_mac_compute(bus->base_mac, material, sizeof material, key);
    if (rc == 0) {
        rc = bus_mac_create(key, sizeof key, &c->session);
    }
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

static void conn_on_handshake_timeout(uv_timer_t *timer) {
    bus_conn_close(timer->data, "handshake timed out");
}

/* Dialer, once ready: a ping whenever no write is in flight, so a dead peer shows up as
 * unacknowledged data (TCP_USER_TIMEOUT) and the listener's idle check stays quiet. */
static void conn_on_ping_timer(uv_timer_t *timer) {
    bus_conn_t *c = timer->data;
    if (c->closing || c->writing > 0) {
        return;
    }
    buf_t data;
    buf_init(&data);
    conn_encode_internal(c, &data, BUS_MSG_PING, NULL, 0);
    if (c->peer) {
        c->peer->stats.frames_out++;
        c->peer->stats.bytes_out += data.len;
    }
    bus_conn_write(c, &data);
}

/* Listener, once ready: a dialer that stopped pinging is gone (or cut off): close. */
static void conn_on_idle_timer(uv_timer_t *timer) {
    bus_conn_t *c = timer->data;
    if (uv_now(c->bus->loop) - c->last_rx_ms > c->bus->idle_timeout_ms) {
        bus_conn_close(c, "no traffic within the idle timeout");
    }
}

/* Tunes a connected socket: no Nagle delay (batching is ours), and data left unacknowledged
 * for idle_timeout_ms breaks the connection instead of waiting minutes for TCP to give up. */
static void conn_tune(bus_conn_t *c) {
    uv_tcp_nodelay(&c->tcp, 1);
    uv_os_fd_t fd;
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0) {
        unsigned int timeout_ms = c->bus->idle_timeout_ms;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof timeout_ms);
    }
}

/* Dialer: WELCOME proves the listener knows the secret (it MAC'd our fresh nonce). Answer with
 * PROOF and, in the same write, everything queued for the peer. */
static int conn_on_welcome(bus_conn_t *c, const bus_frame_t *f, const char **why) {
    if (f->type != BUS_MSG_WELCOME || f->seq != 0 || f->from != c->peer_id ||
        f->payload_len != 2 * BUS_NONCE_SIZE ||
        CRYPTO_memcmp(f->payload, c->nonce_hello, BUS_NONCE_SIZE) != 0) {
        *why = "bad WELCOME (wrong peer id at this address, or a stale handshake)";
        return -EPROTO;
    }
    memcpy(c->nonce_welcome, f->payload + BUS_NONCE_SIZE, BUS_NONCE_SIZE);
    if (conn_derive_session(c) != 0) {
        *why = "cannot derive the session key";
        return -EIO;
    }
    uint8_t proof[2 * BUS_NONCE_SIZE];
    memcpy(proof, c->nonce_welcome, BUS_NONCE_SIZE);
    memcpy(proof + BUS_NONCE_SIZE, c->nonce_hello, BUS_NONCE_SIZE);
    buf_t data;
    buf_init(&data);
    conn_encode_internal(c, &data, BUS_MSG_PROOF, proof, sizeof proof);
    c->seq_out = 1;
    c->state = CONN_READY;
    assert(c->peer != NULL);
    bus_peer_on_ready(c->peer);
    bus_peer_drain(c->peer, c, &data);
    bus_conn_write(c, &data);
    uv_timer_start(&c->timer, conn_on_ping_timer, c->bus->ping_interval_ms,
                   c->bus->ping_interval_ms);
    return 0;
}

/* Listener: HELLO names the dialer; it must be a peer we know. */
static int conn_on_hello(bus_conn_t *c, const bus_frame_t *f, const char **why) {
    bus_t *bus = c->bus;
    if (f->type != BUS_MSG_HELLO || f->seq != 0 || f->payload_len != BUS_NONCE_SIZE) {
        *why = "expected HELLO";
        return -EPROTO;
    }
    bus_peer_t *peer = bus_find_peer(bus, f->from);
    if (!peer) {
        bus->counters.refused++;
        *why = "HELLO from an unknown node id";
        return -EPROTO;
    }
    c->peer = peer;
    c->peer_id = f->from;
    memcpy(c->nonce_hello, f->payload, BUS_NONCE_SIZE);
    if (RAND_bytes(c->nonce_welcome, BUS_NONCE_SIZE) != 1) {
        *why = "no randomness for a nonce";
        return -EIO;
    }
    uint8_t welcome[2 * BUS_NONCE_SIZE];
    memcpy(welcome, c->nonce_hello, BUS_NONCE_SIZE);
    memcpy(welcome + BUS_NONCE_SIZE, c->nonce_welcome, BUS_NONCE_SIZE);
    buf_t data;
    buf_init(&data);
    conn_encode_internal(c, &data, BUS_MSG_WELCOME, welcome, sizeof welcome);
    bus_conn_write(c, &data);
    c->state = CONN_AWAIT_PROOF;
    return 0;
}

/* Listener: PROOF proves the dialer knows the secret; older connections from it are stale. */
static int conn_on_proof(bus_conn_t *c, const bus_frame_t *f, const char **why) {
    bus_t *bus = c->bus;
    if (f->type != BUS_MSG_PROOF || f->seq != 0 || f->from != c->peer_id ||
        f->payload_len != 2 * BUS_NONCE_SIZE ||
        CRYPTO_memcmp(f->payload, c->nonce_welcome, BUS_NONCE_SIZE) != 0 ||
        CRYPTO_memcmp(f->payload + BUS_NONCE_SIZE, c->nonce_hello, BUS_NONCE_SIZE) != 0) {
        *why = "bad PROOF";
        return -EPROTO;
    }
    if (conn_derive_session(c) != 0) {
        *why = "cannot derive the session key";
        return -EIO;
    }
    c->seq_in = 1;
    c->state = CONN_READY;
    bus_conn_t *o = bus->incoming;
    while (o) { /* closing unlinks o, so restart from the head after each */
        if (o != c && o->peer_id == c->peer_id) {
            bus_conn_close(o, "replaced by a newer connection from the same peer");
            o = bus->incoming;
        } else {
            o = o->next;
        }
    }
    uint64_t check_ms = bus->idle_timeout_ms / 2 ? bus->idle_timeout_ms / 2 : 1;
    uv_timer_start(&c->timer, conn_on_idle_timer, check_ms, check_ms);
    log_verbose("bus", "accepted connection from peer %u", c->peer_id);
    return 0;
}

/* Listener, ready: a data frame, in sequence, from the peer that shook hands. */
static int conn_on_data(bus_conn_t *c, const bus_frame_t *f, size_t size, const char **why) {
    if (f->from != c->peer_id || f->seq != c->seq_in) {
        *why = f->from != c->peer_id ? "sender id changed" : "frame out of sequence";
        return -EPROTO;
    }
    c->seq_in++;
    if (c->peer) {
        c->peer->stats.frames_in++;
        c->peer->stats.bytes_in += size;
    }
    if (f->type == BUS_MSG_PING) {
        return 0;
    }
    if (f->type < BUS_TYPE_USER_MIN) {
        *why = "unexpected bus message type";
        return -EPROTO;
    }
    bus_deliver(c->bus, c, f);
    return 0;
}

static int conn_on_frame(bus_conn_t *c, const bus_frame_t *f, size_t size, const char **why) {
    if (f->to != c->bus->id) {
        *why = "frame addressed to another node id";
        return -EPROTO;
    }
    switch (c->state) {
    case CONN_HELLO_SENT:
        return conn_on_welcome(c, f, why);
    case CONN_AWAIT_HELLO:
        return conn_on_hello(c, f, why);
    case CONN_AWAIT_PROOF:
        return conn_on_proof(c, f, why);
    case CONN_READY:
        if (c->outgoing) {
            *why = "data on an outgoing connection";
            return -EPROTO;
        }
        return conn_on_data(c, f, size, why);
    case CONN_CONNECTING:
        break;
    }
    *why = "frame before the handshake";
    return -EPROTO;
}

/* Logs why a frame was refused, counts it, and closes the connection. */
static void conn_refuse(bus_conn_t *c, int rc, const char *why) {
    char who[96];
    conn_describe(c, who, sizeof who);
    if (rc == -EBADMSG) {
        c->bus->counters.auth_failures++;
        log_warning("bus",
                    "dropping a frame from %s that failed authentication (is the cluster "
                    "secret the same on both nodes?); closing the connection",
                    who);
    } else {
        c->bus->counters.protocol_errors++;
        log_warning("bus", "dropping a frame from %s: %s; closing the connection", who, why);
    }
    bus_conn_close(c, why);
}

static const char *decode_error(int rc) {
    switch (rc) {
    case -EPROTO:
        return "bad magic or flags";
    case -EPROTONOSUPPORT:
        return "unsupported frame version";
    case -EMSGSIZE:
        return "payload over the frame size limit";
    case -EBADMSG:
        return "authentication failed";
    default:
        return "cannot decode frame";
    }
}

/* Decodes and handles every complete frame in the receive buffer. A handler may close this
 * connection (bus_remove_peer): the conn stays allocated until its close callback, and the
 * loop stops at once. */
static void conn_process(bus_conn_t *c) {
    bus_t *bus = c->bus;
    size_t off = 0;
    while (!c->closing && off < c->in.len) {
        bus_mac_t *mac = c->state == CONN_READY && !c->outgoing ? c->session : bus->base_mac;
        bus_frame_t f;
        size_t used = 0;
        const uint8_t *p = (const uint8_t *)c->in.data + off;
        int rc = bus_frame_decode(p, c->in.len - off, mac, &f, &used);
        if (rc == -EAGAIN) {
            break;
        }
        const char *why = decode_error(rc);
        if (rc == 0) {
            off += used;
            hlc_receive(bus->clock, f.stamp, time_wall_ms());
            rc = conn_on_frame(c, &f, used, &why);
        }
        if (rc != 0) {
            conn_refuse(c, rc, why);
            return;
        }
    }
    if (!c->closing) {
        buf_consume(&c->in, off);
    }
}

static void conn_on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *out) {
    bus_conn_t *c = handle->data;
    (void)suggested;
    buf_reserve(&c->in, BUS_READ_CHUNK);
    *out = uv_buf_init(c->in.data + c->in.len, (unsigned)(c->in.cap - c->in.len));
}

static void conn_on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *b) {
    bus_conn_t *c = stream->data;
    (void)b;
    if (nread == 0 || c->closing) {
        return;
    }
    if (nread < 0) {
        bus_conn_close(c, nread == UV_EOF ? "closed by the other end" : uv_strerror((int)nread));
        return;
    }
    c->in.len += (size_t)nread;
    c->last_rx_ms = uv_now(c->bus->loop);
    conn_process(c);
}

static void conn_on_connect(uv_connect_t *req, int status) {
    bus_conn_t *c = req->data;
    if (status == UV_ECANCELED || c->closing) {
        return;
    }
    if (status < 0) {
        bus_conn_close(c, uv_strerror(status));
        return;
    }
    conn_tune(c);
    if (RAND_bytes(c->nonce_hello, BUS_NONCE_SIZE) != 1) {
        bus_conn_close(c, "no randomness for a nonce");
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
    buf_t data;
    buf_init(&data);
    conn_encode_internal(c, &data, BUS_MSG_HELLO, c->nonce_hello, BUS_NONCE_SIZE);
    c->state = CONN_HELLO_SENT;
    bus_conn_write(c, &data);
}

void bus_conn_dial(bus_peer_t *peer, const struct sockaddr *addr) {
    assert(peer != NULL && addr != NULL);
    assert(peer->out == NULL);
    bus_t *bus = peer->bus;
    bus_conn_t *c = conn_new(bus, 1);
    c->peer = peer;
    c->peer_id = peer->addr.id;
    c->state = CONN_CONNECTING;
    peer->out = c;
    uv_timer_start(&c->timer, conn_on_handshake_timeout, bus->handshake_timeout_ms, 0);
    int rc = uv_tcp_connect(&c->connect, &c->tcp, addr, conn_on_connect);
    if (rc < 0) {
        bus_conn_close(c, uv_strerror(rc));
    }
}

void bus_on_connection(uv_stream_t *listener, int status) {
    bus_t *bus = listener->data;
    if (status < 0) {
        log_warning("bus", "accepting a bus connection failed: %s", uv_strerror(status));
        return;
    }
    bus_conn_t *c = conn_new(bus, 0);
    c->next = bus->incoming;
    bus->incoming = c;
    bus->incoming_count++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        bus_conn_close(c, "accept failed");
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof ss;
    int known = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0;
    const char *refuse = NULL;
    if (bus->incoming_count > BUS_INCOMING_MAX) {
        refuse = "too many incoming bus connections";
    } else if (!bus->has_secret && (!known || !bus_sockaddr_is_loopback((struct sockaddr *)&ss))) {
        refuse = "not on loopback and no cluster secret is set";
    }
    if (refuse) {
        char who[96];
        conn_describe(c, who, sizeof who);
        bus->counters.refused++;
        log_warning("bus", "refusing bus connection from %s: %s", who, refuse);
        bus_conn_close(c, refuse);
        return;
    }
    conn_tune(c);
    c->state = CONN_AWAIT_HELLO;
    uv_timer_start(&c->timer, conn_on_handshake_timeout, bus->handshake_timeout_ms, 0);
    uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read);
}
