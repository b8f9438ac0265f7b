/* replica: the data node as a member of its replication group — its identity (kept in --dir),
 * its peers and the cluster bus, where each command runs (here, on the leader through a
 * ReadIndex round, or forwarded), clients waiting for a leader or a read point, WAIT and
 * TRANSFER, role changes, and the leadership transfer of a leader shutting down.
 * Design: docs/ARCHITECTURE.md, "Replication". */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

#define IDENTITY_FILE "polis-node"
#define IDENTITY_HEADER "polis node identity 1\n"
#define BUS_QUEUE_BYTES (64u << 20)

static const char err_clusterdown[] =
    "CLUSTERDOWN No leader for this replication group (none known after 400 ms); the command "
    "was not executed";

/* ---- identity ---- */

static void identity_path(const server_t *s, const char *name, char *dst, size_t size) {
    snprintf(dst, size, "%s/%s", s->config.dir, name);
}

/* Parses the identity file: 1 found, 0 absent, negative malformed (err says why). */
static int identity_load(server_t *s, uint64_t *id, char *err, size_t err_size) {
    char path[CONFIG_STRING_MAX + 32];
    identity_path(s, IDENTITY_FILE, path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) {
        return errno == ENOENT ? 0 : -errno;
    }
    char line[1024] = "";
    unsigned long long value = 0;
    int ok = fgets(line, sizeof line, f) && strcmp(line, IDENTITY_HEADER) == 0 &&
             fscanf(f, "id %llu\nfounders", &value) == 1 && value > 0 && value <= UINT32_MAX;
    *id = value;
    s->founders_count = 0;
    for (unsigned long long v; ok && s->founders_count < RAFT_MEMBERS_MAX &&
                               fscanf(f, " %llu", &v) == 1;) {
        s->founders[s->founders_count++] = v;
    }
    fclose(f);
    if (!ok) {
        snprintf(err, err_size, "%s is damaged (expected its id and founders)", path);
        return -EINVAL;
    }
    return 1;
}

/* Writes the identity durably: temporary file, fsync, rename, directory fsync. */
static int identity_save(server_t *s) {
    char path[CONFIG_STRING_MAX + 32], tmp[CONFIG_STRING_MAX + 40];
    identity_path(s, IDENTITY_FILE, path, sizeof path);
    identity_path(s, IDENTITY_FILE ".tmp", tmp, sizeof tmp);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        return -errno;
    }
    fprintf(f, IDENTITY_HEADER "id %llu\nfounders", (unsigned long long)s->node_id);
    for (size_t i = 0; i < s->founders_count; i++) {
        fprintf(f, " %llu", (unsigned long long)s->founders[i]);
    }
    fprintf(f, "\n");
    int rc = fflush(f) == 0 && fsync(fileno(f)) == 0 ? 0 : -errno;
    fclose(f);
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    int dfd = open(s->config.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return rc;
}

/* A directory written by a single node before replication existed: a log, no identity. */
static int has_old_log(const server_t *s) {
    DIR *d = opendir(s->config.dir);
    if (!d) {
        return 0;
    }
    int found = 0;
    struct dirent *de;
    for (int guard = 0; guard < 1000000 && !found && (de = readdir(d)) != NULL; guard++) {
        found = strncmp(de->d_name, "wal-", 4) == 0 || strncmp(de->d_name, "snap-", 5) == 0;
    }
    closedir(d);
    return found;
}

static const repl_member_t *static_peer(const server_t *s, uint64_t id) {
    for (size_t i = 0; i < s->static_peer_count; i++) {
        if (s->static_peers[i].id == id) {
            return &s->static_peers[i];
        }
    }
    return NULL;
}

/* The founding voters of a new directory: --peers when it names this node, none when it does
 * not (this node joins a running group), this node alone without --peers. */
static void choose_founders(server_t *s) {
    s->founders_count = 0;
    if (s->static_peer_count == 0) {
        s->founders[s->founders_count++] = s->node_id;
        return;
    }
    if (!static_peer(s, s->node_id)) {
        return;
    }
    for (size_t i = 0; i < s->static_peer_count && i < RAFT_MEMBERS_MAX; i++) {
        s->founders[s->founders_count++] = s->static_peers[i].id;
    }
}

static int identity_setup(server_t *s, char *err, size_t err_size) {
    if (mkdir(s->config.dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create directory %s: %s", s->config.dir, strerror(errno));
        return -errno;
    }
    uint64_t stored = 0;
    int found = identity_load(s, &stored, err, err_size);
    if (found < 0) {
        return found;
    }
    if (found && s->config.id != 0 && (uint64_t)s->config.id != stored) {
        snprintf(err, err_size,
                 "%s belongs to node %llu; refusing to start it as node %lld (start with --id "
                 "%llu, or give a new node an empty directory)",
                 s->config.dir, (unsigned long long)stored, s->config.id,
                 (unsigned long long)stored);
        return -EINVAL;
    }
    if (found) {
        s->node_id = stored;
        if (s->founders_count == 1 && s->static_peer_count > 0 &&
            (s->static_peer_count > 1 || s->static_peers[0].id != s->node_id)) {
            log_warning("repl", "%s was founded as a group of one: --peers only gives "
                                "addresses now (add members with POLIS.GROUP ADD)",
                        s->config.dir);
        }
        return 0;
    }
    s->node_id = s->config.id ? (uint64_t)s->config.id : 1;
    if (has_old_log(s) && s->static_peer_count > 0) {
        /* Its log was committed by one node alone; read under another founding group it
         * could be overwritten, or serve beside a second group. Growing goes through ADD. */
        snprintf(err, err_size,
                 "%s holds the log of a single node: start it without --peers, then add the "
                 "other nodes with POLIS.GROUP ADD",
                 s->config.dir);
        return -EINVAL;
    }
    choose_founders(s);
    int rc = identity_save(s);
    if (rc < 0) {
        snprintf(err, err_size, "cannot write %s/%s: %s", s->config.dir, IDENTITY_FILE,
                 strerror(-rc));
    }
    return rc;
}

/* ---- peers and the bus ---- */

static int parse_peers(server_t *s, char *err, size_t err_size) {
    if (!s->config.peers[0]) {
        return 0;
    }
    bus_peer_addr_t addrs[BUS_PEERS_MAX];
    size_t n = 0;
    char why[256];
    if (bus_peers_parse(s->config.peers, addrs, BUS_PEERS_MAX, &n, why, sizeof why) != 0) {
        snprintf(err, err_size, "--peers: %s", why);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        repl_member_t *m = &s->static_peers[i];
        memset(m, 0, sizeof *m);
        m->id = addrs[i].id;
        m->bus_port = addrs[i].port;
        snprintf(m->host, sizeof m->host, "%s", addrs[i].host);
    }
    s->static_peer_count = n;
    return 0;
}

static peer_info_t *peer_info(server_t *s, uint64_t id, int create) {
    for (size_t i = 0; i < s->peer_count; i++) {
        if (s->peers[i].id == id) {
            return &s->peers[i];
        }
    }
    if (!create || s->peer_count == PEERS_INFO_MAX) {
        return NULL;
    }
    peer_info_t *p = &s->peers[s->peer_count++];
    memset(p, 0, sizeof *p);
    p->id = id;
    return p;
}

static void heard(server_t *s, uint32_t from) {
    peer_info_t *p = peer_info(s, from, 1);
    if (p) {
        p->heard_ms = time_mono_ms();
    }
}

int replica_peer_heard(const server_t *s, uint64_t id, int64_t now_ms, int64_t within_ms) {
    for (size_t i = 0; i < s->peer_count; i++) {
        if (s->peers[i].id == id) {
            return now_ms - s->peers[i].heard_ms < within_ms;
        }
    }
    return 0;
}

const char *replica_client_address(const server_t *s, uint64_t id) {
    if (id == s->node_id) {
        return s->client_addr;
    }
    for (size_t i = 0; i < s->peer_count; i++) {
        if (s->peers[i].id == id) {
            return s->peers[i].client_addr;
        }
    }
    return "";
}

static void on_raft(void *ctx, uint32_t from, uint16_t type, const uint8_t *p, size_t len,
                    stamp_t stamp) {
    server_t *s = ctx;
    heard(s, from);
    uint32_t group = 0;
    const uint8_t *raft = NULL;
    size_t raft_len = 0;
    if (repl_raft_split(p, len, &group, &raft, &raft_len) == 0 && group == 0 && s->group) {
        repl_group_receive(s->group, from, raft, raft_len);
    }
}

static void on_node_info(void *ctx, uint32_t from, uint16_t type, const uint8_t *p, size_t len,
                         stamp_t stamp) {
    server_t *s = ctx;
    heard(s, from);
    repl_node_info_t info;
    peer_info_t *peer = peer_info(s, from, 1);
    if (peer && repl_node_info_decode(p, len, &info) == 0) {
        snprintf(peer->client_addr, sizeof peer->client_addr,
                 strchr(info.client_host, ':') ? "[%s]:%u" : "%s:%u", info.client_host,
                 info.client_port);
    }
}

static void on_forward(void *ctx, uint32_t from, uint16_t type, const uint8_t *p, size_t len,
                       stamp_t stamp) {
    server_t *s = ctx;
    heard(s, from);
    if (type == REPL_MSG_FORWARD) {
        forward_on_request(s, from, p, len);
    } else if (type == REPL_MSG_FORWARD_REPLY) {
        forward_on_reply(s, from, p, len);
    } else {
        forward_on_close(s, from, p, len);
    }
}

static uint16_t bus_listen_port(const server_t *s) {
    const repl_member_t *self = static_peer(s, s->node_id);
    if (s->config.bus_port) {
        return (uint16_t)s->config.bus_port;
    }
    return self ? self->bus_port : (uint16_t)(s->config.port + BUS_PORT_OFFSET);
}

static int bus_start(server_t *s, char *err, size_t err_size) {
    bus_peer_addr_t peers[BUS_PEERS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < s->static_peer_count; i++) {
        const repl_member_t *m = &s->static_peers[i];
        if (m->id != s->node_id) {
            peers[n] = (bus_peer_addr_t){.id = (uint32_t)m->id, .port = m->bus_port};
            snprintf(peers[n].host, sizeof peers[n].host, "%s", m->host);
            n++;
        }
    }
    long port = bus_listen_port(s);
    if (port <= 0 || port > 65535) {
        snprintf(err, err_size, "no cluster bus port: port %lld + %d is beyond 65535 (set --bus-port)",
                 s->config.port, BUS_PORT_OFFSET);
        return -EINVAL;
    }
    bus_options_t o = {.id = (uint32_t)s->node_id,
                       .listen_host = s->config.bind,
                       .listen_port = (uint16_t)port,
                       .secret = s->config.cluster_secret,
                       .secret_len = strlen(s->config.cluster_secret),
                       .peers = peers,
                       .peer_count = n,
                       .clock = &s->clock,
                       .queue_bytes_max = BUS_QUEUE_BYTES};
    int rc = bus_create(&s->loop, &o, &s->bus);
    if (rc == -EPERM) {
        snprintf(err, err_size,
                 "refusing peers that are not on loopback (or a bus address that is not): no "
                 "cluster secret is set (give every node the same --cluster-secret)");
    } else if (rc < 0) {
        snprintf(err, err_size, "cannot start the cluster bus on %s:%ld: %s", s->config.bind,
                 port, rc > -1000 ? uv_strerror(rc) : "error");
    }
    if (rc < 0) {
        return rc;
    }
    bus_set_handler(s->bus, REPL_MSG_RAFT, on_raft, s);
    bus_set_handler(s->bus, REPL_MSG_FORWARD, on_forward, s);
    bus_set_handler(s->bus, REPL_MSG_FORWARD_REPLY, on_forward, s);
    bus_set_handler(s->bus, REPL_MSG_FORWARD_CLOSE, on_forward, s);
    bus_set_handler(s->bus, REPL_MSG_NODE_INFO, on_node_info, s);
    log_notice("repl", "node %llu: cluster bus on %s:%ld, %zu peers", (unsigned long long)s->node_id,
               s->config.bind, port, n);
    return 0;
}

int replica_ensure_bus(server_t *s, char *err, size_t err_size) {
    if (s->bus) {
        return 0;
    }
    int rc = bus_start(s, err, err_size);
    if (rc == 0 && s->group) {
        repl_group_set_bus(s->group, s->bus);
    }
    return rc;
}

static void client_address_of_node(server_t *s) {
    const repl_member_t *self = static_peer(s, s->node_id);
    const char *bind = s->config.bind;
    int wildcard = strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
    const char *host = wildcard ? (self ? self->host : "127.0.0.1") : bind;
    snprintf(s->client_addr, sizeof s->client_addr, strchr(host, ':') ? "[%s]:%lld" : "%s:%lld",
             host, s->config.port);
}

int replica_setup(server_t *s, char *err, size_t err_size) {
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        r = (uint64_t)time_wall_us() ^ ((uint64_t)getpid() << 40);
    }
    s->incarnation = r | 1;
    s->role = RAFT_FOLLOWER;
    int rc = parse_peers(s, err, err_size);
    if (rc < 0) {
        return rc;
    }
    if (!s->config.persistence) {
        if (s->static_peer_count > 0) {
            snprintf(err, err_size, "--peers needs persistence: with --persistence off a node is "
                                    "a single in-memory cache with no log to replicate");
            return -EINVAL;
        }
        s->node_id = s->config.id ? (uint64_t)s->config.id : 1;
        return 0;
    }
    rc = identity_setup(s, err, err_size);
    if (rc < 0) {
        return rc;
    }
    client_address_of_node(s);
    int others = s->static_peer_count > 1 ||
                 (s->static_peer_count == 1 && s->static_peers[0].id != s->node_id);
    return others || s->config.bus_port ? bus_start(s, err, err_size) : 0;
}

void replica_close(server_t *s) {
    if (s->bus) {
        bus_close(s->bus);
        s->bus = NULL;
    }
    mem_free(s->leader_waiters.items);
    mem_free(s->read_waiters.items);
    mem_free(s->blocked.items);
    mem_free(s->forwarders.items);
    mem_free(s->dead.items);
    client_map_free(&s->client_map);
}

/* ---- routing ---- */

/* A leader whose bus connection is down (it crashed, or is being reconnected to) is not sent
 * commands: they would wait in the queue for nothing; they wait for a leader instead. */
static int leader_reachable(const server_t *s) {
    bus_peer_stats_t st;
    return s->bus && bus_stats(s->bus, (uint32_t)s->leader, &st) == 0 && st.connected;
}

int replica_route(client_t *c, const command_t *info, const node_command_t *node, int is_write,
                  uint64_t *leader) {
    server_t *s = c->srv;
    if ((node && !node->on_leader) || server_write_failure(s)) {
        return ROUTE_LOCAL; /* node commands; a failed log still serves reads */
    }
    int is_read = !is_write && !node;
    if (is_read && (c->flags & CLIENT_READONLY)) {
        return ROUTE_LOCAL;
    }
    if (s->role == RAFT_LEADER) {
        if (!is_read) {
            return node ? ROUTE_LOCAL : ROUTE_PROPOSE;
        }
        if (c->consumed_total < c->read_cleared || repl_group_read_local(s->group)) {
            return ROUTE_LOCAL;
        }
        return ROUTE_READINDEX;
    }
    if (s->leader != 0 && s->leader != s->node_id && c->hops < REPL_FORWARD_HOPS_MAX &&
        leader_reachable(s)) {
        *leader = s->leader;
        return ROUTE_FORWARD;
    }
    return ROUTE_NO_LEADER;
}

/* Moves c from a waiting list to this turn's resume list. */
static void resume(client_t *c, client_vec_t *from, size_t *slot) {
    client_vec_remove(from, slot);
    client_vec_push(&c->srv->resume, c, &c->resume_slot);
}

/* Drops the holes client_vec_remove leaves, updating each client's slot. */
static void vec_compact(client_vec_t *v, size_t slot_offset) {
    size_t n = 0;
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c) {
            v->items[n++] = c;
            *(size_t *)(void *)((char *)c + slot_offset) = n;
        }
    }
    v->len = n;
}

int replica_wait_leader(client_t *c) {
    server_t *s = c->srv;
    int64_t now = time_mono_ms();
    if (c->leader_wait_ms == 0) {
        c->leader_wait_ms = now;
    }
    if (now - c->leader_wait_ms >= LEADER_WAIT_MS) {
        c->leader_wait_ms = 0;
        reply_t r = client_reply(c);
        reply_error(&r, err_clusterdown);
        return DISPATCH_DONE;
    }
    client_vec_push(&s->leader_waiters, c, &c->leader_slot);
    return DISPATCH_WAIT;
}

int replica_wait_read(client_t *c) {
    c->read_mark = c->read_total; /* every command received so far is covered */
    c->read_batch = 0;
    c->read_since_ms = time_mono_ms();
    client_vec_push(&c->srv->read_waiters, c, &c->read_slot);
    return DISPATCH_WAIT;
}

void replica_issue_reads(server_t *s) {
    client_vec_t *v = &s->read_waiters;
    int waiting = 0;
    for (size_t i = 0; i < v->len && !waiting; i++) {
        waiting = v->items[i] && v->items[i]->read_batch == 0;
    }
    if (!waiting || !s->group) {
        return;
    }
    uint64_t ctx = ++s->read_ctx;
    int rc = repl_group_read_index(s->group, ctx);
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c && c->read_batch == 0) {
            if (rc == 0) {
                c->read_batch = ctx;
            } else {
                resume(c, v, &c->read_slot); /* not the leader any more: route again */
            }
        }
    }
    vec_compact(v, offsetof(client_t, read_slot));
}

void replica_read_ready(void *ctx, uint64_t read_ctx) {
    server_t *s = ctx;
    client_vec_t *v = &s->read_waiters;
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c && c->read_batch != 0 && c->read_batch <= read_ctx) {
            c->read_cleared = c->read_mark;
            resume(c, v, &c->read_slot);
        }
    }
    vec_compact(v, offsetof(client_t, read_slot));
}

static void resume_all(server_t *s, client_vec_t *v, size_t slot_offset) {
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c) {
            size_t *slot = (size_t *)(void *)((char *)c + slot_offset);
            resume(c, v, slot);
        }
    }
    v->len = 0;
    (void)s;
}

void replica_role_changed(void *ctx, int role, uint64_t leader, uint64_t term) {
    server_t *s = ctx;
    if (term != s->term || (s->role == RAFT_LEADER) != (role == RAFT_LEADER)) {
        s->term_since_ms = time_mono_ms();
    }
    s->role = role;
    s->leader = leader;
    s->term = term;
    /* Commands waiting for a leader or a read point route again. */
    resume_all(s, &s->leader_waiters, offsetof(client_t, leader_slot));
    resume_all(s, &s->read_waiters, offsetof(client_t, read_slot));
    if (s->transfer_deadline_ms && role != RAFT_LEADER) {
        log_notice("repl", "leadership handed over: shutting down");
        server_shutdown_now(s, s->exit_code);
    }
}

/* ---- WAIT and TRANSFER ---- */

long long replica_count_acks(server_t *s, uint64_t index) {
    if (!s->group || s->role != RAFT_LEADER) {
        return 0;
    }
    repl_status_t st;
    repl_group_status(s->group, &st);
    long long n = 0;
    for (uint32_t i = 0; i < st.conf.voters_count + st.conf.learners_count; i++) {
        uint64_t id = i < st.conf.voters_count ? st.conf.voters[i]
                                               : st.conf.learners[i - st.conf.voters_count];
        raft_progress_info_t pr;
        if (id != s->node_id && repl_group_progress(s->group, id, &pr) == 0 && pr.match >= index) {
            n++;
        }
    }
    return n;
}

void replica_block(client_t *c, int kind, uint64_t arg, long long replicas, int64_t timeout_ms) {
    assert(kind != BLOCK_NONE);
    c->block = kind;
    c->block_arg = arg;
    c->wait_replicas = replicas;
    c->block_deadline_ms = timeout_ms > 0 ? time_mono_ms() + timeout_ms : 0;
    c->reply_deferred = 1;
    client_vec_push(&c->srv->blocked, c, &c->block_slot);
}

/* Answers c's blocked command if its condition holds or its time is up; 1 when answered. */
static int try_unblock(server_t *s, client_t *c, int64_t now_ms) {
    reply_t r = client_reply(c);
    int expired = c->block_deadline_ms != 0 && now_ms >= c->block_deadline_ms;
    if (c->block == BLOCK_WAIT) {
        long long n = replica_count_acks(s, c->block_arg);
        if (n < c->wait_replicas && !expired) {
            return 0;
        }
        reply_int(&r, n);
    } else {
        repl_status_t st;
        repl_group_status(s->group, &st);
        int moved = s->role != RAFT_LEADER;
        if (!moved && !expired && st.transfer_target != 0) {
            return 0;
        }
        if (moved) {
            reply_ok(&r);
        } else {
            reply_errorf(&r, "ERR leadership transfer to node %llu did not complete (it did not "
                             "catch up in time); node %llu still leads",
                         (unsigned long long)c->block_arg, (unsigned long long)s->node_id);
        }
    }
    c->block = BLOCK_NONE;
    client_vec_remove(&s->blocked, &c->block_slot);
    client_reply_done(c);
    return 1;
}

void replica_check_blocked(server_t *s, int64_t now_ms) {
    if (s->blocked.len == 0) {
        return;
    }
    for (size_t i = 0; i < s->blocked.len; i++) {
        client_t *c = s->blocked.items[i];
        if (c) {
            try_unblock(s, c, now_ms);
        }
    }
    vec_compact(&s->blocked, offsetof(client_t, block_slot));
}

/* ---- periodic work ---- */

static void send_node_info(server_t *s, int64_t now_ms) {
    if (!s->bus || now_ms - s->node_info_ms < NODE_INFO_EVERY_MS) {
        return;
    }
    s->node_info_ms = now_ms;
    repl_node_info_t info = {.incarnation = s->incarnation, .client_port = (uint16_t)s->config.port};
    const char *colon = strrchr(s->client_addr, ':');
    size_t host_len = colon ? (size_t)(colon - s->client_addr) : 0;
    const char *host = s->client_addr;
    if (host_len > 1 && host[0] == '[') {
        host++;
        host_len -= 2;
    }
    snprintf(info.client_host, sizeof info.client_host, "%.*s", (int)host_len, host);
    buf_clear(&s->scratch);
    repl_node_info_encode(&s->scratch, &info);
    uint32_t ids[BUS_PEERS_MAX];
    size_t n = bus_peer_ids(s->bus, ids, BUS_PEERS_MAX);
    for (size_t i = 0; i < n && i < BUS_PEERS_MAX; i++) {
        bus_send(s->bus, ids[i], REPL_MSG_NODE_INFO, s->scratch.data, s->scratch.len);
    }
}

static void expire_waits(server_t *s, int64_t now_ms) {
    client_vec_t *v = &s->leader_waiters;
    int reachable = s->role == RAFT_LEADER || (s->leader != 0 && leader_reachable(s));
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c && (reachable || now_ms - c->leader_wait_ms >= LEADER_WAIT_MS)) {
            resume(c, v, &c->leader_slot); /* routed again; CLUSTERDOWN once it waited enough */
        }
    }
    vec_compact(v, offsetof(client_t, leader_slot));
    v = &s->read_waiters;
    for (size_t i = 0; i < v->len; i++) {
        client_t *c = v->items[i];
        if (c && c->read_batch != 0 && now_ms - c->read_since_ms >= READ_WAIT_MS) {
            c->read_batch = 0; /* unanswered (a lost heartbeat round): asked again */
            c->read_since_ms = now_ms;
        }
    }
}

void replica_cron(server_t *s, int64_t now_ms) {
    if (s->group) {
        repl_group_poll(s->group, now_ms);
        durable_cron(s, now_ms);
    }
    expire_waits(s, now_ms);
    replica_check_blocked(s, now_ms);
    forward_cron(s, now_ms);
    send_node_info(s, now_ms);
    if (s->transfer_deadline_ms && now_ms >= s->transfer_deadline_ms) {
        log_warning("repl", "leadership transfer did not complete in time: shutting down anyway");
        server_shutdown_now(s, s->exit_code);
    }
}

int replica_shutdown_transfer(server_t *s) {
    if (!s->group || s->role != RAFT_LEADER || s->transfer_deadline_ms) {
        return 0;
    }
    repl_status_t st;
    repl_group_status(s->group, &st);
    if (st.conf.voters_count < 2 || server_transfer(s, 0) != 0) {
        return 0;
    }
    repl_group_status(s->group, &st);
    log_notice("repl", "handing leadership to node %llu before shutting down",
               (unsigned long long)st.transfer_target);
    s->transfer_deadline_ms = time_mono_ms() + TRANSFER_WAIT_MS;
    return 1;
}

/* ---- views for INFO and STATUS ---- */

const char *replica_role_name(const server_t *s) {
    repl_status_t st = {0};
    if (s->group) {
        repl_group_status(s->group, &st);
    }
    switch (s->role) {
    case RAFT_LEADER:
        return "leader";
    case RAFT_CANDIDATE:
    case RAFT_PRE_CANDIDATE:
        return "candidate";
    default:
        return st.learner ? "learner" : "follower";
    }
}

static void member_view_fill(server_t *s, uint64_t id, int voter, uint64_t last,
                             member_view_t *v) {
    static const char *const states[] = {"probe", "replicate", "snapshot"};
    memset(v, 0, sizeof *v);
    v->id = id;
    v->voter = voter;
    const repl_member_t *m = repl_group_member(s->group, id);
    if (m) {
        snprintf(v->address, sizeof v->address, strchr(m->host, ':') ? "[%s]:%u" : "%s:%u",
                 m->host, m->bus_port);
    }
    snprintf(v->client, sizeof v->client, "%s", replica_client_address(s, id));
    raft_progress_info_t pr;
    v->state = "unknown";
    v->match = v->lag = -1;
    if (repl_group_progress(s->group, id, &pr) == 0) {
        v->state = pr.state >= 0 && pr.state <= 2 ? states[pr.state] : "unknown";
        v->match = (long long)pr.match;
        v->lag = (long long)(last > pr.match ? last - pr.match : 0);
    }
    bus_peer_stats_t bs;
    v->connected = s->bus && bus_stats(s->bus, (uint32_t)id, &bs) == 0 && bs.connected;
}

size_t replica_members(server_t *s, member_view_t *out, size_t max) {
    if (!s->group) {
        return 0;
    }
    repl_status_t st;
    repl_group_status(s->group, &st);
    size_t n = 0;
    uint32_t total = st.conf.voters_count + st.conf.learners_count;
    for (uint32_t i = 0; i < total && n < max; i++) {
        int voter = i < st.conf.voters_count;
        uint64_t id = voter ? st.conf.voters[i] : st.conf.learners[i - st.conf.voters_count];
        if (id != s->node_id) {
            member_view_fill(s, id, voter, st.last_index, &out[n++]);
        }
    }
    return n;
}
