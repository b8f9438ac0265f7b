/* bus: the cluster bus' API, its peers and their bounded send queues (see bus.h; connections
 * and the handshake are in bus_conn.c; the design is in docs/ARCHITECTURE.md, "Cluster bus").
 *
 * Batching: bus_send only queues and marks the bus dirty, which starts an idle handle (so the
 * loop does not block in poll) and lets the check handle, which runs after poll, write every
 * peer's queue as one buffer. Messages sent from timers and from I/O callbacks of one loop turn
 * therefore leave together. At most one write is in flight per connection; what is sent
 * meanwhile waits in the queue and leaves with the next write. */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "cluster/bus_int.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"

/* xorshift64*: the jitter of reconnect delays only, never anything secret. */
static uint64_t bus_random(bus_t *bus) {
    uint64_t x = bus->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    bus->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Exponential backoff from reconnect_min_ms to reconnect_max_ms, with "equal jitter": half
 * the delay fixed, half random, so peers that lost each other at once do not retry in step. */
static uint64_t bus_backoff_ms(bus_t *bus, uint32_t attempts) {
    uint64_t delay = bus->reconnect_min_ms;
    for (uint32_t i = 0; i < attempts && delay < bus->reconnect_max_ms; i++) {
        delay *= 2;
    }
    if (delay > bus->reconnect_max_ms) {
        delay = bus->reconnect_max_ms;
    }
    uint64_t half = delay / 2;
    return half + bus_random(bus) % (delay - half + 1);
}

static void queue_init(bus_queue_t *q, size_t cap) {
    q->items = mem_calloc(cap, sizeof *q->items);
    q->cap = cap;
    q->head = 0;
    q->count = 0;
    q->bytes = 0;
}

static bus_msg_t *queue_pop(bus_queue_t *q) {
    assert(q->count > 0);
    bus_msg_t *m = q->items[q->head];
    q->items[q->head] = NULL;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    q->bytes -= m->len;
    return m;
}

static void queue_push(bus_queue_t *q, bus_msg_t *m) {
    assert(q->count < q->cap);
    q->items[(q->head + q->count) % q->cap] = m;
    q->count++;
    q->bytes += m->len;
}

static void queue_free(bus_queue_t *q) {
    while (q->count > 0) {
        mem_free(queue_pop(q));
    }
    mem_free(q->items);
    q->items = NULL;
}

bus_peer_t *bus_find_peer(const bus_t *bus, uint32_t id) {
    for (size_t i = 0; i < bus->peer_count; i++) {
        if (bus->peers[i]->addr.id == id) {
            return bus->peers[i];
        }
    }
    return NULL;
}

void bus_unref(bus_t *bus) {
    assert(bus->refs > 0);
    bus->refs--;
    if (bus->refs == 0 && bus->closing) {
        bus_mac_free(bus->base_mac);
        OPENSSL_cleanse(bus->secret, sizeof bus->secret);
        mem_free(bus);
    }
}

static void bus_on_idle(uv_idle_t *idle) {
    (void)idle;
}

static void bus_on_check(uv_check_t *check) {
    bus_t *bus = check->data;
    if (bus->dirty) {
        bus_flush(bus);
    }
}

void bus_mark_dirty(bus_t *bus) {
    if (!bus->dirty && !bus->closing) {
        bus->dirty = 1;
        uv_idle_start(&bus->idle, bus_on_idle);
    }
}

void bus_peer_drain(bus_peer_t *peer, bus_conn_t *c, buf_t *out) {
    assert(c->state == CONN_READY);
    if (peer->queue.count > 0) {
        peer->stats.writes++;
    }
    while (peer->queue.count > 0 && out->len < BUS_WRITE_BYTES_MAX) {
        bus_msg_t *m = queue_pop(&peer->queue);
        size_t before = out->len;
        int rc = bus_conn_encode(c, out, m->type, m->stamp, m->data, m->len);
        assert(rc == 0); /* lengths were checked by bus_send */
        (void)rc;
        peer->stats.frames_out++;
        peer->stats.bytes_out += out->len - before;
        mem_free(m);
    }
}

static void peer_flush(bus_peer_t *peer) {
    bus_conn_t *c = peer->out;
    if (!c || c->state != CONN_READY || c->writing || peer->queue.count == 0) {
        return;
    }
    buf_t data;
    bus_conn_take_spare(c, &data);
    bus_peer_drain(peer, c, &data);
    bus_conn_write(c, &data);
}

void bus_flush(bus_t *bus) {
    assert(bus != NULL);
    bus->dirty = 0;
    uv_idle_stop(&bus->idle);
    for (size_t i = 0; i < bus->peer_count; i++) {
        peer_flush(bus->peers[i]);
    }
}

struct bus_resolve {
    uv_getaddrinfo_t req;
    bus_peer_t *peer; /* NULL once the peer is gone */
};

static void peer_on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
    bus_resolve_t *r = req->data;
    bus_peer_t *peer = r->peer;
    if (peer) {
        peer->resolving = NULL;
        if (status < 0 || !res) {
            log_notice("bus", "cannot resolve peer %u host %s: %s", peer->addr.id, peer->addr.host,
                       uv_strerror(status));
            bus_peer_schedule_retry(peer);
        } else {
            /* A name may resolve to several addresses (localhost: ::1 and 127.0.0.1): each
             * failed attempt moves on to the next one. */
            size_t n = 0;
            for (struct addrinfo *a = res; a; a = a->ai_next) {
                n++;
            }
            struct addrinfo *pick = res;
            for (size_t i = peer->attempts % n; i > 0; i--) {
                pick = pick->ai_next;
            }
            if (!peer->bus->has_secret && !bus_sockaddr_is_loopback(pick->ai_addr)) {
                log_warning("bus",
                            "peer %u host %s is not on loopback and no cluster secret "
                            "is set: not connecting",
                            peer->addr.id, peer->addr.host);
                bus_peer_schedule_retry(peer);
            } else {
                bus_conn_dial(peer, pick->ai_addr);
            }
        }
    }
    uv_freeaddrinfo(res);
    mem_free(r);
}

static void peer_connect(bus_peer_t *peer) {
    assert(!peer->out && !peer->resolving);
    struct sockaddr_storage ss;
    struct sockaddr *sa = (struct sockaddr *)&ss;
    if (uv_ip4_addr(peer->addr.host, peer->addr.port, (struct sockaddr_in *)&ss) == 0 ||
        uv_ip6_addr(peer->addr.host, peer->addr.port, (struct sockaddr_in6 *)&ss) == 0) {
        bus_conn_dial(peer, sa);
        return;
    }
    bus_resolve_t *r = mem_calloc(1, sizeof *r);
    r->peer = peer;
    r->req.data = r;
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)peer->addr.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc =
        uv_getaddrinfo(peer->bus->loop, &r->req, peer_on_resolved, peer->addr.host, port, &hints);
    if (rc < 0) {
        mem_free(r);
        bus_peer_schedule_retry(peer);
        return;
    }
    peer->resolving = r;
}

static void peer_on_retry(uv_timer_t *timer) {
    bus_peer_t *peer = timer->data;
    if (!peer->removed && !peer->out && !peer->resolving) {
        peer_connect(peer);
    }
}

void bus_peer_schedule_retry(bus_peer_t *peer) {
    if (peer->removed || peer->bus->closing) {
        return;
    }
    uint64_t delay = bus_backoff_ms(peer->bus, peer->attempts);
    if (peer->attempts < 32) {
        peer->attempts++;
    }
    uv_timer_start(&peer->retry, peer_on_retry, delay, 0);
}

void bus_peer_on_ready(bus_peer_t *peer) {
    peer->attempts = 0;
    if (peer->ever_connected) {
        peer->stats.reconnects++;
    }
    peer->ever_connected = 1;
    log_notice("bus", "connected to peer %u at %s:%u", peer->addr.id, peer->addr.host,
               (unsigned)peer->addr.port);
}

void bus_deliver(bus_t *bus, bus_conn_t *c, const bus_frame_t *frame) {
    assert(frame->type >= BUS_TYPE_USER_MIN);
    bus_handler_t *h = frame->type < BUS_TYPE_LIMIT ? &bus->handlers[frame->type] : NULL;
    if (!h || !h->cb) {
        if (c->peer) {
            c->peer->stats.unhandled++;
        }
        log_debug("bus", "no handler for message type %u from peer %u", frame->type, frame->from);
        return;
    }
    h->cb(h->ctx, frame->from, frame->type, frame->payload, frame->payload_len, frame->stamp);
}

static void peer_on_closed(uv_handle_t *handle) {
    bus_peer_t *peer = handle->data;
    bus_t *bus = peer->bus;
    mem_free(peer);
    bus_unref(bus);
}

/* Detaches and closes everything of one peer; its memory goes when its timer has closed. */
static void peer_remove(bus_peer_t *peer) {
    bus_t *bus = peer->bus;
    peer->removed = 1;
    if (peer->resolving) {
        peer->resolving->peer = NULL;
        uv_cancel((uv_req_t *)&peer->resolving->req);
        peer->resolving = NULL;
    }
    if (peer->out) {
        bus_conn_t *c = peer->out;
        c->peer = NULL;
        peer->out = NULL;
        bus_conn_close(c, "peer removed");
    }
    bus_conn_t *c = bus->incoming;
    while (c) { /* closing unlinks c, so restart from the head after each */
        if (c->peer == peer) {
            c->peer = NULL;
            bus_conn_close(c, "peer removed");
            c = bus->incoming;
        } else {
            c = c->next;
        }
    }
    queue_free(&peer->queue);
    for (size_t i = 0; i < bus->peer_count; i++) {
        if (bus->peers[i] == peer) {
            memmove(&bus->peers[i], &bus->peers[i + 1],
                    (bus->peer_count - i - 1) * sizeof bus->peers[0]);
            bus->peer_count--;
            break;
        }
    }
    uv_close((uv_handle_t *)&peer->retry, peer_on_closed);
}

int bus_add_peer(bus_t *bus, uint32_t id, const char *host, uint16_t port) {
    assert(bus != NULL);
    assert(host != NULL);
    size_t host_len = strlen(host);
    if (bus->closing || id == 0 || id == bus->id || host_len == 0 || host_len > BUS_HOST_MAX ||
        port == 0) {
        return -EINVAL;
    }
    if (bus_find_peer(bus, id)) {
        return -EEXIST;
    }
    if (bus->peer_count == BUS_PEERS_MAX) {
        return -ENOSPC;
    }
    if (!bus->has_secret && !bus_host_is_loopback(host)) {
        log_warning("bus",
                    "refusing peer %u at %s:%u: it is not on loopback and no cluster "
                    "secret is set (set one with --cluster-secret)",
                    id, host, (unsigned)port);
        return -EPERM;
    }
    bus_peer_t *peer = mem_calloc(1, sizeof *peer);
    peer->bus = bus;
    peer->addr.id = id;
    peer->addr.port = port;
    memcpy(peer->addr.host, host, host_len + 1);
    peer->stats.id = id;
    queue_init(&peer->queue, bus->queue_frames_max);
    uv_timer_init(bus->loop, &peer->retry);
    peer->retry.data = peer;
    bus->refs++;
    bus->peers[bus->peer_count++] = peer;
    uv_timer_start(&peer->retry, peer_on_retry, 0, 0); /* dial on the next loop turn */
    return 0;
}

int bus_remove_peer(bus_t *bus, uint32_t id) {
    assert(bus != NULL);
    bus_peer_t *peer = bus_find_peer(bus, id);
    if (!peer) {
        return -ENOENT;
    }
    peer_remove(peer);
    return 0;
}

int bus_send(bus_t *bus, uint32_t peer_id, uint16_t type, const void *payload, size_t len) {
    assert(bus != NULL);
    assert(payload != NULL || len == 0);
    if (bus->closing || type < BUS_TYPE_USER_MIN || type >= BUS_TYPE_LIMIT) {
        return -EINVAL;
    }
    bus_peer_t *peer = bus_find_peer(bus, peer_id);
    if (!peer) {
        return peer_id == bus->id ? -EINVAL : -ENOENT;
    }
    if (len > BUS_FRAME_PAYLOAD_MAX || len > bus->queue_bytes_max) {
        return -EMSGSIZE;
    }
    bus_queue_t *q = &peer->queue;
    if (q->count == q->cap || q->bytes + len > bus->queue_bytes_max) {
        if (bus->drop_policy == BUS_DROP_NEWEST) {
            peer->stats.drops++;
            return -ENOBUFS;
        }
        while (q->count == q->cap || q->bytes + len > bus->queue_bytes_max) {
            mem_free(queue_pop(q));
            peer->stats.drops++;
        }
    }
    bus_msg_t *m = mem_alloc(sizeof *m + len);
    m->type = type;
    m->len = (uint32_t)len;
    m->stamp = hlc_tick(bus->clock, time_wall_ms());
    if (len) {
        memcpy(m->data, payload, len);
    }
    queue_push(q, m);
    bus_mark_dirty(bus);
    return 0;
}

int bus_set_handler(bus_t *bus, uint16_t type, bus_handler_cb *cb, void *ctx) {
    assert(bus != NULL);
    if (type < BUS_TYPE_USER_MIN || type >= BUS_TYPE_LIMIT) {
        return -EINVAL;
    }
    bus->handlers[type].cb = cb;
    bus->handlers[type].ctx = ctx;
    return 0;
}

uint16_t bus_port(const bus_t *bus) {
    return bus->port;
}

int bus_stats(const bus_t *bus, uint32_t peer_id, bus_peer_stats_t *out) {
    assert(bus != NULL);
    assert(out != NULL);
    const bus_peer_t *peer = bus_find_peer(bus, peer_id);
    if (!peer) {
        return -ENOENT;
    }
    *out = peer->stats;
    out->connected = peer->out && peer->out->state == CONN_READY;
    out->queued_frames = peer->queue.count;
    out->queued_bytes = peer->queue.bytes;
    return 0;
}

size_t bus_peer_ids(const bus_t *bus, uint32_t *ids, size_t max) {
    assert(bus != NULL);
    assert(ids != NULL || max == 0);
    for (size_t i = 0; i < bus->peer_count && i < max; i++) {
        ids[i] = bus->peers[i]->addr.id;
    }
    return bus->peer_count;
}

void bus_counters(const bus_t *bus, bus_counters_t *out) {
    assert(bus != NULL);
    assert(out != NULL);
    *out = bus->counters;
}

static void bus_on_own_closed(uv_handle_t *handle) {
    bus_unref(handle->data);
}

void bus_close(bus_t *bus) {
    assert(bus != NULL);
    assert(!bus->closing);
    bus->closing = 1;
    bus->dirty = 0;
    while (bus->peer_count > 0) {
        peer_remove(bus->peers[bus->peer_count - 1]);
    }
    while (bus->incoming) {
        bus_conn_close(bus->incoming, "bus closing");
    }
    uv_close((uv_handle_t *)&bus->listener, bus_on_own_closed);
    uv_close((uv_handle_t *)&bus->check, bus_on_own_closed);
    uv_close((uv_handle_t *)&bus->idle, bus_on_own_closed);
}

/* Copies the options into bus, taking the defaults for zeros. -EINVAL for bad ones. */
static int bus_configure(bus_t *bus, const bus_options_t *o) {
    if (o->id == 0 || !o->clock || o->secret_len > BUS_SECRET_MAX ||
        o->peer_count > BUS_PEERS_MAX || (o->peer_count && !o->peers)) {
        return -EINVAL;
    }
    bus->id = o->id;
    bus->clock = o->clock;
    bus->has_secret = o->secret && o->secret_len > 0;
    if (bus->has_secret) {
        memcpy(bus->secret, o->secret, o->secret_len);
        bus->secret_len = o->secret_len;
    } else {
        /* Without a secret the MACs still catch corruption and strangers' traffic that is not
         * polis'; loopback-only is what keeps other hosts out. */
        static const char no_secret[] = "polis cluster bus without a secret";
        memcpy(bus->secret, no_secret, sizeof no_secret - 1);
        bus->secret_len = sizeof no_secret - 1;
    }
    bus->queue_frames_max = o->queue_frames_max ? o->queue_frames_max : BUS_QUEUE_FRAMES_DEFAULT;
    bus->queue_bytes_max = o->queue_bytes_max ? o->queue_bytes_max : BUS_QUEUE_BYTES_DEFAULT;
    bus->drop_policy = o->drop_policy;
    bus->reconnect_min_ms =
        o->reconnect_min_ms ? o->reconnect_min_ms : BUS_RECONNECT_MIN_MS_DEFAULT;
    bus->reconnect_max_ms =
        o->reconnect_max_ms ? o->reconnect_max_ms : BUS_RECONNECT_MAX_MS_DEFAULT;
    if (bus->reconnect_max_ms < bus->reconnect_min_ms) {
        bus->reconnect_max_ms = bus->reconnect_min_ms;
    }
    bus->handshake_timeout_ms =
        o->handshake_timeout_ms ? o->handshake_timeout_ms : BUS_HANDSHAKE_TIMEOUT_MS_DEFAULT;
    bus->ping_interval_ms =
        o->ping_interval_ms ? o->ping_interval_ms : BUS_PING_INTERVAL_MS_DEFAULT;
    bus->idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : BUS_IDLE_TIMEOUT_MS_DEFAULT;
    bus->rng = o->seed;
    if (bus->rng == 0 && RAND_bytes((unsigned char *)&bus->rng, sizeof bus->rng) != 1) {
        bus->rng = (uint64_t)time_mono_ms();
    }
    bus->rng |= 1; /* xorshift never leaves zero */
    return 0;
}

static int bus_listen(bus_t *bus, const char *host, uint16_t port) {
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
        log_warning("bus", "bad bus listen address %s (an IP address is expected)", host);
        return -EINVAL;
    }
    int rc = uv_tcp_bind(&bus->listener, (struct sockaddr *)&ss, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&bus->listener, 128, bus_on_connection);
    }
    if (rc < 0) {
        log_warning("bus", "cannot listen on %s:%u: %s", host, (unsigned)port, uv_strerror(rc));
        return rc;
    }
    int len = sizeof ss;
    uv_tcp_getsockname(&bus->listener, (struct sockaddr *)&ss, &len);
    bus->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    if (!bus->has_secret && !bus_sockaddr_is_loopback((struct sockaddr *)&ss)) {
        log_notice("bus", "no cluster secret: bus connections are accepted from loopback only");
    }
    return 0;
}

int bus_create(uv_loop_t *loop, const bus_options_t *options, bus_t **out) {
    assert(loop != NULL && options != NULL);
    assert(out != NULL);
    bus_t *bus = mem_calloc(1, sizeof *bus);
    int rc = bus_configure(bus, options);
    if (rc == 0) {
        rc = bus_mac_create(bus->secret, bus->secret_len, &bus->base_mac);
    }
    if (rc != 0) {
        bus_mac_free(bus->base_mac);
        mem_free(bus);
        return rc;
    }
    bus->loop = loop;
    uv_tcp_init(loop, &bus->listener);
    uv_check_init(loop, &bus->check);
    uv_idle_init(loop, &bus->idle);
    bus->listener.data = bus->check.data = bus->idle.data = bus;
    bus->refs = 3;
    uv_check_start(&bus->check, bus_on_check);
    uv_unref((uv_handle_t *)&bus->check);
    rc = bus_listen(bus, options->listen_host ? options->listen_host : "127.0.0.1",
                    options->listen_port);
    for (size_t i = 0; rc == 0 && i < options->peer_count; i++) {
        const bus_peer_addr_t *p = &options->peers[i];
        rc = bus_add_peer(bus, p->id, p->host, p->port);
    }
    if (rc != 0) {
        bus_close(bus); /* frees once the loop has run the close callbacks */
        return rc;
    }
    *out = bus;
    return 0;
}
