/* config: the data node's options — one table, read from a config file (`name value` per
 * line), from flags (`--name value`, the same names), and at runtime through CONFIG GET/SET.
 *
 * Every option has one entry in the table in config.c: its name, kind, default, bounds, whether
 * CONFIG SET may change it, and its help line (`polis server --help` prints the table). Values
 * are parsed by one function per kind that reports what is wrong through `err`, with Redis'
 * CONFIG SET wording ("argument must be a memory value", …). */
#ifndef POLIS_SERVER_CONFIG_H
#define POLIS_SERVER_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "core/buf.h"

#define CONFIG_STRING_MAX 1024 /* longest string value (paths, addresses) */
#define CONFIG_LINE_MAX 4096   /* longest config file line */
#define CONFIG_ERR_MAX 256     /* size of an error message buffer */

typedef struct server_config {
    long long port;
    char bind[CONFIG_STRING_MAX];
    char dir[CONFIG_STRING_MAX];
    char logfile[CONFIG_STRING_MAX];
    int persistence; /* 1 on, 0 off */
    int fsync;       /* enum fsync_policy */
    long long maxmemory;
    int maxmemory_policy; /* enum evict_policy */
    long long maxclients;
    int loglevel; /* enum log_level */
    long long proto_max_bulk_len;
    long long client_query_buffer_limit;
    long long snapshot_log_size;
    long long wal_segment_size;
    int announce;                 /* print how to connect once listening */
    long long id;                 /* this node's id in its group (0: from --dir, else 1) */
    char peers[CONFIG_STRING_MAX]; /* "ID@HOST:BUSPORT,...": the founding voters */
    char cluster_secret[CONFIG_STRING_MAX];
    long long bus_port;           /* 0: the port in --peers for this node, else port + 10000 */
    int replication;              /* enum replication_mode */
    char save[CONFIG_STRING_MAX]; /* always empty: reported for Redis tools */
} server_config_t;

enum config_kind { CONFIG_INT, CONFIG_MEMORY, CONFIG_ENUM, CONFIG_STRING };

enum replication_mode { REPLICATION_SYNC = 0, REPLICATION_ASYNC = 1 };

enum config_flag {
    CONFIG_MUTABLE = 1u << 0,   /* CONFIG SET may change it */
    CONFIG_PROTECTED = 1u << 1, /* immutable for a reason Redis calls "protected" (paths) */
    CONFIG_READONLY = 1u << 2,  /* only reported (compatibility names); no flag, no file line */
    CONFIG_SECRET = 1u << 3,    /* never reported by CONFIG GET (the cluster secret) */
};

typedef struct config_option {
    const char *name;
    enum config_kind kind;
    size_t offset; /* of the field in server_config_t */
    unsigned flags;
    long long min, max;       /* CONFIG_INT and CONFIG_MEMORY bounds */
    const char *const *names; /* CONFIG_ENUM: value names, NULL-terminated, index = value */
    const char *default_value;
    const char *help;
} config_option_t;

extern const config_option_t config_options[];
extern const size_t config_option_count;

/* Fills cfg with every option's default. */
void config_init(server_config_t *cfg);
/* The option called name (any case), or NULL. */
const config_option_t *config_find(const char *name, size_t len);
/* Parses value for option o into cfg. 0, or -EINVAL with the reason in err. */
int config_set_option(server_config_t *cfg, const config_option_t *o, const char *value, char *err,
                      size_t err_size);
/* Appends option o's current value as text (what CONFIG GET returns). */
void config_format(const server_config_t *cfg, const config_option_t *o, buf_t *out);

/* Reads a config file: one `name value` per line, blank lines and `#` comments skipped, values
 * quoted as in redis.conf. 0, or negative with "FILE:LINE: reason" in err. */
int config_load_file(server_config_t *cfg, const char *path, char *err, size_t err_size);
/* Applies `--config FILE` first, then every `--name value` flag in order (flags win).
 * argv[0] is the role name. 0, or negative with the reason in err. */
int config_parse_args(server_config_t *cfg, int argc, char **argv, char *err, size_t err_size);
/* Redis' memtoll: digits with an optional unit b k kb m mb g gb (k = 1000, kb = 1024 …).
 * 1 and *out on success, 0 on anything else (negative, overflow, junk). */
int config_parse_memory(const char *s, long long *out);

void config_print_help(FILE *to);

#endif
