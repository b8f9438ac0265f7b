/* server: `polis server` — start-up (options, recovery, listener), the loop's hooks and timer,
 * and a clean shutdown. Design: docs/ARCHITECTURE.md, "Data node". */
#include "server/server.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

#define LISTEN_BACKLOG 511 /* Redis' tcp-backlog */

static uint64_t random_u64(void) {
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) {
        v = (uint64_t)time_wall_us() ^ ((uint64_t)getpid() << 32);
    }
    return v;
}

/* Makes room for maxclients descriptors, as Redis does; lowers maxclients if the OS will not. */
int server_fit_fd_limit(server_t *s, long long maxclients, long long *granted) {
    struct rlimit rl;
    rlim_t want = (rlim_t)maxclients + FDS_RESERVED;
    *granted = maxclients;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) {
        return 0;
    }
    rlim_t target = want;
    if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max) {
        target = rl.rlim_max;
    }
    rl.rlim_cur = target;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        target = rl.rlim_cur;
    }
    if (target < want) {
        *granted = target > FDS_RESERVED ? (long long)(target - FDS_RESERVED) : 1;
        return -EMFILE;
    }
    (void)s;
    return 0;
}

static void fit_fd_limit_at_start(server_t *s) {
    long long granted;
    if (server_fit_fd_limit(s, s->config.maxclients, &granted) < 0) {
        log_warning("server",
                    "maxclients %lld needs %lld open files, more than the OS allows; "
                    "maxclients reduced to %lld",
                    s->config.maxclients, s->config.maxclients + FDS_RESERVED, granted);
        s->config.maxclients = granted;
    }
}

void server_request_shutdown(server_t *s, int exit_code) {
    if (s->shutting_down) {
        return;
    }
    if (!s->transfer_deadline_ms) {
        s->exit_code = exit_code;
        if (replica_shutdown_transfer(s)) {
            return; /* replica.c shuts down once leadership moved, or after a bound */
        }
    }
    server_shutdown_now(s, exit_code);
}

void server_shutdown_now(server_t *s, int exit_code) {
    if (s->shutting_down) {
        return;
    }
    s->shutting_down = 1;
    s->exit_code = exit_code;
    log_notice("server", "shutting down");
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_stop(&s->loop); /* after this turn, whose before-sleep commits and replies */
}

static void signal_cb(uv_signal_t *sig, int signum) {
    server_t *s = sig->data;
    log_notice("server", "received %s", signum == SIGINT ? "SIGINT" : "SIGTERM");
    server_request_shutdown(s, 0);
}

static void check_cb(uv_check_t *h) {
    server_before_sleep(h->data);
}

static void prepare_cb(uv_prepare_t *h) {
    server_before_sleep(h->data);
}

static void cron_cb(uv_timer_t *t) {
    server_t *s = t->data;
    int64_t now = time_wall_ms();
    server_stats_sample(s, now);
    replica_cron(s, time_mono_ms());
    server_expire_cycle(s);
    clients_cron(s);
}

static int listen_on(server_t *s, char *err, size_t err_size) {
    struct sockaddr_storage addr;
    const char *host = s->config.bind;
    int rc = strchr(host, ':')
                 ? uv_ip6_addr(host, (int)s->config.port, (struct sockaddr_in6 *)&addr)
                 : uv_ip4_addr(host, (int)s->config.port, (struct sockaddr_in *)&addr);
    if (rc == 0) {
        uv_tcp_init(&s->loop, &s->listener);
        s->listener.data = s;
        rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
    }
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, client_on_connection);
    }
    if (rc < 0) {
        snprintf(err, err_size, "could not listen on %.200s:%lld: %s", host, s->config.port,
                 uv_strerror(rc));
    }
    return rc;
}

static void start_handles(server_t *s) {
    uv_check_init(&s->loop, &s->check);
    uv_prepare_init(&s->loop, &s->prepare);
    uv_idle_init(&s->loop, &s->idle);
    uv_timer_init(&s->loop, &s->cron);
    uv_signal_init(&s->loop, &s->sigint);
    uv_signal_init(&s->loop, &s->sigterm);
    s->check.data = s->prepare.data = s->idle.data = s->cron.data = s;
    s->sigint.data = s->sigterm.data = s;
    uv_check_start(&s->check, check_cb);
    uv_prepare_start(&s->prepare, prepare_cb);
    uv_timer_start(&s->cron, cron_cb, CRON_INTERVAL_MS, CRON_INTERVAL_MS);
    uv_signal_start(&s->sigint, signal_cb, SIGINT);
    uv_signal_start(&s->sigterm, signal_cb, SIGTERM);
}

static void announce(const server_t *s) {
    if (!s->config.announce) {
        return;
    }
    if (s->static_peer_count > 0) {
        printf("polis node %llu ready on %s:%lld (data in %s/)\n", (unsigned long long)s->node_id,
               s->config.bind, s->config.port, s->config.dir);
        fflush(stdout);
        return;
    }
    const char *bind = s->config.bind;
    int local =
        strcmp(bind, "127.0.0.1") == 0 || strcmp(bind, "0.0.0.0") == 0 || strcmp(bind, "::") == 0;
    printf("\npolis %s is ready: one %s node on %s:%lld", POLIS_VERSION,
           s->config.persistence ? "durable" : "in-memory", bind, s->config.port);
    if (s->config.persistence) {
        printf(" (data in %s/)", s->config.dir);
    }
    if (local) {
        printf("\n\n  connect:  redis-cli -p %lld\n", s->config.port);
    } else {
        printf("\n\n  connect:  redis-cli -h %s -p %lld\n", bind, s->config.port);
    }
    printf("  stop:     Ctrl-C\n\n");
    fflush(stdout);
}

/* Everything up to the loop: state, recovery, listener. */
static int server_start(server_t *s, char *err, size_t err_size) {
    s->start_ms = time_wall_ms();
    s->start_mono_ms = time_mono_ms();
    s->lastsave_unix = s->start_ms / 1000;
    s->rng = random_u64();
    uint64_t id[3] = {random_u64(), random_u64(), random_u64()};
    snprintf(s->run_id, sizeof s->run_id, "%016llx%016llx%08llx", (unsigned long long)id[0],
             (unsigned long long)id[1], (unsigned long long)(id[2] & 0xffffffffULL));
    fit_fd_limit_at_start(s);
    if (uv_loop_init(&s->loop) != 0) {
        snprintf(err, err_size, "could not create the event loop");
        return -EIO;
    }
    s->loop_ready = 1;
    s->ks = keyspace_create(random_u64());
    commands_init(s);
    int64_t started = time_mono_ms();
    int rc = replica_setup(s, err, err_size);
    if (rc == 0) {
        rc = durable_open(s, err, err_size);
    }
    if (rc < 0) {
        return rc;
    }
    if (s->group) {
        repl_status_t st;
        repl_group_status(s->group, &st);
        log_notice("server",
                   "node %llu recovered %zu keys from %s in %lld ms (applied index %llu, log "
                   "up to %llu)",
                   (unsigned long long)s->node_id, keyspace_key_count(s->ks), s->config.dir,
                   (long long)(time_mono_ms() - started), (unsigned long long)st.applied,
                   (unsigned long long)st.last_index);
    }
    rc = listen_on(s, err, err_size);
    if (rc < 0) {
        return rc;
    }
    start_handles(s);
    s->running = 1;
    log_notice("server", "polis %s ready to accept connections on %s:%lld (persistence %s)",
               POLIS_VERSION, s->config.bind, s->config.port, s->config.persistence ? "on" : "off");
    announce(s);
    return 0;
}

static void close_cb_noop(uv_handle_t *h) {
    (void)h;
}

static void close_any(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) {
        uv_close(h, close_cb_noop);
    }
}

/* After the loop stopped: commit what is pending, answer, close everything, free. */
static void server_stop(server_t *s) {
    if (s->running) {
        server_before_sleep(s);
    }
    while (s->clients) {
        client_close(s->clients);
    }
    while (s->virtuals) {
        client_close(s->virtuals);
    }
    clients_free_dead(s);
    durable_close(s);
    replica_close(s);
    if (s->loop_ready) {
        uv_walk(&s->loop, close_any, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
    }
    if (s->ks) {
        keyspace_free(s->ks);
    }
    buf_free(&s->batch);
    mem_free(s->batched);
    buf_free(&s->scratch);
    mem_free(s->pending);
    mem_free(s->flush.items);
    mem_free(s->resume.items);
    if (s->running) {
        log_notice("server", "polis is now ready to exit, bye bye");
    }
}

static void config_file_of(int argc, char **argv, char *dst, size_t size) {
    dst[0] = '\0';
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            snprintf(dst, size, "%s", argv[i + 1]);
        }
    }
}

static int wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return 1;
        }
    }
    return 0;
}

int server_main(int argc, char **argv) {
    if (wants_help(argc, argv)) {
        config_print_help(stdout);
        return 0;
    }
    /* Count libuv's own allocations too, so used_memory is what the process holds. */
    uv_replace_allocator(mem_alloc, mem_realloc, mem_calloc, mem_free);
    /* Buffers of a megabyte or so (bus batches, large replies) come and go every loop turn:
     * served from the heap instead of fresh mmaps, they cost no page faults each time. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    signal(SIGPIPE, SIG_IGN);
    server_t *s = mem_calloc(1, sizeof *s);
    char err[CONFIG_ERR_MAX * 2];
    config_init(&s->config);
    int rc = config_parse_args(&s->config, argc, argv, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "polis server: %s\n(see polis server --help)\n", err);
        mem_free(s);
        return 2;
    }
    config_file_of(argc, argv, s->config_file, sizeof s->config_file);
    log_set_level((enum log_level)s->config.loglevel);
    if (s->config.logfile[0] && log_set_file(s->config.logfile) < 0) {
        fprintf(stderr, "polis server: cannot open log file %s\n", s->config.logfile);
        mem_free(s);
        return 1;
    }
    rc = server_start(s, err, sizeof err);
    if (rc < 0) {
        log_warning("server", "cannot start: %s", err);
        fprintf(stderr, "polis server: %s\n", err);
        s->exit_code = 1;
    } else {
        uv_run(&s->loop, UV_RUN_DEFAULT);
    }
    server_stop(s);
    int code = s->exit_code;
    mem_free(s);
    return code;
}
