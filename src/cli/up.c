/* up: `polis up`, the newcomer's first command.
 *
 * Without --replicas: one durable node in the foreground (data under ./data, port 7379); the
 * flags after `up` go to the server. With --replicas N: N `polis server` child processes form
 * one replication group on this machine (client ports BASE..BASE+N-1, bus ports 10000 above,
 * data in DIR/node1..N, logs in DIR/nodeI.log); once a leader is elected it prints one line per
 * node and the leader, and Ctrl-C (or SIGTERM) stops every node cleanly. Processes, not threads:
 * killing one shows a failover. Design: docs/ARCHITECTURE.md, "Replication". */
#include "cli/up.h"

#include <errno.h>
#include <hiredis.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>

#include "core/mem.h"
#include "server/server.h"

#define UP_ARGS_MAX 64
#define UP_REPLICAS_MAX 7
#define UP_PORT_DEFAULT 7379
#define UP_START_WAIT_MS 10000 /* nodes must answer and elect a leader within this */
#define UP_STOP_WAIT_MS 10000  /* then SIGKILL */
#define UP_POLL_MS 100

struct up;

typedef struct up_node {
    struct up *up;
    int id;
    int port;
    uv_process_t proc;
    int running;
    int64_t exit_status;
} up_node_t;

typedef struct up {
    uv_loop_t *loop;
    up_node_t nodes[UP_REPLICAS_MAX];
    int count;
    int base_port;
    char dir[PATH_MAX / 2];
    uv_signal_t sigint, sigterm;
    uv_timer_t timer;
    uint64_t started_ms;
    int announced;
    int stopping;
    uint64_t stop_ms;
} up_t;

static int up_single(int argc, char **argv) {
    char *args[UP_ARGS_MAX];
    int n = 0;
    args[n++] = "server";
    args[n++] = "--dir";
    args[n++] = "data";
    args[n++] = "--announce";
    args[n++] = "yes";
    for (int i = 1; i < argc; i++) {
        args[n++] = argv[i];
    }
    args[n] = NULL;
    return server_main(n, args);
}

static void usage(void) {
    printf("usage: polis up [SERVER OPTIONS]\n"
           "       polis up --replicas N [--port BASE] [--dir DIR]\n\n"
           "Starts a durable polis node in the foreground (data in ./data, port 7379) and\n"
           "prints how to connect. Any `polis server` option may follow and overrides the\n"
           "defaults; see `polis server --help`.\n\n"
           "With --replicas N (1 to %d), starts N nodes forming one replication group on\n"
           "this machine: client ports BASE..BASE+N-1 (default 7379), cluster bus ports\n"
           "10000 above, data in DIR/node1..N (default ./data), logs in DIR/nodeI.log.\n"
           "It prints each node's role and the leader; Ctrl-C stops them all.\n",
           UP_REPLICAS_MAX);
}

/* Asks one node for INFO replication: 0 with its role and leader id, or -1. */
static int node_role(const up_node_t *nd, char *role, size_t size, int *leader_id) {
    struct timeval tv = {0, 300000};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", nd->port, tv);
    if (!rc || rc->err) {
        redisFree(rc);
        return -1;
    }
    redisSetTimeout(rc, tv);
    redisReply *r = redisCommand(rc, "INFO replication");
    int ok = -1;
    if (r && r->type == REDIS_REPLY_STRING && r->str) {
        const char *p = strstr(r->str, "role:");
        const char *l = strstr(r->str, "leader_id:");
        char fmt[32];
        snprintf(fmt, sizeof fmt, "role:%%%zu[a-z]", size - 1);
        if (p && l && sscanf(p, fmt, role) == 1 && sscanf(l, "leader_id:%d", leader_id) == 1) {
            ok = 0;
        }
    }
    freeReplyObject(r);
    redisFree(rc);
    return ok;
}

static void print_group(up_t *u, int leader) {
    printf("\npolis is up: a %d-replica group on this machine (data in %s/)\n\n", u->count,
           u->dir);
    for (int i = 0; i < u->count; i++) {
        char role[32] = "?";
        int lid = 0;
        node_role(&u->nodes[i], role, sizeof role, &lid);
        printf("  node %d  port %d  %s\n", u->nodes[i].id, u->nodes[i].port, role);
    }
    printf("\n  leader:   node %d (port %d)\n", leader, u->base_port + leader - 1);
    printf("  connect:  redis-cli -p %d        (any node: followers forward to the leader)\n",
           u->base_port);
    printf("  status:   redis-cli -p %d INFO replication\n", u->base_port);
    printf("  stop:     Ctrl-C\n\n");
    fflush(stdout);
}

static void stop_all(up_t *u, int signum) {
    for (int i = 0; i < u->count; i++) {
        if (u->nodes[i].running) {
            uv_process_kill(&u->nodes[i].proc, signum);
        }
    }
}

static void close_handles(up_t *u) {
    uv_close((uv_handle_t *)&u->sigint, NULL);
    uv_close((uv_handle_t *)&u->sigterm, NULL);
    uv_close((uv_handle_t *)&u->timer, NULL);
}

static int running_count(const up_t *u) {
    int n = 0;
    for (int i = 0; i < u->count; i++) {
        n += u->nodes[i].running;
    }
    return n;
}

static void exit_cb(uv_process_t *p, int64_t status, int signum) {
    up_node_t *nd = p->data;
    up_t *u = nd->up;
    nd->running = 0;
    nd->exit_status = status;
    uv_close((uv_handle_t *)p, NULL);
    if (!u->stopping) {
        fprintf(stderr, "polis up: node %d exited (status %lld, signal %d); see %s/node%d.log\n",
                nd->id, (long long)status, signum, u->dir, nd->id);
    }
    if (u->stopping && running_count(u) == 0) {
        close_handles(u);
    }
}

static void begin_stop(up_t *u) {
    if (u->stopping) {
        return;
    }
    u->stopping = 1;
    u->stop_ms = uv_now(u->loop);
    printf("stopping %d nodes...\n", running_count(u));
    fflush(stdout);
    stop_all(u, SIGTERM);
    if (running_count(u) == 0) {
        close_handles(u);
    }
}

static void signal_cb(uv_signal_t *s, int signum) {
    begin_stop(s->data);
}

static void timer_cb(uv_timer_t *t) {
    up_t *u = t->data;
    uint64_t now = uv_now(u->loop);
    if (u->stopping) {
        if (now - u->stop_ms > UP_STOP_WAIT_MS) {
            stop_all(u, SIGKILL);
        }
        return;
    }
    if (u->announced) {
        return;
    }
    for (int i = 0; i < u->count; i++) {
        char role[32];
        int lid = 0;
        if (node_role(&u->nodes[i], role, sizeof role, &lid) == 0 && lid > 0 &&
            strcmp(role, "leader") == 0) {
            u->announced = 1;
            print_group(u, lid);
            return;
        }
    }
    if (now - u->started_ms > UP_START_WAIT_MS) {
        fprintf(stderr, "polis up: no leader after %d s; see the logs in %s/\n",
                UP_START_WAIT_MS / 1000, u->dir);
        u->announced = 1;
    }
}

static int spawn_node(up_t *u, up_node_t *nd, const char *peers) {
    char exe[PATH_MAX];
    size_t exe_len = sizeof exe;
    if (uv_exepath(exe, &exe_len) != 0) {
        return -ENOENT;
    }
    char id[16], port[16], dir[PATH_MAX], log[PATH_MAX];
    snprintf(id, sizeof id, "%d", nd->id);
    snprintf(port, sizeof port, "%d", nd->port);
    snprintf(dir, sizeof dir, "%s/node%d", u->dir, nd->id);
    snprintf(log, sizeof log, "%s/node%d.log", u->dir, nd->id);
    char *args[] = {exe,       "server", "--id",      id,   "--port",    port,
                    "--dir",   dir,      "--peers",   (char *)peers, "--logfile", log,
                    NULL};
    uv_process_options_t o = {.file = exe, .args = args, .exit_cb = exit_cb};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_INHERIT_FD, .data.fd = 1},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    o.stdio = stdio;
    o.stdio_count = 3;
    nd->proc.data = nd;
    int rc = uv_spawn(u->loop, &nd->proc, &o);
    nd->running = rc == 0;
    return rc;
}

/* Parses up's own flags; 0, 1 (help printed) or -1 (message printed). */
static int parse_group_args(int argc, char **argv, up_t *u) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "polis up: %s needs a value\n", a);
            return -1;
        }
        const char *v = argv[++i];
        char *end = NULL;
        long n = strtol(v, &end, 10);
        if (strcmp(a, "--replicas") == 0 && *end == '\0' && n >= 1 && n <= UP_REPLICAS_MAX) {
            u->count = (int)n;
        } else if (strcmp(a, "--port") == 0 && *end == '\0' && n > 0 &&
                   n + UP_REPLICAS_MAX + 10000 <= 65535) {
            u->base_port = (int)n;
        } else if (strcmp(a, "--dir") == 0 && strlen(v) < sizeof u->dir) {
            snprintf(u->dir, sizeof u->dir, "%s", v);
        } else {
            fprintf(stderr, "polis up: bad option %s %s (see polis up --help)\n", a, v);
            return -1;
        }
    }
    return 0;
}

static int up_group(int argc, char **argv) {
    up_t *u = mem_calloc(1, sizeof *u);
    u->base_port = UP_PORT_DEFAULT;
    snprintf(u->dir, sizeof u->dir, "data");
    int rc = parse_group_args(argc, argv, u);
    if (rc != 0 || (mkdir(u->dir, 0755) != 0 && errno != EEXIST)) {
        if (rc == 0) {
            fprintf(stderr, "polis up: cannot create %s: %s\n", u->dir, strerror(errno));
        }
        mem_free(u);
        return rc > 0 ? 0 : 2;
    }
    char peers[1024] = "";
    size_t len = 0;
    for (int i = 1; i <= u->count; i++) {
        len += (size_t)snprintf(peers + len, sizeof peers - len, "%s%d@127.0.0.1:%d",
                                i > 1 ? "," : "", i, u->base_port + i - 1 + 10000);
    }
    u->loop = uv_default_loop();
    signal(SIGPIPE, SIG_IGN);
    uv_signal_init(u->loop, &u->sigint);
    uv_signal_init(u->loop, &u->sigterm);
    u->sigint.data = u->sigterm.data = u;
    uv_signal_start(&u->sigint, signal_cb, SIGINT);
    uv_signal_start(&u->sigterm, signal_cb, SIGTERM);
    uv_timer_init(u->loop, &u->timer);
    u->timer.data = u;
    u->started_ms = uv_now(u->loop);
    int failed = 0;
    for (int i = 0; i < u->count && !failed; i++) {
        u->nodes[i].up = u;
        u->nodes[i].id = i + 1;
        u->nodes[i].port = u->base_port + i;
        if (spawn_node(u, &u->nodes[i], peers) != 0) {
            fprintf(stderr, "polis up: cannot start node %d\n", i + 1);
            failed = 1;
        }
    }
    printf("starting %d nodes (ports %d-%d, data in %s/)...\n", u->count, u->base_port,
           u->base_port + u->count - 1, u->dir);
    fflush(stdout);
    uv_timer_start(&u->timer, timer_cb, UP_POLL_MS, UP_POLL_MS);
    if (failed) {
        begin_stop(u);
    }
    uv_run(u->loop, UV_RUN_DEFAULT);
    int code = failed;
    for (int i = 0; i < u->count; i++) {
        code |= u->nodes[i].exit_status != 0;
    }
    uv_loop_close(u->loop);
    printf("all nodes stopped\n");
    mem_free(u);
    return code ? 1 : 0;
}

int up_main(int argc, char **argv) {
    if (argc > UP_ARGS_MAX - 8) {
        fprintf(stderr, "polis up: too many arguments\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--replicas") == 0) {
            return up_group(argc, argv);
        }
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return 0;
        }
    }
    return up_single(argc, argv);
}
