/* lb: `polis lb` start-up, configuration changes, signals and shutdown (see control.h; the
 * design is in docs/ARCHITECTURE.md, "Load balancer"). */
#include "lb/lb.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/control.h"

int lb_apply(lb_t *lb, lb_config_t *cfg, char *err, size_t err_len) {
    lb_state_t *st = lb_state_build(cfg, lb->state, lb->threads);
    int rc = lb_worker_adopt(&lb->workers[0], st);
    if (rc < 0) {
        snprintf(err, err_len, "cannot listen: %s", strerror(-rc));
        lb_state_unref(st);
        lb_config_free(cfg);
        return rc;
    }
    for (unsigned i = 1; i < lb->threads; i++) {
        lb_worker_post(&lb->workers[i], st, 0);
    }
    lb_state_retire(lb->state, st);
    lb_health_sync(lb->health, st);
    lb_state_unref(lb->state);
    lb->state = st;
    lb_config_free(lb->config);
    lb->config = cfg;
    log_notice("lb", "configuration generation %llu applied", (unsigned long long)st->generation);
    return 0;
}

static int access_log_open(const char *path, int *fd) {
    *fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return *fd < 0 ? -errno : 0;
}

int lb_reload(lb_t *lb, char *err, size_t err_len) {
    if (!lb->config_path) {
        snprintf(err, err_len, "started without --config: there is no file to re-read");
        return -EINVAL;
    }
    lb_config_t *cfg = lb_config_new();
    int rc = lb_config_load(cfg, lb->config_path, err, err_len);
    if (rc == 0) {
        rc = lb_config_global_flags(cfg, lb->argc, lb->argv, err, err_len);
    }
    if (rc == 0) {
        rc = lb_config_validate(cfg, err, err_len);
    }
    if (rc < 0) {
        lb_config_free(cfg);
        return rc;
    }
    if (cfg->threads != lb->threads) {
        log_warning("lb", "reload: threads stays %u (changing it needs a restart)", lb->threads);
        cfg->threads = lb->threads;
    }
    if (cfg->has_admin != lb->config->has_admin ||
        (cfg->has_admin && !net_addr_equal((struct sockaddr *)&cfg->admin_addr,
                                           (struct sockaddr *)&lb->config->admin_addr))) {
        log_warning("lb", "reload: the admin address stays (changing it needs a restart)");
    }
    cfg->has_admin = lb->config->has_admin;
    cfg->admin_addr = lb->config->admin_addr;
    if (cfg->log_level >= 0) {
        log_set_level((enum log_level)cfg->log_level);
    }
    int fd;
    if (lb->access_fd >= 0 && cfg->access_log[0] && access_log_open(cfg->access_log, &fd) == 0) {
        dup2(fd, lb->access_fd); /* the workers' descriptor now names the new file (rotation) */
        close(fd);
    }
    return lb_apply(lb, cfg, err, err_len);
}

static void lb_stop(lb_t *lb) {
    if (lb->stopping) {
        return;
    }
    lb->stopping = 1;
    log_notice("lb", "stopping: no new connections, %u ms for requests in flight",
               lb->config->grace_ms);
    uv_close((uv_handle_t *)&lb->sig_hup, NULL);
    uv_close((uv_handle_t *)&lb->sig_term, NULL);
    uv_close((uv_handle_t *)&lb->sig_int, NULL);
    if (lb->admin) {
        lb_admin_stop(lb->admin);
        lb->admin = NULL;
    }
    lb_health_stop(lb->health);
    lb->health = NULL;
    for (unsigned i = 1; i < lb->threads; i++) {
        lb_worker_post(&lb->workers[i], NULL, 1);
    }
    lb_worker_drain(&lb->workers[0], lb->config->grace_ms);
}

static void on_signal(uv_signal_t *sig, int signum) {
    lb_t *lb = sig->data;
    if (signum != SIGHUP) {
        lb_stop(lb);
        return;
    }
    char err[512];
    if (lb_reload(lb, err, sizeof err) < 0) {
        log_warning("lb", "reload failed, the previous configuration stays: %s", err);
    }
}

static void announce(const lb_state_t *st) {
    for (size_t i = 0; i < st->frontend_count; i++) {
        const lb_frontend_t *f = &st->frontends[i];
        log_notice("lb", "frontend %s listening on %s (%s) -> backend %s (%s, %zu servers)",
                   f->conf.name, f->conf.listen, f->conf.mode == LB_MODE_HTTP ? "http" : "tcp",
                   f->backend->conf.name, f->backend->policy->name, f->backend->view.count);
    }
}

/* Builds the first state, binds every worker's listeners and the admin port. */
static int lb_open(lb_t *lb, char *err, size_t err_len) {
    lb->state = lb_state_build(lb->config, NULL, lb->threads);
    for (unsigned i = 0; i < lb->threads; i++) {
        int rc = lb_worker_adopt(&lb->workers[i], lb->state);
        if (rc < 0) {
            snprintf(err, err_len, "cannot listen: %s", strerror(-rc));
            return rc;
        }
    }
    lb_health_sync(lb->health, lb->state);
    if (lb->config->has_admin) {
        int rc = lb_admin_start(lb, (struct sockaddr *)&lb->config->admin_addr, &lb->admin);
        if (rc < 0) {
            snprintf(err, err_len, "cannot listen on admin address %s: %s", lb->config->admin,
                     uv_strerror(rc));
            return rc;
        }
    }
    return 0;
}

static int lb_run(lb_t *lb) {
    char err[512];
    int rc = uv_loop_init(&lb->loop);
    if (rc == 0 && lb->config->access_log[0]) {
        rc = access_log_open(lb->config->access_log, &lb->access_fd);
        if (rc < 0) {
            fprintf(stderr, "polis lb: access log %s: %s\n", lb->config->access_log,
                    strerror(-rc));
            return 1;
        }
    }
    lb->workers = mem_calloc(lb->threads, sizeof(lb_worker_t));
    for (unsigned i = 0; rc == 0 && i < lb->threads; i++) {
        rc = lb_worker_init(&lb->workers[i], lb, i, i == 0 ? &lb->loop : NULL, lb->access_fd);
    }
    lb->health = lb_health_new(lb);
    if (rc < 0 || lb_open(lb, err, sizeof err) < 0) {
        fprintf(stderr, "polis lb: %s\n", rc < 0 ? uv_strerror(rc) : err);
        return 1;
    }
    uv_signal_init(&lb->loop, &lb->sig_hup);
    uv_signal_init(&lb->loop, &lb->sig_term);
    uv_signal_init(&lb->loop, &lb->sig_int);
    lb->sig_hup.data = lb->sig_term.data = lb->sig_int.data = lb;
    uv_signal_start(&lb->sig_hup, on_signal, SIGHUP);
    uv_signal_start(&lb->sig_term, on_signal, SIGTERM);
    uv_signal_start(&lb->sig_int, on_signal, SIGINT);
    for (unsigned i = 1; i < lb->threads; i++) {
        if (lb_worker_start(&lb->workers[i]) < 0) {
            fprintf(stderr, "polis lb: cannot start thread %u\n", i);
            return 1;
        }
    }
    announce(lb->state);
    log_notice("lb", "ready: %u thread(s)%s%s", lb->threads,
               lb->config->has_admin ? ", admin on " : "", lb->config->admin);
    uv_run(&lb->loop, UV_RUN_DEFAULT);
    for (unsigned i = 1; i < lb->threads; i++) {
        uv_thread_join(&lb->workers[i].thread);
    }
    for (unsigned i = 0; i < lb->threads; i++) {
        lb_worker_destroy(&lb->workers[i]);
    }
    uv_loop_close(&lb->loop);
    log_notice("lb", "stopped");
    return 0;
}

int lb_main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            lb_config_usage();
            return 0;
        }
    }
    lb_t *lb = mem_calloc(1, sizeof *lb);
    lb->argc = argc;
    lb->argv = argv;
    lb->access_fd = -1;
    lb->config = lb_config_new();
    char err[512];
    int check_only = 0;
    for (int i = 1; i < argc; i++) {
        check_only |= strcmp(argv[i], "--check-config") == 0;
    }
    if (lb_config_flags(lb->config, argc, argv, &lb->config_path, err, sizeof err) < 0 ||
        lb_config_validate(lb->config, err, sizeof err) < 0) {
        fprintf(stderr, "polis lb: %s\n", err);
        return 2;
    }
    if (check_only) {
        printf("polis lb: configuration OK\n");
        return 0;
    }
    if (lb->config->log_level >= 0) {
        log_set_level((enum log_level)lb->config->log_level);
    }
    signal(SIGPIPE, SIG_IGN);
    lb->threads = lb->config->threads;
    int code = lb_run(lb);
    if (code == 0) {
        lb_state_unref(lb->state);
        lb_config_free(lb->config);
        mem_free(lb->workers);
        if (lb->access_fd >= 0) {
            close(lb->access_fd);
        }
        mem_free(lb);
    }
    return code;
}
