/* Tests of the cluster bus (src/cluster/bus.c, bus_conn.c): two or three buses in one process
 * on a real libuv loop over loopback. Every wait is bounded by a generous deadline that only a
 * broken bus reaches; no test asserts a duration. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cluster/bus.h"
#include "core/mem.h"
#include "core/timeutil.h"

#define NODES 3
#define RECEIVED_MAX 4096
#define WAIT_MS 10000
#define TYPE_A 16
#define TYPE_B 17

typedef struct received {
    uint32_t from;
    uint16_t type;
    stamp_t stamp;
    stamp_t clock_after; /* the receiver's clock as the handler saw it */
    uint32_t len;
    uint32_t value; /* first four payload bytes, when there are four */
} received_t;

typedef struct node {
    struct world *world;
    bus_t *bus;
    hlc_t clock;
    uint32_t id;
    uint16_t port;
    size_t count;
    received_t got[RECEIVED_MAX];
    int remove_sender; /* the handler removes the sender as a peer */
} node_t;

typedef struct world {
    uv_loop_t loop;
    node_t nodes[NODES];
} world_t;

static void on_message(void *ctx, uint32_t from, uint16_t type, const uint8_t *payload, size_t len,
                       stamp_t stamp) {
    node_t *n = ctx;
    assert_true(n->count < RECEIVED_MAX);
    received_t *r = &n->got[n->count++];
    r->from = from;
    r->type = type;
    r->stamp = stamp;
    r->clock_after = n->clock.last;
    r->len = (uint32_t)len;
    r->value = 0;
    if (len >= 4) {
        memcpy(&r->value, payload, 4);
    }
    if (n->remove_sender) {
        assert_int_equal(bus_remove_peer(n->bus, from), 0);
    }
}

static bus_options_t test_options(uint32_t id, uint16_t port, const char *secret) {
    bus_options_t o = {
        .id = id,
        .listen_host = "127.0.0.1",
        .listen_port = port,
        .secret = secret,
        .secret_len = secret ? strlen(secret) : 0,
        .reconnect_min_ms = 10,
        .reconnect_max_ms = 100,
        .handshake_timeout_ms = 2000,
        /* No pings and no idle closing unless a test asks: keeps the write counts exact. */
        .ping_interval_ms = 600000,
        .idle_timeout_ms = 600000,
        .seed = id,
    };
    return o;
}

static void node_start_with(world_t *w, int i, const bus_options_t *o) {
    node_t *n = &w->nodes[i];
    n->world = w;
    n->id = o->id;
    bus_options_t with_clock = *o;
    with_clock.clock = &n->clock;
    assert_int_equal(bus_create(&w->loop, &with_clock, &n->bus), 0);
    n->port = bus_port(n->bus);
    assert_int_not_equal(n->port, 0);
    assert_int_equal(bus_set_handler(n->bus, TYPE_A, on_message, n), 0);
    assert_int_equal(bus_set_handler(n->bus, TYPE_B, on_message, n), 0);
}

static void node_start(world_t *w, int i, uint16_t port, const char *secret) {
    bus_options_t o = test_options((uint32_t)i + 1, port, secret);
    node_start_with(w, i, &o);
}

static void link_nodes(world_t *w, int a, int b) {
    assert_int_equal(bus_add_peer(w->nodes[a].bus, w->nodes[b].id, "127.0.0.1", w->nodes[b].port),
                     0);
}

static void noop_timer(uv_timer_t *t) {
    (void)t;
}

typedef int world_pred(world_t *w, const void *arg);

/* Runs the loop until pred holds or WAIT_MS pass; returns whether pred held. */
static int run_until(world_t *w, world_pred *pred, const void *arg) {
    uv_timer_t tick;
    uv_timer_init(&w->loop, &tick);
    uv_timer_start(&tick, noop_timer, 5, 5);
    int64_t deadline = time_mono_ms() + WAIT_MS;
    int ok;
    while (!(ok = pred(w, arg)) && time_mono_ms() < deadline) {
        uv_run(&w->loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    return ok;
}

/* Runs the loop for about ms milliseconds. */
static int never(world_t *w, const void *arg) {
    (void)w;
    return time_mono_ms() >= *(const int64_t *)arg;
}

static void run_for(world_t *w, int64_t ms) {
    int64_t until = time_mono_ms() + ms;
    run_until(w, never, &until);
}

typedef struct pair {
    int from;
    int to;
    size_t count;
} pair_t;

static int is_connected(world_t *w, const void *arg) {
    const pair_t *p = arg;
    bus_peer_stats_t s;
    return bus_stats(w->nodes[p->from].bus, w->nodes[p->to].id, &s) == 0 && s.connected;
}

static int has_received(world_t *w, const void *arg) {
    const pair_t *p = arg;
    return w->nodes[p->to].count >= p->count;
}

static void wait_connected(world_t *w, int from, int to) {
    pair_t p = {from, to, 0};
    assert_true(run_until(w, is_connected, &p));
}

static void wait_received(world_t *w, int to, size_t count) {
    pair_t p = {0, to, count};
    assert_true(run_until(w, has_received, &p));
}

static int setup(void **state) {
    world_t *w = mem_calloc(1, sizeof *w);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    *state = w;
    return 0;
}

static int teardown(void **state) {
    world_t *w = *state;
    for (int i = 0; i < NODES; i++) {
        if (w->nodes[i].bus) {
            bus_close(w->nodes[i].bus);
        }
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&w->loop), 0);
    mem_free(w);
    return 0;
}

static void send_value(world_t *w, int from, int to, uint16_t type, uint32_t value) {
    assert_int_equal(bus_send(w->nodes[from].bus, w->nodes[to].id, type, &value, sizeof value), 0);
}

static void test_message_is_delivered_with_sender_type_and_payload(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "s3cret");
    node_start(w, 1, 0, "s3cret");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    send_value(w, 0, 1, TYPE_B, 0xCAFE);
    wait_received(w, 1, 1);
    received_t *r = &w->nodes[1].got[0];
    assert_int_equal(r->from, 1);
    assert_int_equal(r->type, TYPE_B);
    assert_int_equal(r->len, 4);
    assert_int_equal(r->value, 0xCAFE);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_true(s.connected);
    assert_int_equal(s.frames_out, 1);
    assert_int_equal(s.queued_frames, 0);
    assert_int_equal(bus_stats(w->nodes[1].bus, 1, &s), 0);
    assert_int_equal(s.frames_in, 1);
    assert_true(s.bytes_in > 4);
}

static void test_messages_to_one_peer_arrive_in_order(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, NULL);
    node_start(w, 1, 0, NULL);
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    uint32_t next = 0;
    for (int turn = 0; turn < 20; turn++) { /* several loop turns, some before connecting */
        for (int i = 0; i < 100; i++) {
            send_value(w, 0, 1, TYPE_A, next++);
        }
        uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    wait_received(w, 1, next);
    for (uint32_t i = 0; i < next; i++) {
        assert_int_equal(w->nodes[1].got[i].value, i);
    }
}

static void test_messages_queued_in_one_turn_leave_in_one_write(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "k");
    node_start(w, 1, 0, "k");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    wait_connected(w, 0, 1);
    bus_peer_stats_t before, after;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &before), 0);
    for (uint32_t i = 0; i < 300; i++) {
        send_value(w, 0, 1, TYPE_A, i);
    }
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &after), 0);
    assert_int_equal(after.queued_frames, 300);
    wait_received(w, 1, 300);
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &after), 0);
    assert_int_equal(after.writes - before.writes, 1);
    assert_int_equal(after.frames_out - before.frames_out, 300);
}

static void test_a_batch_stops_growing_past_its_byte_bound(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "cap");
    node_start(w, 1, 0, "cap");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    wait_connected(w, 0, 1);
    size_t len = BUS_WRITE_BYTES_MAX / 2 + 1024; /* two fill a batch past the bound */
    uint8_t *p = mem_calloc(1, len);
    bus_peer_stats_t before, after;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &before), 0);
    for (uint32_t i = 0; i < 3; i++) {
        memcpy(p, &i, sizeof i);
        assert_int_equal(bus_send(w->nodes[0].bus, 2, TYPE_A, p, len), 0);
    }
    mem_free(p);
    wait_received(w, 1, 3);
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &after), 0);
    assert_int_equal(after.writes - before.writes, 2);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(w->nodes[1].got[i].value, i);
    }
}

static void test_three_buses_deliver_to_each_other(void **state) {
    world_t *w = *state;
    for (int i = 0; i < 3; i++) {
        node_start(w, i, 0, "three");
    }
    for (int a = 0; a < 3; a++) {
        for (int b = 0; b < 3; b++) {
            if (a != b) {
                link_nodes(w, a, b);
                send_value(w, a, b, TYPE_A, (uint32_t)(a * 10 + b));
            }
        }
    }
    for (int b = 0; b < 3; b++) {
        wait_received(w, b, 2);
        uint32_t seen = 0;
        for (size_t k = 0; k < 2; k++) {
            received_t *r = &w->nodes[b].got[k];
            assert_int_equal(r->value, (r->from - 1) * 10 + (uint32_t)b);
            seen |= 1u << r->from;
        }
        assert_int_equal(seen, (0xEu & ~(1u << (b + 1))));
    }
}

static void test_receiver_clock_moves_past_the_sender_stamp(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "clock");
    node_start(w, 1, 0, "clock");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    /* The sender's clock runs an hour ahead of the receiver's wall clock. */
    stamp_t ahead = hlc_physical(time_wall_ms() + 3600 * 1000);
    w->nodes[0].clock.last = ahead;
    send_value(w, 0, 1, TYPE_A, 1);
    wait_received(w, 1, 1);
    received_t *r = &w->nodes[1].got[0];
    assert_true(r->stamp > ahead);
    assert_true(r->clock_after > r->stamp);
    assert_true(w->nodes[1].clock.last > r->stamp);
    /* And a reply is stamped after the message it answers (happened-before). */
    send_value(w, 1, 0, TYPE_A, 2);
    wait_received(w, 0, 1);
    assert_true(w->nodes[0].got[0].stamp > r->stamp);
}

static int is_disconnected(world_t *w, const void *arg) {
    return !is_connected(w, arg);
}

static void test_reconnects_after_peer_listener_restarts(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "restart");
    node_start(w, 1, 0, "restart");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    send_value(w, 0, 1, TYPE_A, 1);
    wait_received(w, 1, 1);
    uint16_t port = w->nodes[1].port;
    bus_close(w->nodes[1].bus);
    w->nodes[1].bus = NULL;
    pair_t p = {0, 1, 0};
    assert_true(run_until(w, is_disconnected, &p));
    send_value(w, 0, 1, TYPE_A, 2); /* queued while the peer is away */
    run_for(w, 50);
    w->nodes[1].count = 0;
    node_start(w, 1, port, "restart");
    link_nodes(w, 1, 0);
    send_value(w, 0, 1, TYPE_A, 3);
    wait_received(w, 1, 2);
    assert_int_equal(w->nodes[1].got[0].value, 2);
    assert_int_equal(w->nodes[1].got[1].value, 3);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_true(s.connected);
    assert_true(s.reconnects >= 1);
}

static int auth_failed(world_t *w, const void *arg) {
    (void)arg;
    bus_counters_t c;
    bus_counters(w->nodes[1].bus, &c);
    return c.auth_failures > 0;
}

static void test_wrong_secret_is_refused_and_nothing_delivered(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "secret one");
    node_start(w, 1, 0, "secret two");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    send_value(w, 0, 1, TYPE_A, 7);
    assert_true(run_until(w, auth_failed, NULL));
    run_for(w, 100);
    assert_int_equal(w->nodes[1].count, 0);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_false(s.connected);
    assert_int_equal(s.queued_frames, 1);
    assert_int_equal(s.frames_out, 0);
}

static int refused_one(world_t *w, const void *arg) {
    bus_counters_t c;
    bus_counters(w->nodes[*(const int *)arg].bus, &c);
    return c.refused > 0;
}

static void test_unknown_node_id_is_refused(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "ids");
    node_start(w, 1, 0, "ids");
    link_nodes(w, 0, 1); /* node 2 does not know node 1 */
    send_value(w, 0, 1, TYPE_A, 1);
    int target = 1;
    assert_true(run_until(w, refused_one, &target));
    assert_int_equal(w->nodes[1].count, 0);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_false(s.connected);
}

/* Starts node 1 and closes it again, leaving its (now free) port for a later start. */
static uint16_t reserve_port(world_t *w) {
    node_start(w, 1, 0, "q");
    uint16_t port = w->nodes[1].port;
    bus_close(w->nodes[1].bus);
    w->nodes[1].bus = NULL;
    uv_run(&w->loop, UV_RUN_NOWAIT);
    return port;
}

static void test_full_queue_drops_oldest_by_default(void **state) {
    world_t *w = *state;
    uint16_t port = reserve_port(w);
    bus_options_t o = test_options(1, 0, "q");
    o.queue_frames_max = 4;
    node_start_with(w, 0, &o);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 2, "127.0.0.1", port), 0);
    for (uint32_t i = 0; i < 10; i++) {
        send_value(w, 0, 1, TYPE_A, i); /* the peer is down: they queue */
    }
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_int_equal(s.queued_frames, 4);
    assert_int_equal(s.drops, 6);
    node_start(w, 1, port, "q");
    link_nodes(w, 1, 0);
    wait_received(w, 1, 4);
    run_for(w, 50);
    assert_int_equal(w->nodes[1].count, 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_int_equal(w->nodes[1].got[i].value, 6 + i);
    }
}

static void test_drop_newest_policy_refuses_new_messages(void **state) {
    world_t *w = *state;
    uint16_t port = reserve_port(w);
    bus_options_t o = test_options(1, 0, "q");
    o.queue_frames_max = 100;
    o.queue_bytes_max = 12; /* three 4-byte messages */
    o.drop_policy = BUS_DROP_NEWEST;
    node_start_with(w, 0, &o);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 2, "127.0.0.1", port), 0);
    for (uint32_t i = 0; i < 3; i++) {
        send_value(w, 0, 1, TYPE_A, i);
    }
    uint32_t v = 3;
    assert_int_equal(bus_send(w->nodes[0].bus, 2, TYPE_A, &v, 4), -ENOBUFS);
    uint8_t big[13] = {0};
    assert_int_equal(bus_send(w->nodes[0].bus, 2, TYPE_A, big, sizeof big), -EMSGSIZE);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_int_equal(s.drops, 1);
    assert_int_equal(s.queued_bytes, 12);
    node_start(w, 1, port, "q");
    link_nodes(w, 1, 0);
    wait_received(w, 1, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(w->nodes[1].got[i].value, i);
    }
}

static void test_without_secret_non_loopback_peers_are_refused(void **state) {
    world_t *w = *state;
    bus_peer_addr_t far = {.id = 2, .port = 17000, .host = "10.1.2.3"};
    bus_options_t o = test_options(1, 0, NULL);
    o.clock = &w->nodes[0].clock;
    o.peers = &far;
    o.peer_count = 1;
    bus_t *bus = NULL;
    assert_int_equal(bus_create(&w->loop, &o, &bus), -EPERM);
    uv_run(&w->loop, UV_RUN_DEFAULT); /* frees the half-made bus */
    node_start(w, 0, 0, NULL);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 2, "10.1.2.3", 17000), -EPERM);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 3, "db.example.com", 17000), -EPERM);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 4, "127.0.0.2", 17000), 0);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 5, "::1", 17000), 0);
    node_start(w, 1, 0, "a secret");
    assert_int_equal(bus_add_peer(w->nodes[1].bus, 3, "10.1.2.3", 17000), 0);
}

static void test_send_and_peer_argument_errors(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "e");
    bus_t *bus = w->nodes[0].bus;
    uint32_t v = 0;
    assert_int_equal(bus_send(bus, 9, TYPE_A, &v, 4), -ENOENT);
    assert_int_equal(bus_add_peer(bus, 9, "127.0.0.1", 1), 0);
    assert_int_equal(bus_send(bus, 9, BUS_TYPE_USER_MIN - 1, &v, 4), -EINVAL);
    assert_int_equal(bus_send(bus, 9, BUS_TYPE_LIMIT, &v, 4), -EINVAL);
    assert_int_equal(bus_send(bus, 1, TYPE_A, &v, 4), -EINVAL);
    static uint8_t huge[1];
    assert_int_equal(bus_send(bus, 9, TYPE_A, huge, (size_t)BUS_FRAME_PAYLOAD_MAX + 1), -EMSGSIZE);
    assert_int_equal(bus_send(bus, 9, TYPE_A, NULL, 0), 0);
    assert_int_equal(bus_add_peer(bus, 9, "127.0.0.1", 2), -EEXIST);
    assert_int_equal(bus_add_peer(bus, 1, "127.0.0.1", 2), -EINVAL);
    assert_int_equal(bus_add_peer(bus, 0, "127.0.0.1", 2), -EINVAL);
    assert_int_equal(bus_add_peer(bus, 8, "127.0.0.1", 0), -EINVAL);
    assert_int_equal(bus_set_handler(bus, 3, on_message, NULL), -EINVAL);
    assert_int_equal(bus_remove_peer(bus, 9), 0);
    assert_int_equal(bus_remove_peer(bus, 9), -ENOENT);
    assert_int_equal(bus_send(bus, 9, TYPE_A, &v, 4), -ENOENT);
    for (uint32_t id = 100; id < 100 + BUS_PEERS_MAX; id++) {
        assert_int_equal(bus_add_peer(bus, id, "127.0.0.1", 1), 0);
    }
    assert_int_equal(bus_add_peer(bus, 99, "127.0.0.1", 1), -ENOSPC);
    uint32_t ids[4];
    assert_int_equal(bus_peer_ids(bus, ids, 4), BUS_PEERS_MAX);
    assert_int_equal(ids[0], 100);
}

static void test_removed_peer_is_disconnected_and_can_return(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "rm");
    node_start(w, 1, 0, "rm");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    send_value(w, 0, 1, TYPE_A, 1);
    wait_received(w, 1, 1);
    assert_int_equal(bus_remove_peer(w->nodes[1].bus, 1), 0); /* node 2 forgets node 1 */
    pair_t p = {0, 1, 0};
    assert_true(run_until(w, is_disconnected, &p)); /* node 1's connection was closed */
    send_value(w, 0, 1, TYPE_A, 2);
    run_for(w, 100);
    assert_int_equal(w->nodes[1].count, 1);
    link_nodes(w, 1, 0);
    wait_received(w, 1, 2);
    assert_int_equal(w->nodes[1].got[1].value, 2);
}

static void test_handler_may_remove_the_sender(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "h");
    node_start(w, 1, 0, "h");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    w->nodes[1].remove_sender = 1;
    for (uint32_t i = 0; i < 5; i++) {
        send_value(w, 0, 1, TYPE_A, i);
    }
    wait_received(w, 1, 1);
    run_for(w, 50);
    assert_int_equal(w->nodes[1].count, 1); /* the rest of the batch died with the peer */
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[1].bus, 1, &s), -ENOENT);
}

static void test_unhandled_type_is_counted_not_delivered(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "u");
    node_start(w, 1, 0, "u");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    assert_int_equal(bus_set_handler(w->nodes[1].bus, TYPE_B, NULL, NULL), 0);
    send_value(w, 0, 1, TYPE_B, 1);
    send_value(w, 0, 1, TYPE_A, 2);
    wait_received(w, 1, 1);
    assert_int_equal(w->nodes[1].got[0].value, 2);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[1].bus, 1, &s), 0);
    assert_int_equal(s.unhandled, 1);
    assert_int_equal(s.frames_in, 2);
}

static void test_large_payload_arrives_whole(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, "big");
    node_start(w, 1, 0, "big");
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    size_t len = 3u << 20;
    uint8_t *p = mem_alloc(len);
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 7);
    }
    uint32_t tag = 0xB16;
    memcpy(p, &tag, 4);
    assert_int_equal(bus_send(w->nodes[0].bus, 2, TYPE_A, p, len), 0);
    send_value(w, 0, 1, TYPE_A, 5);
    mem_free(p);
    wait_received(w, 1, 2);
    assert_int_equal(w->nodes[1].got[0].len, len);
    assert_int_equal(w->nodes[1].got[0].value, 0xB16);
    assert_int_equal(w->nodes[1].got[1].value, 5);
}

static void test_idle_connection_stays_up_with_pings(void **state) {
    world_t *w = *state;
    for (int i = 0; i < 2; i++) {
        bus_options_t o = test_options((uint32_t)i + 1, 0, "ping");
        o.ping_interval_ms = 20;
        o.idle_timeout_ms = 1000;
        node_start_with(w, i, &o);
    }
    link_nodes(w, 0, 1);
    link_nodes(w, 1, 0);
    wait_connected(w, 0, 1);
    run_for(w, 300);
    send_value(w, 0, 1, TYPE_A, 1);
    wait_received(w, 1, 1);
    bus_peer_stats_t s;
    assert_int_equal(bus_stats(w->nodes[0].bus, 2, &s), 0);
    assert_true(s.connected);
    assert_int_equal(s.reconnects, 0);
    assert_true(s.frames_out > 2); /* pings went out */
    assert_int_equal(bus_stats(w->nodes[1].bus, 1, &s), 0);
    assert_true(s.frames_in > 2);
}

static void test_peer_named_localhost_is_resolved(void **state) {
    world_t *w = *state;
    node_start(w, 0, 0, NULL);
    node_start(w, 1, 0, NULL);
    assert_int_equal(bus_add_peer(w->nodes[0].bus, 2, "localhost", w->nodes[1].port), 0);
    link_nodes(w, 1, 0);
    send_value(w, 0, 1, TYPE_A, 11);
    wait_received(w, 1, 1);
    assert_int_equal(w->nodes[1].got[0].value, 11);
}

typedef struct stranger {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    int closed;
} stranger_t;

static void stranger_alloc(uv_handle_t *h, size_t n, uv_buf_t *b) {
    static char scratch[256];
    (void)h;
    (void)n;
    *b = uv_buf_init(scratch, sizeof scratch);
}

static void stranger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
    stranger_t *st = s->data;
    (void)b;
    if (nread < 0 && !st->closed) {
        st->closed = 1;
        uv_close((uv_handle_t *)&st->tcp, NULL);
    }
}

static void stranger_connected(uv_connect_t *req, int status) {
    stranger_t *st = req->data;
    assert_int_equal(status, 0);
    static char junk[] = "GET / HTTP/1.1\r\nHost: polis\r\n\r\n";
    uv_buf_t b = uv_buf_init(junk, sizeof junk - 1);
    assert_int_equal(uv_write(&st->write, (uv_stream_t *)&st->tcp, &b, 1, NULL), 0);
    uv_read_start((uv_stream_t *)&st->tcp, stranger_alloc, stranger_read);
}

static int stranger_closed(world_t *w, const void *arg) {
    (void)w;
    return ((const stranger_t *)arg)->closed;
}

static void test_garbage_from_a_stranger_closes_the_connection(void **state) {
    world_t *w = *state;
    node_start(w, 1, 0, "g");
    stranger_t st = {.closed = 0};
    uv_tcp_init(&w->loop, &st.tcp);
    st.tcp.data = &st;
    st.connect.data = &st;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", w->nodes[1].port, &addr);
    assert_int_equal(
        uv_tcp_connect(&st.connect, &st.tcp, (struct sockaddr *)&addr, stranger_connected), 0);
    assert_true(run_until(w, stranger_closed, &st));
    bus_counters_t c;
    bus_counters(w->nodes[1].bus, &c);
    assert_int_equal(c.protocol_errors, 1);
}

#define BUS_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        BUS_TEST(test_message_is_delivered_with_sender_type_and_payload),
        BUS_TEST(test_messages_to_one_peer_arrive_in_order),
        BUS_TEST(test_messages_queued_in_one_turn_leave_in_one_write),
        BUS_TEST(test_a_batch_stops_growing_past_its_byte_bound),
        BUS_TEST(test_three_buses_deliver_to_each_other),
        BUS_TEST(test_receiver_clock_moves_past_the_sender_stamp),
        BUS_TEST(test_reconnects_after_peer_listener_restarts),
        BUS_TEST(test_wrong_secret_is_refused_and_nothing_delivered),
        BUS_TEST(test_unknown_node_id_is_refused),
        BUS_TEST(test_full_queue_drops_oldest_by_default),
        BUS_TEST(test_drop_newest_policy_refuses_new_messages),
        BUS_TEST(test_without_secret_non_loopback_peers_are_refused),
        BUS_TEST(test_send_and_peer_argument_errors),
        BUS_TEST(test_removed_peer_is_disconnected_and_can_return),
        BUS_TEST(test_handler_may_remove_the_sender),
        BUS_TEST(test_unhandled_type_is_counted_not_delivered),
        BUS_TEST(test_large_payload_arrives_whole),
        BUS_TEST(test_idle_connection_stays_up_with_pings),
        BUS_TEST(test_peer_named_localhost_is_resolved),
        BUS_TEST(test_garbage_from_a_stranger_closes_the_connection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
