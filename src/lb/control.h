/* lb control: the balancer instance and its control plane, which runs on the main loop beside
 * worker 0: signals (SIGHUP reload, SIGTERM/SIGINT drain), the admin listener, the health
 * checker, and the one way any change is made: build a new state from a config and hand it to
 * every worker (lb_apply). */
#ifndef POLIS_LB_CONTROL_H
#define POLIS_LB_CONTROL_H

#include <uv.h>

#include "lb/config.h"
#include "lb/state.h"
#include "lb/worker.h"

typedef struct lb_admin lb_admin_t;
typedef struct lb_health lb_health_t;

struct lb {
    uv_loop_t loop; /* the main loop: worker 0 and the control plane */
    lb_config_t *config;
    const char *config_path;
    int argc;
    char **argv;
    lb_state_t *state; /* the newest state, referenced */
    unsigned threads;
    lb_worker_t *workers;
    uv_signal_t sig_hup, sig_term, sig_int;
    lb_admin_t *admin;
    lb_health_t *health;
    int access_fd;
    int stopping;
    int64_t started_ms;
};

/* Makes cfg (validated; ownership passes to lb) the running configuration. On error (a new
 * listener cannot be bound) nothing changes, cfg is freed, err says why. */
int lb_apply(lb_t *lb, lb_config_t *cfg, char *err, size_t err_len);
/* Re-reads the config file (SIGHUP, POST /api/reload). */
int lb_reload(lb_t *lb, char *err, size_t err_len);

/* Admin listener (admin.c). */
int lb_admin_start(lb_t *lb, const struct sockaddr *addr, lb_admin_t **out);
void lb_admin_stop(lb_admin_t *a);

/* Health checks (health.c): one checker per server of a backend with `check`. */
lb_health_t *lb_health_new(lb_t *lb);
/* Starts checkers for servers of st that need one, stops the others. */
void lb_health_sync(lb_health_t *h, const lb_state_t *st);
void lb_health_stop(lb_health_t *h);

#endif
