/* lb config: the load balancer's configuration as plain data, read from a file or from flags.
 *
 * The file is line based, in sections, as HAProxy's: top-level lines are global settings,
 * `frontend NAME` opens a listener section, `backend NAME` a pool of servers. The format with a
 * complete example is in README.md ("polis lb"). Every keyword is also a flag of `polis lb`
 * (`--timeout-connect 2s` is `timeout connect 2s` of the backend), so simple setups need no file.
 *
 * Each section owns its keywords: a table of {keyword, parser} where every parser has the same
 * signature and reports errors through err. A config is built once and never shared between
 * threads; the runtime state (state.h) copies what it needs. */
#ifndef POLIS_LB_CONFIG_H
#define POLIS_LB_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/addr.h"

#define LB_NAME_MAX 64
#define LB_PATH_MAX 256
#define LB_FRONTENDS_MAX 64
#define LB_BACKENDS_MAX 64
#define LB_SERVERS_MAX 256
#define LB_THREADS_MAX 64
#define LB_WEIGHT_MAX 256
#define LB_RETRIES_MAX 8
#define LB_LINE_MAX 1024
#define LB_ARGS_MAX 32
/* Bounds of the configurable HTTP limits. */
#define LB_HEAD_SIZE_MIN 1024
#define LB_HEAD_SIZE_LIMIT 65536
#define LB_HEADERS_LIMIT 256

typedef enum lb_mode { LB_MODE_HTTP = 0, LB_MODE_TCP } lb_mode_t;
typedef enum lb_check_kind { LB_CHECK_NONE = 0, LB_CHECK_TCP, LB_CHECK_HTTP } lb_check_kind_t;

typedef struct lb_server_conf {
    char name[LB_NAME_MAX];
    char address[NET_ADDR_TEXT_MAX];
    struct sockaddr_storage addr;
    uint32_t weight;
} lb_server_conf_t;

typedef struct lb_health_conf {
    lb_check_kind_t kind;
    char path[LB_PATH_MAX]; /* HTTP checks: the path to GET */
    uint32_t interval_ms;
    uint32_t timeout_ms;
    uint32_t rise; /* consecutive successes that bring a down server up */
    uint32_t fall; /* consecutive failures that take an up server down */
    /* Passive checks: this many consecutive failed connects or 5xx answers take a server out
     * for cooldown_ms (0 fails: passive checks off). */
    uint32_t passive_fails;
    uint32_t passive_cooldown_ms;
} lb_health_conf_t;

typedef struct lb_backend_conf {
    char name[LB_NAME_MAX];
    char balance[LB_NAME_MAX]; /* a policy name (policy.h) */
    lb_health_conf_t health;
    uint32_t connect_timeout_ms;
    uint32_t response_timeout_ms; /* request sent -> response head, and silence during a body */
    uint32_t pool_timeout_ms;     /* idle pooled connections are closed after this */
    uint32_t retries;             /* extra attempts on other servers */
    uint32_t keepalive;           /* idle pooled connections kept per server and thread */
    lb_server_conf_t *servers;
    size_t server_count;
    size_t server_cap;
} lb_backend_conf_t;

typedef struct lb_frontend_conf {
    char name[LB_NAME_MAX];
    char listen[NET_ADDR_TEXT_MAX];
    struct sockaddr_storage addr;
    int has_listen;
    lb_mode_t mode;
    char backend[LB_NAME_MAX];
    uint32_t client_timeout_ms; /* idle keep-alive connection, slow request head */
    uint32_t tunnel_timeout_ms; /* silence in a TCP or WebSocket tunnel */
    uint32_t head_max;          /* bytes of a request head (431 above) */
    uint32_t headers_max;       /* header fields of a request (431 above) */
} lb_frontend_conf_t;

typedef struct lb_config {
    uint32_t threads;
    char admin[NET_ADDR_TEXT_MAX];
    struct sockaddr_storage admin_addr;
    int has_admin;
    char access_log[LB_PATH_MAX];
    uint32_t grace_ms; /* SIGTERM: time given to in-flight requests before connections close */
    int log_level;     /* -1: leave as is */
    lb_frontend_conf_t frontends[LB_FRONTENDS_MAX];
    size_t frontend_count;
    lb_backend_conf_t backends[LB_BACKENDS_MAX];
    size_t backend_count;
} lb_config_t;

/* Every config parser has this shape: target is the section's struct (lb_config_t,
 * lb_frontend_conf_t or lb_backend_conf_t), argv[0] the keyword. 0, or -EINVAL with err set. */
typedef int lb_keyword_fn(void *target, int argc, char **argv, char *err, size_t err_len);

lb_config_t *lb_config_new(void);
void lb_config_free(lb_config_t *cfg);
/* A deep copy (runtime changes are made on a copy, then applied). */
lb_config_t *lb_config_clone(const lb_config_t *cfg);

/* Reads a config file into cfg (which should be fresh). 0, or -EINVAL / -errno with
 * "FILE:LINE: reason" in err. */
int lb_config_load(lb_config_t *cfg, const char *path, char *err, size_t err_len);
/* Applies `polis lb` flags (argv without the role name). With a file, only global flags are
 * allowed (they override it); without one, frontend and backend flags make a frontend and a
 * backend named "main". Sets *config_path when --config is given. */
int lb_config_flags(lb_config_t *cfg, int argc, char **argv, const char **config_path,
                    char *err, size_t err_len);
/* Re-applies the global flags of argv over a freshly loaded file (used by reload). */
int lb_config_global_flags(lb_config_t *cfg, int argc, char **argv, char *err, size_t err_len);
/* Checks cross references and fills defaults: every frontend listens and names an existing
 * backend, names are unique. 0 or -EINVAL with err. */
int lb_config_validate(lb_config_t *cfg, char *err, size_t err_len);

/* Adds, updates or removes one server of a backend (runtime API). 0, -ENOENT, -EEXIST, -EINVAL. */
int lb_config_server_add(lb_config_t *cfg, const char *backend, const char *name,
                         const char *address, uint32_t weight, char *err, size_t err_len);
int lb_config_server_remove(lb_config_t *cfg, const char *backend, const char *name);
int lb_config_server_weight(lb_config_t *cfg, const char *backend, const char *name,
                            uint32_t weight);
lb_backend_conf_t *lb_config_backend(lb_config_t *cfg, const char *name);

/* Parses "250ms", "2s", "1m", "1h" or a bare number of milliseconds. */
int lb_duration_parse(const char *text, uint32_t *ms);
/* Writes the flags usage text. */
void lb_config_usage(void);

#endif
