/* node: the data node's internals, shared by the files of src/server (not used elsewhere).
 *
 * One server_t holds everything mutable: config, loop handles, keyspace, durability, clients,
 * the writes waiting for commit, statistics. Design: docs/ARCHITECTURE.md, "Data node".
 *
 * A loop turn, as Redis' event loop (its beforeSleep is server_before_sleep here):
 *   1. reads: each readable client's bytes land in its query buffer; complete commands are
 *      parsed in place and dispatched. Reads run at once; writes are proposed: encoded as a
 *      record, appended to the log (persist_append), queued in srv->pending;
 *   2. before sleeping (uv_check, and uv_prepare for work done by timers): server_commit flushes
 *      the log once for every record of the turn (group commit: one fdatasync under `always`),
 *      then applies the records in log order; each write's reply is produced by its apply;
 *   3. clients whose next command waited behind their own writes resume; then every client with
 *      replies gets one write (uv_try_write, uv_write for the rest).
 * With --persistence off a write is applied at once, without a record. A Raft group will put
 * its commit between 1 and 2: server_commit is where "durable" becomes "committed". */
#ifndef POLIS_SERVER_NODE_H
#define POLIS_SERVER_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "core/hlc.h"
#include "kv/command.h"
#include "kv/keyspace.h"
#include "proto/reply.h"
#include "proto/resp.h"
#include "server/config.h"
#include "storage/persist.h"

#define POLIS_VERSION "0.1.0"
#define REDIS_COMPAT_VERSION "7.0.15" /* the Redis whose protocol and texts polis follows */

#define CLIENT_READ_CHUNK (16 * 1024)     /* bytes made room for before each read */
#define CLIENT_BUFFER_KEEP (64 * 1024)    /* emptied buffers larger than this are given back */
#define CLIENT_OUTPUT_PAUSE (1024 * 1024) /* stop parsing while this much output is queued */
#define CLIENT_NAME_MAX 4096              /* CLIENT SETNAME / HELLO SETNAME */
#define CLIENT_IDLE_SHRINK_MS 2000        /* idle clients' spare buffers are freed after this */
#define COMMIT_ROUNDS_MAX 16              /* commit/resume rounds per before-sleep */
#define CRON_INTERVAL_MS 100              /* the periodic timer (Redis' hz 10) */
#define FDS_RESERVED 32                   /* descriptors kept beyond maxclients (log, listener) */
#define EVICT_KEYS_MAX 64                 /* keys evicted for one command at most */
#define EXPIRE_KEYS_PER_ROUND 64          /* expired keys collected per active-expiry round */
#define EXPIRE_BUDGET_MS 25               /* active expiry time per cron tick */
#define OPS_SAMPLES 16                    /* instantaneous_ops_per_sec window */

enum client_flag {
    CLIENT_CLOSE_AFTER_REPLY = 1u << 0, /* QUIT, protocol error, CLIENT KILL of itself */
    CLIENT_CLOSING = 1u << 1,           /* uv_close called; freed in its callback */
    CLIENT_WAITING = 1u << 2,           /* its next command waits for its own pending writes */
    CLIENT_WRITING = 1u << 3,           /* a uv_write is in flight */
    CLIENT_READ_PAUSED = 1u << 4,       /* reading stopped: too much output queued */
};

enum client_held { HELD_NONE = 0, HELD_COMMAND, HELD_ERROR };

typedef struct server server_t;

/* A vector of clients that need work this turn (replies to send, commands to resume). A
 * client stores its 1-based slot so it can be removed in O(1) when it closes. */
typedef struct client_vec {
    struct client **items;
    size_t len, cap;
} client_vec_t;

typedef struct client {
    uv_tcp_t tcp;
    server_t *srv;
    uint64_t id;
    unsigned flags;
    int resp;         /* 2 or 3 */
    buf_t query;      /* bytes read, not yet consumed */
    size_t query_pos; /* start of the first unconsumed command */
    resp_parser_t parser;
    int held;         /* enum client_held: a parsed command or error waiting to run */
    size_t held_used; /* bytes of the held command */
    buf_t out;        /* replies of this turn */
    buf_t sending;    /* bytes handed to uv_write */
    uv_write_t write_req;
    uint32_t pending_writes; /* proposed, not yet applied */
    size_t flush_slot, resume_slot;
    struct client *prev, *next; /* srv->clients */
    char *name;
    int64_t created_ms, last_ms; /* monotonic */
    const char *last_command;    /* full name ("client|list"), static */
} client_t;

/* A proposed write waiting for commit: its record lies in srv->records. */
typedef struct pending_write {
    uint64_t index;
    client_t *client; /* NULL: nobody waits (expiry, eviction) or the client left */
    size_t offset, len;
} pending_write_t;

typedef struct server_stats {
    uint64_t connections_received;
    uint64_t rejected_connections;
    uint64_t commands_processed;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
    uint64_t expired_keys;
    uint64_t evicted_keys;
    uint64_t commits;        /* group commits that carried records */
    uint64_t commit_records; /* records they carried */
    uint64_t commit_max_batch;
    uint64_t dirty; /* changes applied since start (or RESETSTAT) */
    uint64_t ops_samples[OPS_SAMPLES];
    int64_t ops_sample_ms;
    uint64_t ops_sample_count;
    size_t ops_sample_next;
    size_t peak_memory;
} server_stats_t;

/* A node-level command handler (CLIENT, CONFIG, INFO …); keyspace commands use command_fn. */
typedef void node_command_fn(client_t *c, int argc, const slice_t *argv);

typedef struct node_command {
    command_t info; /* info.fn is NULL: fn below runs it */
    node_command_fn *fn;
    const struct node_command *subcommands; /* container commands (CLIENT, CONFIG, COMMAND) */
    size_t subcommand_count;
} node_command_t;

/* One entry of the merged command table: a keyspace command or a node command. */
typedef struct command_entry {
    const command_t *info;
    const node_command_t *node; /* NULL for keyspace commands */
} command_entry_t;

#define COMMAND_SLOTS 1024 /* open-addressing table; must stay well above the command count */
#define COMMAND_NAME_MAX 64

struct server {
    server_config_t config;
    char config_file[CONFIG_STRING_MAX];
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_check_t check;
    uv_prepare_t prepare;
    uv_idle_t idle;
    uv_timer_t cron;
    uv_signal_t sigint, sigterm;
    keyspace_t *ks;
    persist_t *persist; /* NULL with persistence off */
    hlc_t clock;
    uint64_t rng;
    char run_id[41];
    /* clients */
    client_t *clients; /* all connected, newest first */
    size_t client_count;
    uint64_t next_client_id;
    client_vec_t flush;  /* clients with replies to send */
    client_vec_t resume; /* clients whose waiting command may run now */
    client_t *cron_cursor;
    /* writes proposed and not yet committed, in log order */
    pending_write_t *pending;
    size_t pending_len, pending_cap;
    buf_t records;
    int in_commit; /* server_commit is running (it must not nest) */
    /* commands */
    command_entry_t commands[COMMAND_SLOTS];
    size_t command_count;
    const command_t *del_command;
    /* state */
    server_stats_t stats;
    int64_t start_ms;      /* wall clock */
    int64_t start_mono_ms; /* monotonic */
    int64_t lastsave_unix; /* with persistence off: start time */
    int loop_ready;        /* the loop is initialised (it must be closed) */
    int running;           /* listening, hooks started */
    int shutting_down;
    int exit_code;
};

/* ---- client.c ---- */
void client_on_connection(uv_stream_t *listener, int status);
/* Starts closing c (idempotent); it is freed once libuv has closed its socket. */
void client_close(client_t *c);
/* Runs every complete command in c's query buffer, until one must wait. */
void client_process_input(client_t *c);
/* Queues c for this turn's write. */
void client_mark_output(client_t *c);
void clients_flush(server_t *s);
/* Periodic: frees idle clients' spare buffers (a slice of the clients per call). */
void clients_cron(server_t *s);
/* c's peer (peer = 1) or local address as "ip:port". */
void client_address(const client_t *c, int peer, char *dst, size_t size);
/* Appends c's CLIENT LIST line (with its "\n"). */
void client_format(const client_t *c, buf_t *out);
void client_vec_push(client_vec_t *v, client_t *c, size_t *slot);
void client_vec_remove(client_vec_t *v, size_t *slot);
/* Whether name is acceptable to CLIENT SETNAME; on failure *err is Redis' message. */
int client_name_valid(slice_t name, const char **err);

/* ---- dispatch.c ---- */
void commands_init(server_t *s);
const command_entry_t *command_lookup(const server_t *s, slice_t name);
enum { DISPATCH_DONE = 0, DISPATCH_WAIT = 1 };
/* Runs one command for c. DISPATCH_WAIT: it must wait until c's pending writes apply (its
 * reply would otherwise overtake theirs); the caller holds it and retries. */
int dispatch(client_t *c, int argc, const slice_t *argv);
/* Proposes a write on behalf of c (NULL: the node itself). Persistence on: appended to the
 * log, applied and answered at commit. Off: applied and answered at once. */
void server_propose(server_t *s, client_t *c, const command_t *cmd, int argc, const slice_t *argv);
/* Appends the command's flags as COMMAND reports them. */
extern const node_command_t node_commands[];
extern const size_t node_command_table_size;

/* ---- durable.c ---- */
/* Opens the log and recovers the keyspace. 0, or negative with the reason in err. */
int durable_open(server_t *s, char *err, size_t err_size);
/* Group commit: makes every pending record durable with one flush, then applies them in order
 * and produces their replies. On a storage failure every pending write gets the MISCONF error
 * and the node refuses later writes. No-op when nothing is pending. */
void server_commit(server_t *s);
/* The before-sleep hook: commit, resume waiting clients, repeat (bounded), send replies. */
void server_before_sleep(server_t *s);
/* The reason writes are refused (storage failed), or NULL. */
const char *server_write_failure(const server_t *s);
void reply_misconf(server_t *s, reply_t *r);

/* ---- expiry.c ---- */
/* Active expiry: proposes DEL records for keys found expired, within EXPIRE_BUDGET_MS. */
void server_expire_cycle(server_t *s);
/* Evicts keys per maxmemory-policy until used memory is under maxmemory. 0 when it fits (or
 * there is no limit), -ENOMEM when nothing more may be evicted. */
int server_evict(server_t *s);

/* ---- server.c ---- */
void server_request_shutdown(server_t *s, int exit_code);
/* Raises RLIMIT_NOFILE to fit maxclients. 0, or -EMFILE with *granted the most it allows. */
int server_fit_fd_limit(server_t *s, long long maxclients, long long *granted);
size_t server_used_memory(server_t *s);

/* ---- info.c ---- */
/* Appends the INFO text of the sections named (NULL: the default set). */
void server_info(server_t *s, int argc, const slice_t *argv, buf_t *out);
void server_stats_reset(server_t *s);
void server_stats_sample(server_t *s, int64_t now_ms);

/* ---- command handlers (cmd_conn.c, cmd_server.c) ---- */
node_command_fn node_ping, node_echo, node_hello, node_select, node_quit, node_reset;
node_command_fn node_client_id, node_client_setname, node_client_getname, node_client_list,
    node_client_info, node_client_kill, node_client_help;
node_command_fn node_command, node_command_count, node_command_info, node_command_docs,
    node_command_help;
node_command_fn node_config_get, node_config_set, node_config_resetstat, node_config_help;
node_command_fn node_info, node_time, node_save, node_bgsave, node_lastsave, node_shutdown;

/* An array of status lines, as Redis' HELP subcommands reply. lines ends with NULL. */
void reply_help(reply_t *r, const char *const *lines);

static inline reply_t client_reply(client_t *c) {
    return (reply_t){&c->out, c->resp};
}

#endif
