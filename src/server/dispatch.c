/* dispatch: the node's command table (node commands + keyspace commands), lookup, the checks
 * every command passes (arity, memory, storage failure), and the write path's first half:
 * proposing a write. Design: docs/ARCHITECTURE.md, "Data node". */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

#define NODE(name, fn, arity, flags, group, since, summary)                                        \
    { {name, NULL, arity, flags, 0, 0, 0, group, since, summary}, fn, NULL, 0, 0 }
#define CONTAINER(name, fn, arity, flags, group, since, summary, subs)                             \
    {                                                                                              \
        {name, NULL, arity, flags, 0, 0, 0, group, since, summary}, fn, subs,                      \
            sizeof subs / sizeof subs[0], 0                                                        \
    }
#define ON_LEADER(name, fn, arity, flags, group, since, summary)                                   \
    { {name, NULL, arity, flags, 0, 0, 0, group, since, summary}, fn, NULL, 0, 1 }

enum {
    F_CONN = CMD_FAST | CMD_LOADING | CMD_STALE,
    F_ADMIN = CMD_ADMIN | CMD_NOSCRIPT | CMD_LOADING | CMD_STALE,
};

static const node_command_t client_subcommands[] = {
    NODE("client|id", node_client_id, 2, F_CONN, "connection", "5.0.0",
         "Returns the unique client ID of the connection."),
    NODE("client|setname", node_client_setname, 3, F_CONN, "connection", "2.6.9",
         "Sets the connection name."),
    NODE("client|getname", node_client_getname, 2, F_CONN, "connection", "2.6.9",
         "Returns the name of the connection."),
    NODE("client|list", node_client_list, -2, F_ADMIN, "connection", "2.4.0",
         "Lists open connections."),
    NODE("client|info", node_client_info, 2, F_CONN, "connection", "6.2.0",
         "Returns information about the connection."),
    NODE("client|kill", node_client_kill, -3, F_ADMIN, "connection", "2.4.0",
         "Terminates open connections."),
    NODE("client|help", node_client_help, 2, CMD_LOADING | CMD_STALE, "connection", "5.0.0",
         "Returns helpful text about the different subcommands."),
};

static const node_command_t config_subcommands[] = {
    NODE("config|get", node_config_get, -3, F_ADMIN, "server", "2.0.0",
         "Returns the effective values of configuration parameters."),
    NODE("config|set", node_config_set, -4, F_ADMIN, "server", "2.0.0",
         "Sets configuration parameters in-flight."),
    NODE("config|resetstat", node_config_resetstat, 2, F_ADMIN, "server", "2.0.0",
         "Resets the server's statistics."),
    NODE("config|help", node_config_help, 2, CMD_LOADING | CMD_STALE, "server", "5.0.0",
         "Returns helpful text about the different subcommands."),
};

static const node_command_t group_subcommands[] = {
    ON_LEADER("polis.group|add", node_group_add, -4, F_ADMIN, "server", "polis",
              "Adds a member to the replication group (a learner, a voter once caught up)."),
    ON_LEADER("polis.group|remove", node_group_remove, 3, F_ADMIN, "server", "polis",
              "Removes a member from the replication group."),
    ON_LEADER("polis.group|transfer", node_group_transfer, -2, F_ADMIN, "server", "polis",
              "Hands the group's leadership to another voter."),
    NODE("polis.group|status", node_group_status, 2, F_ADMIN, "server", "polis",
         "Returns the replication group's members, leader and indexes."),
    NODE("polis.group|help", node_group_help, 2, CMD_LOADING | CMD_STALE, "server", "polis",
         "Returns helpful text about the different subcommands."),
};

static const node_command_t command_subcommands[] = {
    NODE("command|count", node_command_count, 2, CMD_LOADING | CMD_STALE, "server", "2.8.13",
         "Returns a count of commands."),
    NODE("command|info", node_command_info, -2, CMD_LOADING | CMD_STALE, "server", "2.8.13",
         "Returns information about one, multiple or all commands."),
    NODE("command|docs", node_command_docs, -2, CMD_LOADING | CMD_STALE, "server", "7.0.0",
         "Returns documentary information about one, multiple or all commands."),
    NODE("command|help", node_command_help, 2, CMD_LOADING | CMD_STALE, "server", "5.0.0",
         "Returns helpful text about the different subcommands."),
};

const node_command_t node_commands[] = {
    NODE("ping", node_ping, -1, CMD_FAST, "connection", "1.0.0",
         "Returns the server's liveliness response."),
    NODE("echo", node_echo, 2, F_CONN, "connection", "1.0.0", "Returns the given string."),
    NODE("hello", node_hello, -1, F_CONN | CMD_NOSCRIPT, "connection", "6.0.0",
         "Handshakes with the server (protocol version, client name)."),
    NODE("select", node_select, 2, F_CONN, "connection", "1.0.0",
         "Changes the selected database (polis has database 0 only)."),
    NODE("quit", node_quit, -1, CMD_FAST | CMD_LOADING | CMD_STALE, "connection", "1.0.0",
         "Closes the connection."),
    NODE("reset", node_reset, 1, F_CONN | CMD_NOSCRIPT, "connection", "6.2.0",
         "Resets the connection."),
    CONTAINER("client", NULL, -2, 0, "connection", "2.4.0",
              "A container for client connection commands.", client_subcommands),
    CONTAINER("config", NULL, -2, 0, "server", "2.0.0",
              "A container for server configuration commands.", config_subcommands),
    CONTAINER("command", node_command, -1, CMD_LOADING | CMD_STALE, "server", "2.8.13",
              "Returns detailed information about all commands.", command_subcommands),
    NODE("info", node_info, -1, CMD_LOADING | CMD_STALE, "server", "1.0.0",
         "Returns information and statistics about the server."),
    NODE("time", node_time, 1, CMD_FAST | CMD_LOADING | CMD_STALE | CMD_RANDOM, "server", "2.6.0",
         "Returns the server time."),
    NODE("save", node_save, 1, F_ADMIN, "server", "1.0.0",
         "Synchronously saves a snapshot of the keyspace to disk."),
    NODE("bgsave", node_bgsave, -1, F_ADMIN, "server", "1.0.0",
         "Asynchronously saves a snapshot of the keyspace to disk."),
    NODE("lastsave", node_lastsave, 1, CMD_FAST | CMD_LOADING | CMD_STALE | CMD_RANDOM, "server",
         "1.0.0", "Returns the Unix timestamp of the last successful snapshot."),
    NODE("shutdown", node_shutdown, -1, F_ADMIN, "server", "1.0.0",
         "Synchronously flushes the log and shuts down the server."),
    NODE("readonly", node_readonly, 1, F_CONN, "cluster", "3.0.0",
         "Enables read-only queries on a replica: reads are served from its own state."),
    NODE("readwrite", node_readwrite, 1, F_CONN, "cluster", "3.0.0",
         "Disables read-only queries on a replica."),
    ON_LEADER("wait", node_wait, 3, CMD_NOSCRIPT, "generic", "3.0.0",
              "Blocks until the writes of the connection reach the given number of replicas."),
    CONTAINER("polis.group", NULL, -2, 0, "server", "polis",
              "A container for replication group commands.", group_subcommands),
};

const size_t node_command_table_size = sizeof node_commands / sizeof node_commands[0];

static uint32_t name_hash(const char *lower, size_t len) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)lower[i]) * 16777619u;
    }
    return h;
}

static void command_insert(server_t *s, const command_t *info, const node_command_t *node) {
    size_t len = strlen(info->name);
    assert(len < COMMAND_NAME_MAX);
    assert(s->command_count < COMMAND_SLOTS / 2);
    uint32_t slot = name_hash(info->name, len) % COMMAND_SLOTS;
    while (s->commands[slot].info) {
        if (strcmp(s->commands[slot].info->name, info->name) == 0) {
            log_warning("server", "command '%s' defined twice; keeping the first", info->name);
            return;
        }
        slot = (slot + 1) % COMMAND_SLOTS;
    }
    s->commands[slot].info = info;
    s->commands[slot].node = node;
    s->command_count++;
}

void commands_init(server_t *s) {
    memset(s->commands, 0, sizeof s->commands);
    s->command_count = 0;
    for (size_t i = 0; i < node_command_table_size; i++) {
        command_insert(s, &node_commands[i].info, &node_commands[i]);
    }
    for (size_t i = 0; i < kv_command_count; i++) {
        command_insert(s, &kv_command_table[i], NULL);
    }
    s->del_command = kv_command_lookup("del", 3);
    assert(s->del_command);
}

const command_entry_t *command_lookup(const server_t *s, slice_t name) {
    char lower[COMMAND_NAME_MAX];
    if (name.len == 0 || name.len >= sizeof lower) {
        return NULL;
    }
    for (size_t i = 0; i < name.len; i++) {
        lower[i] = (char)tolower((unsigned char)name.ptr[i]);
    }
    uint32_t slot = name_hash(lower, name.len) % COMMAND_SLOTS;
    for (size_t probes = 0; probes < COMMAND_SLOTS && s->commands[slot].info; probes++) {
        const char *n = s->commands[slot].info->name;
        if (strncmp(n, lower, name.len) == 0 && n[name.len] == '\0') {
            return &s->commands[slot];
        }
        slot = (slot + 1) % COMMAND_SLOTS;
    }
    return NULL;
}

/* How many bytes of s printf's %s would show: up to the first NUL, at most max. */
static int shown(slice_t s, size_t max) {
    size_t n = s.len < max ? s.len : max;
    const char *nul = memchr(s.ptr, '\0', n);
    return (int)(nul ? (size_t)(nul - s.ptr) : n);
}

/* Redis' text: the name and the start of the arguments, 128 bytes of them at most. */
static void reply_unknown_command(reply_t *r, int argc, const slice_t *argv) {
    char args[160];
    size_t n = 0;
    args[0] = '\0';
    for (int i = 1; i < argc && n < 128; i++) {
        int len = shown(argv[i], 128 - n);
        n += (size_t)snprintf(args + n, sizeof args - n, "'%.*s' ", len, argv[i].ptr);
    }
    reply_errorf(r, "ERR unknown command '%.*s', with args beginning with: %s", shown(argv[0], 128),
                 argv[0].ptr, args);
}

static const node_command_t *find_subcommand(const node_command_t *node, slice_t name) {
    for (size_t i = 0; i < node->subcommand_count; i++) {
        const char *full = node->subcommands[i].info.name;
        const char *bar = strchr(full, '|');
        assert(bar);
        if (slice_eq_nocase(name, bar + 1)) {
            return &node->subcommands[i];
        }
    }
    return NULL;
}

static int arity_ok(int arity, int argc) {
    return arity > 0 ? argc == arity : argc >= -arity;
}

/* Whether a write's record stays within the log's limit (an upper bound of its encoding). */
static int record_fits(const server_t *s, int argc, const slice_t *argv) {
    if (!s->group) {
        return 1;
    }
    size_t bytes = 64;
    for (int i = 0; i < argc && bytes <= RAFT_ENTRY_BYTES_MAX; i++) {
        bytes += argv[i].len + 4;
    }
    return bytes <= RAFT_ENTRY_BYTES_MAX;
}

static void reply_unknown_subcommand(reply_t *r, const slice_t *argv) {
    char upper[COMMAND_NAME_MAX];
    size_t n = argv[0].len < sizeof upper - 1 ? argv[0].len : sizeof upper - 1;
    for (size_t i = 0; i < n; i++) {
        upper[i] = (char)toupper((unsigned char)argv[0].ptr[i]);
    }
    upper[n] = '\0';
    reply_errorf(r, "ERR unknown subcommand '%.*s'. Try %s HELP.", shown(argv[1], 128), argv[1].ptr,
                 upper);
}

/* Resolves a container's subcommand. Returns the command to run, or NULL after replying. */
static const node_command_t *resolve(reply_t *r, const node_command_t *node, int argc,
                                     const slice_t *argv) {
    if (!node->subcommands || argc < 2) {
        return node;
    }
    const node_command_t *sub = find_subcommand(node, argv[1]);
    if (!sub) {
        reply_unknown_subcommand(r, argv);
    }
    return sub;
}

static void execute_read(server_t *s, client_t *c, const command_t *info, int argc,
                         const slice_t *argv) {
    reply_t r = client_reply(c);
    exec_ctx_t ctx = {.ks = s->ks,
                      .reply = &r,
                      .argc = argc,
                      .argv = argv,
                      .now_ms = time_wall_ms(),
                      .stamp = 0,
                      .clock = &s->clock,
                      .rng = &s->rng};
    keyspace_execute(info, &ctx);
}

/* The command that will run, without replying: a container's subcommand (NULL when unknown),
 * else the command itself (NULL when unknown). */
static const command_t *effective_command(const command_entry_t *e, int argc,
                                          const slice_t *argv, const node_command_t **node) {
    *node = e ? e->node : NULL;
    if (!e) {
        return NULL;
    }
    if (*node && (*node)->subcommands && argc >= 2) {
        *node = find_subcommand(*node, argv[1]);
        return *node ? &(*node)->info : NULL;
    }
    return e->info;
}

/* Replies must come in the order of the commands. A command may go ahead of the client's
 * outstanding ones only when it queues behind them the same way: a write behind the client's
 * proposals of this term (the log orders them), a forwarded command behind those forwarded to
 * the same leader (which answers in order). */
static int must_wait(const client_t *c, int route, uint64_t leader) {
    if (c->block != BLOCK_NONE) {
        return 1;
    }
    if (c->pending_writes > 0 &&
        !(route == ROUTE_PROPOSE && c->pending_term == c->srv->term && c->forwarded == 0)) {
        return 1;
    }
    return c->forwarded > 0 && !(route == ROUTE_FORWARD && leader == c->fwd_target);
}

/* Checks every command passes before running: unknown command or subcommand, arity, size.
 * Returns the command to run, or NULL after replying. */
static const command_t *check_command(client_t *c, const command_entry_t *e, int argc,
                                      const slice_t *argv, const node_command_t **node) {
    reply_t r = client_reply(c);
    if (!e) {
        reply_unknown_command(&r, argc, argv);
        return NULL;
    }
    *node = e->node;
    if (*node && !(*node = resolve(&r, *node, argc, argv))) {
        return NULL;
    }
    const command_t *info = *node ? &(*node)->info : e->info;
    if (!arity_ok(info->arity, argc)) {
        reply_error_arity(&r, info->name, strlen(info->name));
        return NULL;
    }
    if ((info->flags & CMD_WRITE) && !record_fits(c->srv, argc, argv)) {
        reply_error(&r, "ERR the write is larger than the largest log entry (64 MB; 8 MB once "
                        "the node has replicas)");
        return NULL;
    }
    return info;
}

int dispatch(client_t *c, int argc, const slice_t *argv) {
    assert(argc > 0);
    server_t *s = c->srv;
    const command_entry_t *e = command_lookup(s, argv[0]);
    const node_command_t *node = NULL;
    const command_t *cmd = effective_command(e, argc, argv, &node);
    int is_write = cmd && (cmd->flags & CMD_WRITE);
    int well_formed = cmd && arity_ok(cmd->arity, argc) && (!is_write || record_fits(s, argc, argv));
    uint64_t leader = 0;
    int route = ROUTE_LOCAL;
    if (s->group && well_formed) {
        route = replica_route(c, cmd, node, is_write, &leader);
    }
    if (must_wait(c, route, leader)) {
        return DISPATCH_WAIT;
    }
    client_mark_output(c);
    const command_t *info = check_command(c, e, argc, argv, &node);
    if (!info) {
        return DISPATCH_DONE;
    }
    switch (route) {
    case ROUTE_NO_LEADER:
        return replica_wait_leader(c);
    case ROUTE_READINDEX:
        return replica_wait_read(c);
    case ROUTE_FORWARD:
        c->leader_wait_ms = 0;
        c->last_command = info->name;
        return forward_command(c, leader, argc, argv);
    default:
        break;
    }
    c->leader_wait_ms = 0;
    reply_t r = client_reply(c);
    if ((info->flags & CMD_DENYOOM) && (route == ROUTE_PROPOSE || !s->group) &&
        server_evict(s) < 0) {
        if (client_outstanding(c) > 0) {
            return DISPATCH_WAIT;
        }
        reply_error(&r, ERR_OOM);
        return DISPATCH_DONE;
    }
    if ((is_write || (node && node->fn == node_ping)) && server_write_failure(s)) {
        if (client_outstanding(c) > 0) {
            return DISPATCH_WAIT;
        }
        reply_misconf(s, &r);
        return DISPATCH_DONE;
    }
    c->last_command = info->name;
    if (node) {
        s->stats.commands_processed++;
        node->fn(c, argc, argv);
    } else if (is_write) {
        if (server_propose(s, c, info, argc, argv) == DISPATCH_WAIT) {
            return replica_wait_leader(c); /* leadership is moving */
        }
        s->stats.commands_processed++;
    } else {
        s->stats.commands_processed++;
        execute_read(s, c, info, argc, argv);
    }
    return DISPATCH_DONE;
}

int server_propose(server_t *s, client_t *c, const command_t *cmd, int argc, const slice_t *argv) {
    assert(cmd && (cmd->flags & CMD_WRITE));
    assert(argc > 0);
    int64_t now = time_wall_ms();
    stamp_t stamp = hlc_tick(&s->clock, now);
    reply_t none = {NULL, 2};
    reply_t r = c ? client_reply(c) : none;
    if (!s->group) {
        exec_ctx_t ctx = {.ks = s->ks,
                          .reply = &r,
                          .argc = argc,
                          .argv = argv,
                          .now_ms = now,
                          .stamp = stamp,
                          .clock = &s->clock,
                          .rng = &s->rng};
        keyspace_execute(cmd, &ctx);
        s->stats.dirty += ctx.dirty;
        return DISPATCH_DONE;
    }
    int rc = repl_group_can_propose(s->group);
    if (rc == 0) {
        batch_add(s, c, stamp, now, argc, argv);
        return DISPATCH_DONE;
    }
    if (rc == RAFT_ENOTLEADER || rc == RAFT_ETRANSFER) {
        return c ? DISPATCH_WAIT : DISPATCH_DONE;
    }
    reply_propose_error(s, &r, rc);
    return DISPATCH_DONE;
}
