/* lb config: keyword tables, the file reader and the flags of `polis lb` (see config.h). */
#include "lb/config.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/policy.h"

typedef enum section { SEC_GLOBAL = 0, SEC_FRONTEND, SEC_BACKEND } section_t;

typedef struct keyword {
    const char *name;
    lb_keyword_fn *parse;
} keyword_t;

static int fail(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

int lb_duration_parse(const char *text, uint32_t *ms) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || v < 0) {
        return -EINVAL;
    }
    double scale = 1;
    if (*end == '\0' || strcmp(end, "ms") == 0) {
        scale = 1;
    } else if (strcmp(end, "s") == 0) {
        scale = 1000;
    } else if (strcmp(end, "m") == 0) {
        scale = 60000;
    } else if (strcmp(end, "h") == 0) {
        scale = 3600000;
    } else {
        return -EINVAL;
    }
    v *= scale;
    if (v > 24.0 * 3600000) {
        return -EINVAL; /* a day is the longest timeout that makes sense */
    }
    *ms = (uint32_t)v;
    return 0;
}

/* Parses an unsigned integer in [min, max]. */
static int parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || v < min || v > max) {
        return -EINVAL;
    }
    *out = (uint32_t)v;
    return 0;
}

static int copy_name(char *dst, const char *src, char *err, size_t err_len) {
    size_t n = strlen(src);
    if (n == 0 || n >= LB_NAME_MAX) {
        return fail(err, err_len, "name '%s' is empty or longer than %d bytes", src,
                    LB_NAME_MAX - 1);
    }
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.')) {
            return fail(err, err_len, "name '%s' may hold only letters, digits, - _ .", src);
        }
    }
    memcpy(dst, src, n + 1);
    return 0;
}

static int want_args(int argc, int n, const char *keyword, char *err, size_t err_len) {
    if (argc != n) {
        return fail(err, err_len, "'%s' takes %d argument%s", keyword, n - 1, n == 2 ? "" : "s");
    }
    return 0;
}

/* ---- global keywords ---- */

static int kw_threads(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_config_t *cfg = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        parse_uint(argv[1], 1, LB_THREADS_MAX, &cfg->threads) < 0) {
        return fail(err, err_len, "threads: want 1..%d", LB_THREADS_MAX);
    }
    return 0;
}

static int kw_admin(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_config_t *cfg = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        net_addr_parse(argv[1], &cfg->admin_addr, err, err_len) < 0) {
        return -EINVAL;
    }
    snprintf(cfg->admin, sizeof cfg->admin, "%s", argv[1]);
    cfg->has_admin = 1;
    return 0;
}

static int kw_access_log(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_config_t *cfg = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0) {
        return -EINVAL;
    }
    if (strlen(argv[1]) >= sizeof cfg->access_log) {
        return fail(err, err_len, "access-log: path too long");
    }
    strcpy(cfg->access_log, argv[1]);
    return 0;
}

static int kw_grace(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_config_t *cfg = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        lb_duration_parse(argv[1], &cfg->grace_ms) < 0) {
        return fail(err, err_len, "grace: want a duration such as 10s");
    }
    return 0;
}

static int kw_log_level(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_config_t *cfg = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        (cfg->log_level = log_level_parse(argv[1])) < 0) {
        return fail(err, err_len, "log-level: want debug, verbose, notice or warning");
    }
    return 0;
}

static const keyword_t global_keywords[] = {
    {"threads", kw_threads},     {"admin", kw_admin},         {"access-log", kw_access_log},
    {"grace", kw_grace},         {"log-level", kw_log_level}, {NULL, NULL},
};

/* ---- frontend keywords ---- */

static int kw_listen(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_frontend_conf_t *fe = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        net_addr_parse(argv[1], &fe->addr, err, err_len) < 0) {
        return -EINVAL;
    }
    net_addr_format((struct sockaddr *)&fe->addr, fe->listen, sizeof fe->listen);
    fe->has_listen = 1;
    return 0;
}

static int kw_mode(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_frontend_conf_t *fe = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0) {
        return -EINVAL;
    }
    if (strcmp(argv[1], "http") == 0) {
        fe->mode = LB_MODE_HTTP;
    } else if (strcmp(argv[1], "tcp") == 0) {
        fe->mode = LB_MODE_TCP;
    } else {
        return fail(err, err_len, "mode: want http or tcp");
    }
    return 0;
}

static int kw_use_backend(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_frontend_conf_t *fe = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0) {
        return -EINVAL;
    }
    return copy_name(fe->backend, argv[1], err, err_len);
}

static int kw_frontend_timeout(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_frontend_conf_t *fe = t;
    if (want_args(argc, 3, argv[0], err, err_len) < 0) {
        return -EINVAL;
    }
    uint32_t *slot = strcmp(argv[1], "client") == 0   ? &fe->client_timeout_ms
                     : strcmp(argv[1], "tunnel") == 0 ? &fe->tunnel_timeout_ms
                                                      : NULL;
    if (!slot) {
        return fail(err, err_len, "frontend timeouts are client and tunnel ('%s' belongs in a "
                                  "backend or does not exist)", argv[1]);
    }
    if (lb_duration_parse(argv[2], slot) < 0 || *slot == 0) {
        return fail(err, err_len, "timeout %s: want a duration such as 30s", argv[1]);
    }
    return 0;
}

static int kw_max_header_size(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_frontend_conf_t *fe = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        parse_uint(argv[1], LB_HEAD_SIZE_MIN, LB_HEAD_SIZE_LIMIT, &fe->head_max) < 0) {
        return fail(err, err_len, "max-header-size: want %d..%d bytes", LB_HEAD_SIZE_MIN,
                    LB_HEAD_SIZE_LIMIT);
    }
    return 0;
}

static int kw_max_headers(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_frontend_conf_t *fe = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        parse_uint(argv[1], 1, LB_HEADERS_LIMIT, &fe->headers_max) < 0) {
        return fail(err, err_len, "max-headers: want 1..%d", LB_HEADERS_LIMIT);
    }
    return 0;
}

static const keyword_t frontend_keywords[] = {
    {"listen", kw_listen},
    {"mode", kw_mode},
    {"use-backend", kw_use_backend},
    {"timeout", kw_frontend_timeout},
    {"max-header-size", kw_max_header_size},
    {"max-headers", kw_max_headers},
    {NULL, NULL},
};

/* ---- backend keywords ---- */

static int kw_balance(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0) {
        return -EINVAL;
    }
    if (!lb_policy_find(argv[1])) {
        return fail(err, err_len, "balance: unknown algorithm '%s' (have: %s)", argv[1],
                    LB_POLICY_NAMES);
    }
    snprintf(be->balance, sizeof be->balance, "%s", argv[1]);
    return 0;
}

/* Adds a server to a backend's list (also used by the runtime API). */
static int server_append(lb_backend_conf_t *be, const char *name, const char *address,
                         uint32_t weight, char *err, size_t err_len) {
    if (be->server_count == LB_SERVERS_MAX) {
        return fail(err, err_len, "backend %s: more than %d servers", be->name, LB_SERVERS_MAX);
    }
    for (size_t i = 0; i < be->server_count; i++) {
        if (strcmp(be->servers[i].name, name) == 0) {
            return fail(err, err_len, "backend %s: server '%s' defined twice", be->name, name);
        }
    }
    lb_server_conf_t s = {.weight = weight};
    if (copy_name(s.name, name, err, err_len) < 0 ||
        net_addr_parse(address, &s.addr, err, err_len) < 0) {
        return -EINVAL;
    }
    net_addr_format((struct sockaddr *)&s.addr, s.address, sizeof s.address);
    if (be->server_count == be->server_cap) {
        be->server_cap = be->server_cap ? be->server_cap * 2 : 8;
        be->servers = mem_realloc(be->servers, be->server_cap * sizeof *be->servers);
    }
    be->servers[be->server_count++] = s;
    return 0;
}

/* server NAME HOST:PORT [weight=N] */
static int kw_server(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    if (argc < 3 || argc > 4) {
        return fail(err, err_len, "server: want NAME HOST:PORT [weight=N]");
    }
    uint32_t weight = 1;
    if (argc == 4 && (strncmp(argv[3], "weight=", 7) != 0 ||
                      parse_uint(argv[3] + 7, 0, LB_WEIGHT_MAX, &weight) < 0)) {
        return fail(err, err_len, "server: want weight=0..%d", LB_WEIGHT_MAX);
    }
    return server_append(be, argv[1], argv[2], weight, err, err_len);
}

/* Parses "key=value" options of check and passive into h. */
static int health_option(lb_health_conf_t *h, const char *opt, char *err, size_t err_len) {
    const char *eq = strchr(opt, '=');
    if (!eq) {
        return fail(err, err_len, "bad option '%s' (want key=value)", opt);
    }
    size_t k = (size_t)(eq - opt);
    const char *v = eq + 1;
    int rc = -EINVAL;
    if (k == 8 && strncmp(opt, "interval", k) == 0) {
        rc = lb_duration_parse(v, &h->interval_ms) < 0 || h->interval_ms == 0 ? -EINVAL : 0;
    } else if (k == 7 && strncmp(opt, "timeout", k) == 0) {
        rc = lb_duration_parse(v, &h->timeout_ms) < 0 || h->timeout_ms == 0 ? -EINVAL : 0;
    } else if (k == 4 && strncmp(opt, "rise", k) == 0) {
        rc = parse_uint(v, 1, 100, &h->rise);
    } else if (k == 4 && strncmp(opt, "fall", k) == 0) {
        rc = parse_uint(v, 1, 100, &h->fall);
    } else if (k == 5 && strncmp(opt, "fails", k) == 0) {
        rc = parse_uint(v, 0, 1000, &h->passive_fails);
    } else if (k == 8 && strncmp(opt, "cooldown", k) == 0) {
        rc = lb_duration_parse(v, &h->passive_cooldown_ms);
    }
    return rc < 0 ? fail(err, err_len, "bad option '%s'", opt) : 0;
}

/* check tcp|http [PATH] [interval=D] [timeout=D] [rise=N] [fall=N]  |  check off */
static int kw_check(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    lb_health_conf_t *h = &be->health;
    if (argc < 2) {
        return fail(err, err_len, "check: want tcp, http PATH, or off");
    }
    int i = 2;
    if (strcmp(argv[1], "off") == 0) {
        h->kind = LB_CHECK_NONE;
        return argc == 2 ? 0 : fail(err, err_len, "check off takes no options");
    } else if (strcmp(argv[1], "tcp") == 0) {
        h->kind = LB_CHECK_TCP;
    } else if (strcmp(argv[1], "http") == 0) {
        h->kind = LB_CHECK_HTTP;
        if (argc > 2 && argv[2][0] == '/') {
            if (strlen(argv[2]) >= sizeof h->path || strpbrk(argv[2], " \r\n")) {
                return fail(err, err_len, "check http: bad path");
            }
            strcpy(h->path, argv[2]);
            i = 3;
        }
    } else {
        return fail(err, err_len, "check: want tcp, http PATH, or off");
    }
    for (; i < argc; i++) {
        if (health_option(h, argv[i], err, err_len) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

/* passive fails=N cooldown=D  |  passive off */
static int kw_passive(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    if (argc == 2 && strcmp(argv[1], "off") == 0) {
        be->health.passive_fails = 0;
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (health_option(&be->health, argv[i], err, err_len) < 0) {
            return -EINVAL;
        }
    }
    return argc > 1 ? 0 : fail(err, err_len, "passive: want fails=N cooldown=D, or off");
}

static int kw_backend_timeout(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    if (want_args(argc, 3, argv[0], err, err_len) < 0) {
        return -EINVAL;
    }
    uint32_t *slot = strcmp(argv[1], "connect") == 0    ? &be->connect_timeout_ms
                     : strcmp(argv[1], "response") == 0 ? &be->response_timeout_ms
                     : strcmp(argv[1], "pool") == 0     ? &be->pool_timeout_ms
                                                        : NULL;
    if (!slot) {
        return fail(err, err_len, "backend timeouts are connect, response and pool ('%s' "
                                  "belongs in a frontend or does not exist)", argv[1]);
    }
    if (lb_duration_parse(argv[2], slot) < 0 || *slot == 0) {
        return fail(err, err_len, "timeout %s: want a duration such as 5s", argv[1]);
    }
    return 0;
}

static int kw_retries(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        parse_uint(argv[1], 0, LB_RETRIES_MAX, &be->retries) < 0) {
        return fail(err, err_len, "retries: want 0..%d", LB_RETRIES_MAX);
    }
    return 0;
}

static int kw_keepalive(void *t, int argc, char **argv, char *err, size_t err_len) {
    lb_backend_conf_t *be = t;
    if (want_args(argc, 2, argv[0], err, err_len) < 0 ||
        parse_uint(argv[1], 0, 100000, &be->keepalive) < 0) {
        return fail(err, err_len, "keepalive: want 0..100000 idle connections");
    }
    return 0;
}

static const keyword_t backend_keywords[] = {
    {"balance", kw_balance}, {"server", kw_server},   {"check", kw_check},
    {"passive", kw_passive}, {"timeout", kw_backend_timeout}, {"retries", kw_retries},
    {"keepalive", kw_keepalive}, {NULL, NULL},
};

/* ---- sections ---- */

static void frontend_defaults(lb_frontend_conf_t *fe) {
    memset(fe, 0, sizeof *fe);
    fe->mode = LB_MODE_HTTP;
    fe->client_timeout_ms = 60000;
    fe->tunnel_timeout_ms = 3600000;
    fe->head_max = 16384;
    fe->headers_max = 100;
}

static void backend_defaults(lb_backend_conf_t *be) {
    memset(be, 0, sizeof *be);
    snprintf(be->balance, sizeof be->balance, "roundrobin");
    be->health = (lb_health_conf_t){.kind = LB_CHECK_NONE, .interval_ms = 2000, .timeout_ms = 1000,
                                    .rise = 2, .fall = 3, .passive_fails = 3,
                                    .passive_cooldown_ms = 10000};
    snprintf(be->health.path, sizeof be->health.path, "/");
    be->connect_timeout_ms = 5000;
    be->response_timeout_ms = 30000;
    be->pool_timeout_ms = 30000;
    be->retries = 2;
    be->keepalive = 256;
}

lb_config_t *lb_config_new(void) {
    lb_config_t *cfg = mem_calloc(1, sizeof *cfg);
    cfg->threads = 1;
    cfg->grace_ms = 10000;
    cfg->log_level = -1;
    return cfg;
}

void lb_config_free(lb_config_t *cfg) {
    if (!cfg) {
        return;
    }
    for (size_t i = 0; i < cfg->backend_count; i++) {
        mem_free(cfg->backends[i].servers);
    }
    mem_free(cfg);
}

lb_config_t *lb_config_clone(const lb_config_t *cfg) {
    lb_config_t *copy = mem_alloc(sizeof *copy);
    memcpy(copy, cfg, sizeof *copy);
    for (size_t i = 0; i < copy->backend_count; i++) {
        lb_backend_conf_t *be = &copy->backends[i];
        size_t bytes = be->server_cap * sizeof *be->servers;
        be->servers = bytes ? mem_alloc(bytes) : NULL;
        if (bytes) {
            memcpy(be->servers, cfg->backends[i].servers, bytes);
        }
    }
    return copy;
}

lb_backend_conf_t *lb_config_backend(lb_config_t *cfg, const char *name) {
    for (size_t i = 0; i < cfg->backend_count; i++) {
        if (strcmp(cfg->backends[i].name, name) == 0) {
            return &cfg->backends[i];
        }
    }
    return NULL;
}

static lb_frontend_conf_t *config_frontend(lb_config_t *cfg, const char *name) {
    for (size_t i = 0; i < cfg->frontend_count; i++) {
        if (strcmp(cfg->frontends[i].name, name) == 0) {
            return &cfg->frontends[i];
        }
    }
    return NULL;
}

/* Opens a section "frontend NAME" or "backend NAME"; *target receives it. */
static int section_open(lb_config_t *cfg, section_t kind, const char *name, void **target,
                        char *err, size_t err_len) {
    char clean[LB_NAME_MAX];
    if (copy_name(clean, name, err, err_len) < 0) {
        return -EINVAL;
    }
    if (kind == SEC_FRONTEND) {
        if (config_frontend(cfg, clean) || cfg->frontend_count == LB_FRONTENDS_MAX) {
            return fail(err, err_len, "frontend '%s' defined twice or too many frontends", clean);
        }
        lb_frontend_conf_t *fe = &cfg->frontends[cfg->frontend_count++];
        frontend_defaults(fe);
        strcpy(fe->name, clean);
        *target = fe;
        return 0;
    }
    if (lb_config_backend(cfg, clean) || cfg->backend_count == LB_BACKENDS_MAX) {
        return fail(err, err_len, "backend '%s' defined twice or too many backends", clean);
    }
    lb_backend_conf_t *be = &cfg->backends[cfg->backend_count++];
    backend_defaults(be);
    strcpy(be->name, clean);
    *target = be;
    return 0;
}

static const keyword_t *section_keywords(section_t kind) {
    return kind == SEC_GLOBAL     ? global_keywords
           : kind == SEC_FRONTEND ? frontend_keywords
                                  : backend_keywords;
}

static const char *section_name(section_t kind) {
    return kind == SEC_GLOBAL ? "global" : kind == SEC_FRONTEND ? "frontend" : "backend";
}

static int apply_keyword(section_t kind, void *target, int argc, char **argv, char *err,
                         size_t err_len) {
    for (const keyword_t *k = section_keywords(kind); k->name; k++) {
        if (strcmp(k->name, argv[0]) == 0) {
            return k->parse(target, argc, argv, err, err_len);
        }
    }
    return fail(err, err_len, "unknown %s keyword '%s'", section_name(kind), argv[0]);
}

/* Splits line in place into words; '#' starts a comment. Returns the word count or -1. */
static int split_words(char *line, char **argv, int argv_max) {
    int argc = 0;
    char *p = line;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            p++;
        }
        if (*p == '\0' || *p == '#') {
            return argc;
        }
        if (argc == argv_max) {
            return -1;
        }
        argv[argc++] = p;
        while (*p && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            p++;
        }
        if (*p) {
            *p++ = '\0';
        }
    }
}

int lb_config_load(lb_config_t *cfg, const char *path, char *err, size_t err_len) {
    assert(cfg);
    assert(path);
    FILE *f = fopen(path, "r");
    if (!f) {
        int rc = -errno;
        snprintf(err, err_len, "%s: %s", path, strerror(errno));
        return rc;
    }
    char line[LB_LINE_MAX + 2];
    char *argv[LB_ARGS_MAX];
    char why[256];
    section_t kind = SEC_GLOBAL;
    void *target = cfg;
    int rc = 0;
    for (int lineno = 1; rc == 0 && fgets(line, sizeof line, f); lineno++) {
        int argc = strlen(line) > LB_LINE_MAX ? -1 : split_words(line, argv, LB_ARGS_MAX);
        if (argc < 0) {
            rc = fail(why, sizeof why, "line too long or too many words");
        } else if (argc == 0) {
            continue;
        } else if (strcmp(argv[0], "frontend") == 0 || strcmp(argv[0], "backend") == 0) {
            section_t next = argv[0][0] == 'f' ? SEC_FRONTEND : SEC_BACKEND;
            rc = argc == 2 ? section_open(cfg, next, argv[1], &target, why, sizeof why)
                           : fail(why, sizeof why, "want '%s NAME'", argv[0]);
            kind = next;
        } else {
            rc = apply_keyword(kind, target, argc, argv, why, sizeof why);
        }
        if (rc < 0) {
            snprintf(err, err_len, "%s:%d: %s", path, lineno, why);
        }
    }
    fclose(f);
    return rc;
}

/* ---- flags ---- */

typedef struct flag {
    const char *flag;   /* without the leading "--" */
    int section;        /* section_t, or -1 for flags handled outside the config */
    const char *prefix; /* the keyword words the flag's value is appended to */
    const char *arg;
    const char *help;
} flag_t;

static const flag_t flags[] = {
    {"config", -1, NULL, "FILE", "read the configuration from FILE (see README: polis lb)"},
    {"check-config", -1, NULL, NULL, "only check the configuration and exit"},
    {"listen", SEC_FRONTEND, "listen", "ADDR", "accept clients on HOST:PORT"},
    {"mode", SEC_FRONTEND, "mode", "MODE", "http (default) or tcp"},
    {"backend", SEC_BACKEND, NULL, "SPEC",
     "add a server HOST:PORT[,weight=N][,name=NAME] (repeat the flag)"},
    {"balance", SEC_BACKEND, "balance", "ALGO", LB_POLICY_NAMES " (default roundrobin)"},
    {"check", SEC_BACKEND, "check", "SPEC",
     "active checks: \"tcp|http PATH [interval=2s] [timeout=1s] [rise=2] [fall=3]\""},
    {"passive", SEC_BACKEND, "passive", "SPEC",
     "passive checks: \"fails=3 cooldown=10s\", or off"},
    {"timeout-connect", SEC_BACKEND, "timeout connect", "DUR", "backend connect (5s)"},
    {"timeout-response", SEC_BACKEND, "timeout response", "DUR",
     "wait for a response head, or silence in a body: 504 (30s)"},
    {"timeout-pool", SEC_BACKEND, "timeout pool", "DUR", "idle pooled backend connection (30s)"},
    {"retries", SEC_BACKEND, "retries", "N", "attempts on other servers after a failure (2)"},
    {"keepalive", SEC_BACKEND, "keepalive", "N", "idle backend connections per server (256)"},
    {"timeout-client", SEC_FRONTEND, "timeout client", "DUR", "idle client connection (60s)"},
    {"timeout-tunnel", SEC_FRONTEND, "timeout tunnel", "DUR", "silence in a tunnel (1h)"},
    {"max-header-size", SEC_FRONTEND, "max-header-size", "BYTES", "request head limit (16384)"},
    {"max-headers", SEC_FRONTEND, "max-headers", "N", "request header fields limit (100)"},
    {"threads", SEC_GLOBAL, "threads", "N", "event-loop threads on SO_REUSEPORT (1)"},
    {"admin", SEC_GLOBAL, "admin", "ADDR", "stats page, /metrics and the JSON API on HOST:PORT"},
    {"access-log", SEC_GLOBAL, "access-log", "FILE", "append one line per request to FILE"},
    {"grace", SEC_GLOBAL, "grace", "DUR", "SIGTERM: time for in-flight requests (10s)"},
    {"log-level", SEC_GLOBAL, "log-level", "LEVEL", "debug, verbose, notice or warning"},
    {NULL, 0, NULL, NULL, NULL},
};

void lb_config_usage(void) {
    printf("usage: polis lb --config FILE [GLOBAL FLAGS]\n"
           "       polis lb --listen ADDR --backend HOST:PORT [--backend ...] [FLAGS]\n\n"
           "An HTTP/1.1 and TCP load balancer. Flags (each is also a config keyword):\n");
    for (const flag_t *f = flags; f->flag; f++) {
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", f->flag, f->arg ? " " : "", f->arg ? f->arg : "");
        printf("  %-26s %s\n", left, f->help);
    }
    printf("\nDurations: 250ms, 2s, 1m, 1h. Signals: SIGHUP reloads the config file without\n"
           "dropping connections; SIGTERM stops accepting, lets in-flight requests finish\n"
           "(up to --grace) and exits.\n");
}

static const flag_t *flag_find(const char *name, size_t len) {
    for (const flag_t *f = flags; f->flag; f++) {
        if (strlen(f->flag) == len && strncmp(f->flag, name, len) == 0) {
            return f;
        }
    }
    return NULL;
}

/* Turns --backend HOST:PORT[,weight=N][,name=NAME] into a server of backend be. */
static int flag_backend(lb_backend_conf_t *be, const char *spec, char *err, size_t err_len) {
    char copy[LB_LINE_MAX];
    if (strlen(spec) >= sizeof copy) {
        return fail(err, err_len, "--backend: too long");
    }
    strcpy(copy, spec);
    char name[LB_NAME_MAX];
    snprintf(name, sizeof name, "s%zu", be->server_count + 1);
    uint32_t weight = 1;
    char *save = NULL;
    char *address = strtok_r(copy, ",", &save);
    for (char *opt = strtok_r(NULL, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        if (strncmp(opt, "weight=", 7) == 0 &&
            parse_uint(opt + 7, 0, LB_WEIGHT_MAX, &weight) == 0) {
            continue;
        }
        if (strncmp(opt, "name=", 5) == 0 && strlen(opt + 5) < sizeof name) {
            strcpy(name, opt + 5);
            continue;
        }
        return fail(err, err_len, "--backend: bad option '%s'", opt);
    }
    if (!address) {
        return fail(err, err_len, "--backend: want HOST:PORT[,weight=N][,name=NAME]");
    }
    return server_append(be, name, address, weight, err, err_len);
}

/* Applies one flag to cfg. Frontend and backend flags go to the sections named "main". */
static int flag_apply(lb_config_t *cfg, const flag_t *f, const char *value, char *err,
                      size_t err_len) {
    void *target = cfg;
    if (f->section == SEC_FRONTEND || f->section == SEC_BACKEND) {
        int fe = f->section == SEC_FRONTEND;
        target = fe ? (void *)config_frontend(cfg, "main") : (void *)lb_config_backend(cfg, "main");
        if (!target && section_open(cfg, f->section, "main", &target, err, err_len) < 0) {
            return -EINVAL;
        }
    }
    if (!f->prefix) {
        return flag_backend(target, value, err, err_len);
    }
    char line[LB_LINE_MAX];
    if ((size_t)snprintf(line, sizeof line, "%s %s", f->prefix, value) >= sizeof line) {
        return fail(err, err_len, "--%s: value too long", f->flag);
    }
    char *argv[LB_ARGS_MAX];
    int argc = split_words(line, argv, LB_ARGS_MAX);
    if (argc < 0) {
        return fail(err, err_len, "--%s: too many words", f->flag);
    }
    return apply_keyword((section_t)f->section, target, argc, argv, err, err_len);
}

/* Walks argv: for each flag calls visit. Handles "--flag value" and "--flag=value". */
static int flags_walk(lb_config_t *cfg, int argc, char **argv, int with_file, int globals_only,
                      const char **config_path, char *err, size_t err_len) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            return fail(err, err_len, "unexpected argument '%s' (see polis lb --help)", a);
        }
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const flag_t *f = flag_find(a + 2, len);
        if (!f) {
            return fail(err, err_len, "unknown flag '%s' (see polis lb --help)", a);
        }
        const char *value = eq ? eq + 1 : NULL;
        if (f->arg && !value) {
            if (i + 1 >= argc) {
                return fail(err, err_len, "--%s needs a value", f->flag);
            }
            value = argv[++i];
        }
        if (f->section < 0) {
            if (config_path && strcmp(f->flag, "config") == 0) {
                *config_path = value;
            }
            continue;
        }
        if (f->section != SEC_GLOBAL && with_file) {
            return fail(err, err_len, "--%s cannot be combined with --config (put it in the file)",
                        f->flag);
        }
        if (globals_only && f->section != SEC_GLOBAL) {
            continue;
        }
        if (flag_apply(cfg, f, value, err, err_len) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

int lb_config_flags(lb_config_t *cfg, int argc, char **argv, const char **config_path,
                    char *err, size_t err_len) {
    assert(cfg);
    assert(config_path);
    *config_path = NULL;
    if (flags_walk(cfg, argc, argv, 0, 1, config_path, err, err_len) < 0) {
        return -EINVAL; /* a first pass finds --config, wherever it is */
    }
    if (*config_path) {
        int rc = lb_config_load(cfg, *config_path, err, err_len);
        if (rc < 0) {
            return rc;
        }
        return flags_walk(cfg, argc, argv, 1, 1, NULL, err, err_len);
    }
    return flags_walk(cfg, argc, argv, 0, 0, NULL, err, err_len);
}

int lb_config_global_flags(lb_config_t *cfg, int argc, char **argv, char *err, size_t err_len) {
    return flags_walk(cfg, argc, argv, 1, 1, NULL, err, err_len);
}

/* ---- validation ---- */

static int validate_frontend(lb_config_t *cfg, lb_frontend_conf_t *fe, char *err,
                             size_t err_len) {
    if (!fe->has_listen) {
        return fail(err, err_len, "frontend %s: no listen address", fe->name);
    }
    if (fe->backend[0] == '\0') {
        if (cfg->backend_count != 1) {
            return fail(err, err_len, "frontend %s: say which backend (use-backend NAME)",
                        fe->name);
        }
        strcpy(fe->backend, cfg->backends[0].name);
    }
    if (!lb_config_backend(cfg, fe->backend)) {
        return fail(err, err_len, "frontend %s: no backend named '%s'", fe->name, fe->backend);
    }
    for (lb_frontend_conf_t *o = cfg->frontends; o < fe; o++) {
        if (net_addr_equal((struct sockaddr *)&o->addr, (struct sockaddr *)&fe->addr)) {
            return fail(err, err_len, "frontends %s and %s listen on the same address", o->name,
                        fe->name);
        }
    }
    if (cfg->has_admin &&
        net_addr_equal((struct sockaddr *)&cfg->admin_addr, (struct sockaddr *)&fe->addr)) {
        return fail(err, err_len, "frontend %s listens on the admin address", fe->name);
    }
    return 0;
}

int lb_config_validate(lb_config_t *cfg, char *err, size_t err_len) {
    if (cfg->frontend_count == 0) {
        return fail(err, err_len, "nothing to balance: give --listen and --backend, or --config "
                                  "FILE with a frontend (see polis lb --help)");
    }
    for (size_t i = 0; i < cfg->frontend_count; i++) {
        if (validate_frontend(cfg, &cfg->frontends[i], err, err_len) < 0) {
            return -EINVAL;
        }
    }
    for (size_t i = 0; i < cfg->backend_count; i++) {
        const lb_health_conf_t *h = &cfg->backends[i].health;
        if (h->kind != LB_CHECK_NONE && h->timeout_ms > h->interval_ms) {
            return fail(err, err_len, "backend %s: check timeout longer than its interval",
                        cfg->backends[i].name);
        }
    }
    return 0;
}

/* ---- runtime changes ---- */

int lb_config_server_add(lb_config_t *cfg, const char *backend, const char *name,
                         const char *address, uint32_t weight, char *err, size_t err_len) {
    lb_backend_conf_t *be = lb_config_backend(cfg, backend);
    if (!be) {
        snprintf(err, err_len, "no backend named '%s'", backend);
        return -ENOENT;
    }
    if (weight > LB_WEIGHT_MAX) {
        return fail(err, err_len, "weight: want 0..%d", LB_WEIGHT_MAX);
    }
    for (size_t i = 0; i < be->server_count; i++) {
        if (strcmp(be->servers[i].name, name) == 0) {
            snprintf(err, err_len, "backend %s already has a server '%s'", backend, name);
            return -EEXIST;
        }
    }
    return server_append(be, name, address, weight, err, err_len);
}

static lb_server_conf_t *config_server(lb_config_t *cfg, const char *backend, const char *name,
                                       lb_backend_conf_t **be_out) {
    lb_backend_conf_t *be = lb_config_backend(cfg, backend);
    for (size_t i = 0; be && i < be->server_count; i++) {
        if (strcmp(be->servers[i].name, name) == 0) {
            *be_out = be;
            return &be->servers[i];
        }
    }
    return NULL;
}

int lb_config_server_remove(lb_config_t *cfg, const char *backend, const char *name) {
    lb_backend_conf_t *be;
    lb_server_conf_t *s = config_server(cfg, backend, name, &be);
    if (!s) {
        return -ENOENT;
    }
    size_t i = (size_t)(s - be->servers);
    memmove(s, s + 1, (be->server_count - i - 1) * sizeof *s);
    be->server_count--;
    return 0;
}

int lb_config_server_weight(lb_config_t *cfg, const char *backend, const char *name,
                            uint32_t weight) {
    lb_backend_conf_t *be;
    lb_server_conf_t *s = config_server(cfg, backend, name, &be);
    if (!s) {
        return -ENOENT;
    }
    if (weight > LB_WEIGHT_MAX) {
        return -EINVAL;
    }
    s->weight = weight;
    return 0;
}
