/* config: the option table and its parsers (see config.h). */
#include "server/config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "kv/keyspace.h"
#include "proto/resp.h"
#include "storage/persist.h"

#define KB 1024LL
#define MB (1024LL * KB)
#define GB (1024LL * MB)

static const char *const fsync_names[] = {
    [FSYNC_ALWAYS] = "always", [FSYNC_EVERYSEC] = "everysec", [FSYNC_NO] = "no", NULL};
static const char *const onoff_names[] = {"off", "on", NULL};
static const char *const yesno_names[] = {"no", "yes", NULL};
static const char *const replication_names[] = {[REPLICATION_SYNC] = "sync",
                                                [REPLICATION_ASYNC] = "async", NULL};
static const char *const policy_names[] = {
    [EVICT_NOEVICTION] = "noeviction",     [EVICT_ALLKEYS_LRU] = "allkeys-lru",
    [EVICT_VOLATILE_LRU] = "volatile-lru", [EVICT_ALLKEYS_RANDOM] = "allkeys-random",
    [EVICT_VOLATILE_TTL] = "volatile-ttl", NULL};
static const char *const loglevel_names[] = {[LOG_DEBUG] = "debug",
                                             [LOG_VERBOSE] = "verbose",
                                             [LOG_NOTICE] = "notice",
                                             [LOG_WARNING] = "warning",
                                             NULL};

#define FIELD(f) offsetof(server_config_t, f)

const config_option_t config_options[] = {
    {"port", CONFIG_INT, FIELD(port), 0, 0, 65535, NULL, "7379", "TCP port for clients"},
    {"bind", CONFIG_STRING, FIELD(bind), 0, 0, 0, NULL, "127.0.0.1",
     "address to listen on (0.0.0.0 or :: for every interface)"},
    {"dir", CONFIG_STRING, FIELD(dir), CONFIG_PROTECTED, 0, 0, NULL, "polis-data",
     "directory of the write-ahead log and snapshots"},
    {"logfile", CONFIG_STRING, FIELD(logfile), CONFIG_PROTECTED, 0, 0, NULL, "",
     "log to this file instead of stderr"},
    {"persistence", CONFIG_ENUM, FIELD(persistence), 0, 0, 0, onoff_names, "on",
     "on: every write is logged before its reply; off: in memory only (a cache)"},
    {"fsync", CONFIG_ENUM, FIELD(fsync), 0, 0, 0, fsync_names, "always",
     "always: fsync before replying (group commit); everysec; no: leave it to the OS"},
    {"maxmemory", CONFIG_MEMORY, FIELD(maxmemory), CONFIG_MUTABLE, 0, LLONG_MAX, NULL, "0",
     "memory limit in bytes (units: kb mb gb); 0 = none"},
    {"maxmemory-policy", CONFIG_ENUM, FIELD(maxmemory_policy), CONFIG_MUTABLE, 0, 0, policy_names,
     "noeviction", "what to do at maxmemory"},
    {"maxclients", CONFIG_INT, FIELD(maxclients), CONFIG_MUTABLE, 1, UINT_MAX, NULL, "10000",
     "most clients connected at once"},
    {"loglevel", CONFIG_ENUM, FIELD(loglevel), CONFIG_MUTABLE, 0, 0, loglevel_names, "notice",
     "log verbosity"},
    {"proto-max-bulk-len", CONFIG_MEMORY, FIELD(proto_max_bulk_len), CONFIG_MUTABLE, MB, LLONG_MAX,
     NULL, "512mb", "largest bulk string a client may send"},
    {"client-query-buffer-limit", CONFIG_MEMORY, FIELD(client_query_buffer_limit), CONFIG_MUTABLE,
     MB, LLONG_MAX, NULL, "1gb",
     "largest unparsed input held for one client; beyond it the client is closed"},
    {"snapshot-log-size", CONFIG_MEMORY, FIELD(snapshot_log_size), 0, MB, LLONG_MAX, NULL, "64mb",
     "take a snapshot once the log since the last one passes this size"},
    {"wal-segment-size", CONFIG_MEMORY, FIELD(wal_segment_size), 0, MB, LLONG_MAX, NULL, "64mb",
     "size at which the write-ahead log rolls to a new segment file"},
    {"announce", CONFIG_ENUM, FIELD(announce), 0, 0, 0, yesno_names, "no",
     "print how to connect once listening (polis up sets it)"},
    {"id", CONFIG_INT, FIELD(id), CONFIG_PROTECTED, 0, UINT32_MAX, NULL, "0",
     "this node's id in its replication group (0: the one stored in --dir, else 1)"},
    {"peers", CONFIG_STRING, FIELD(peers), CONFIG_PROTECTED, 0, 0, NULL, "",
     "the group's initial voters, this node included: ID@HOST:BUSPORT,..."},
    {"cluster-secret", CONFIG_STRING, FIELD(cluster_secret), CONFIG_PROTECTED | CONFIG_SECRET, 0,
     0, NULL, "", "shared secret authenticating the cluster bus (needed for non-loopback peers)"},
    {"bus-port", CONFIG_INT, FIELD(bus_port), CONFIG_PROTECTED, 0, 65535, NULL, "0",
     "cluster bus port (0: this node's port in --peers, else port + 10000)"},
    {"replication", CONFIG_ENUM, FIELD(replication), CONFIG_PROTECTED, 0, 0, replication_names,
     "sync", "sync: writes commit on a majority; async: on the leader alone (may lose the last "
     "writes on failover)"},
    /* Reported for Redis tools (redis-benchmark asks for both): appendonly mirrors
     * persistence; polis snapshots by log size, so it has no `save` points. */
    {"appendonly", CONFIG_ENUM, FIELD(persistence), CONFIG_READONLY, 0, 0, yesno_names, "yes",
     "persistence, as Redis names it"},
    {"save", CONFIG_STRING, FIELD(save), CONFIG_READONLY, 0, 0, NULL, "", "no save points"},
};

const size_t config_option_count = sizeof config_options / sizeof config_options[0];

void config_init(server_config_t *cfg) {
    assert(cfg);
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < config_option_count; i++) {
        char err[CONFIG_ERR_MAX];
        int rc = config_set_option(cfg, &config_options[i], config_options[i].default_value, err,
                                   sizeof err);
        assert(rc == 0);
        (void)rc;
    }
}

const config_option_t *config_find(const char *name, size_t len) {
    for (size_t i = 0; i < config_option_count; i++) {
        const char *n = config_options[i].name;
        if (strlen(n) == len && strncasecmp(n, name, len) == 0) {
            return &config_options[i];
        }
    }
    return NULL;
}

int config_parse_memory(const char *s, long long *out) {
    static const struct {
        const char *unit;
        long long mul;
    } units[] = {{"", 1},        {"b", 1},   {"k", 1000},       {"kb", KB},
                 {"m", 1000000}, {"mb", MB}, {"g", 1000000000}, {"gb", GB}};
    size_t digits = 0;
    while (s[digits] >= '0' && s[digits] <= '9') {
        digits++;
    }
    long long n;
    if (digits == 0 || !resp_parse_ll(s, digits, &n)) {
        return 0;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(s + digits, units[i].unit) == 0) {
            if (n > LLONG_MAX / units[i].mul) {
                return 0;
            }
            *out = n * units[i].mul;
            return 1;
        }
    }
    return 0;
}

static int set_number(const config_option_t *o, long long *field, const char *value, char *err,
                      size_t err_size) {
    long long n;
    int ok = o->kind == CONFIG_MEMORY ? config_parse_memory(value, &n)
                                      : resp_parse_ll(value, strlen(value), &n);
    if (!ok) {
        snprintf(err, err_size, "%s",
                 o->kind == CONFIG_MEMORY ? "argument must be a memory value"
                                          : "argument couldn't be parsed into an integer");
        return -EINVAL;
    }
    if (n < o->min || n > o->max) {
        snprintf(err, err_size, "argument must be between %lld and %lld inclusive", o->min, o->max);
        return -EINVAL;
    }
    *field = n;
    return 0;
}

static int set_enum(const config_option_t *o, int *field, const char *value, char *err,
                    size_t err_size) {
    for (int i = 0; o->names[i]; i++) {
        if (strcasecmp(o->names[i], value) == 0) {
            *field = i;
            return 0;
        }
    }
    size_t n = (size_t)snprintf(err, err_size, "argument(s) must be one of the following: ");
    for (int i = 0; o->names[i] && n < err_size; i++) {
        n += (size_t)snprintf(err + n, err_size - n, "%s%s", i ? ", " : "", o->names[i]);
    }
    return -EINVAL;
}

int config_set_option(server_config_t *cfg, const config_option_t *o, const char *value, char *err,
                      size_t err_size) {
    assert(cfg && o);
    assert(value && err);
    char *base = (char *)cfg + o->offset;
    switch (o->kind) {
    case CONFIG_INT: {
        long long n = 0;
        int rc = set_number(o, &n, value, err, err_size);
        if (rc == 0) {
            *(long long *)(void *)base = n;
        }
        return rc;
    }
    case CONFIG_MEMORY:
        return set_number(o, (long long *)(void *)base, value, err, err_size);
    case CONFIG_ENUM:
        return set_enum(o, (int *)(void *)base, value, err, err_size);
    case CONFIG_STRING:
        if (strlen(value) >= CONFIG_STRING_MAX) {
            snprintf(err, err_size, "argument is longer than %d bytes", CONFIG_STRING_MAX - 1);
            return -EINVAL;
        }
        strcpy(base, value);
        return 0;
    }
    return -EINVAL;
}

void config_format(const server_config_t *cfg, const config_option_t *o, buf_t *out) {
    const char *base = (const char *)cfg + o->offset;
    switch (o->kind) {
    case CONFIG_INT:
    case CONFIG_MEMORY:
        buf_printf(out, "%lld", *(const long long *)(const void *)base);
        return;
    case CONFIG_ENUM:
        buf_append_str(out, o->names[*(const int *)(const void *)base]);
        return;
    case CONFIG_STRING:
        buf_append_str(out, base);
        return;
    }
}

/* Sets option `name` from text, for the file and flag readers. */
static int set_by_name(server_config_t *cfg, const char *name, size_t name_len, const char *value,
                       char *err, size_t err_size) {
    const config_option_t *o = config_find(name, name_len);
    if (!o || (o->flags & CONFIG_READONLY)) {
        snprintf(err, err_size, "unknown option '%.*s'", (int)(name_len > 64 ? 64 : name_len),
                 name);
        return -EINVAL;
    }
    char why[CONFIG_ERR_MAX];
    if (config_set_option(cfg, o, value, why, sizeof why) < 0) {
        snprintf(err, err_size, "option '%s': %s", o->name, why);
        return -EINVAL;
    }
    return 0;
}

/* One config file line: blank, a comment, or `name value`. */
static int load_line(server_config_t *cfg, char *line, char *err, size_t err_size) {
    size_t len = strcspn(line, "\r\n");
    line[len] = '\0';
    slice_t argv[3];
    int argc = 0;
    if (resp_split_inline(line, len, argv, 3, &argc) == -EINVAL) {
        snprintf(err, err_size, "unbalanced quotes");
        return -EINVAL;
    }
    if (argc == 0 || argv[0].ptr[0] == '#') {
        return 0;
    }
    if (argc != 2) {
        snprintf(err, err_size, "expected `name value`");
        return -EINVAL;
    }
    char value[CONFIG_STRING_MAX];
    if (argv[1].len >= sizeof value) {
        snprintf(err, err_size, "value longer than %zu bytes", sizeof value - 1);
        return -EINVAL;
    }
    memcpy(value, argv[1].ptr, argv[1].len);
    value[argv[1].len] = '\0';
    return set_by_name(cfg, argv[0].ptr, argv[0].len, value, err, err_size);
}

int config_load_file(server_config_t *cfg, const char *path, char *err, size_t err_size) {
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return -errno;
    }
    char line[CONFIG_LINE_MAX];
    char why[CONFIG_ERR_MAX];
    int rc = 0;
    for (int number = 1; fgets(line, sizeof line, f); number++) {
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, err_size, "%s:%d: line longer than %d bytes", path, number,
                     CONFIG_LINE_MAX - 2);
            rc = -EINVAL;
            break;
        }
        if (load_line(cfg, line, why, sizeof why) < 0) {
            snprintf(err, err_size, "%s:%d: %s", path, number, why);
            rc = -EINVAL;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Splits "--name" or "--name=value"; returns the name's length, or 0 when arg is no flag. */
static size_t flag_name(const char *arg, const char **value) {
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
        return 0;
    }
    const char *eq = strchr(arg + 2, '=');
    *value = eq ? eq + 1 : NULL;
    return eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
}

int config_parse_args(server_config_t *cfg, int argc, char **argv, char *err, size_t err_size) {
    assert(cfg && argv);
    /* Two passes: the file first, wherever --config appears, then the flags, which win. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 1; i < argc; i++) {
            const char *arg = argv[i], *value = NULL;
            size_t n = flag_name(arg, &value);
            if (n == 0) {
                snprintf(err, err_size, "unexpected argument '%s' (options are --name value)", arg);
                return -EINVAL;
            }
            if (!value) {
                if (i + 1 >= argc) {
                    snprintf(err, err_size, "%s needs a value", arg);
                    return -EINVAL;
                }
                value = argv[++i];
            }
            int is_file = n == 6 && strncmp(arg + 2, "config", 6) == 0;
            int rc = 0;
            if (pass == 0 && is_file) {
                rc = config_load_file(cfg, value, err, err_size);
            } else if (pass == 1 && !is_file) {
                rc = set_by_name(cfg, arg + 2, n, value, err, err_size);
            }
            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}

void config_print_help(FILE *to) {
    fprintf(to,
            "usage: polis server [--config FILE] [--OPTION VALUE ...]\n\n"
            "Runs a polis data node: a Redis-protocol server with a durable log.\n"
            "Every option may also be a line `OPTION VALUE` of the config file; flags\n"
            "override the file. Options marked * may be changed at runtime with CONFIG SET.\n\n");
    fprintf(to, "  --%-30s %s\n", "config FILE", "read options from FILE");
    for (size_t i = 0; i < config_option_count; i++) {
        const config_option_t *o = &config_options[i];
        if (o->flags & CONFIG_READONLY) {
            continue;
        }
        static const char *const metavar[] = {[CONFIG_INT] = "N",
                                              [CONFIG_MEMORY] = "BYTES",
                                              [CONFIG_ENUM] = "WORD",
                                              [CONFIG_STRING] = "TEXT"};
        char left[64];
        snprintf(left, sizeof left, "%s %s", o->name, metavar[o->kind]);
        fprintf(to, "  --%-30s %s%s", left, (o->flags & CONFIG_MUTABLE) ? "* " : "", o->help);
        for (int v = 0; o->kind == CONFIG_ENUM && o->names[v]; v++) {
            fprintf(to, "%s%s", v ? "|" : ": ", o->names[v]);
        }
        fprintf(to, " (default: %s)\n", o->default_value[0] ? o->default_value : "none");
    }
}
