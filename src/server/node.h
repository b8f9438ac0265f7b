/* node: the data node's internals, shared by the files of src/server (not used elsewhere).
 *
 * One server_t holds everything mutable: config, loop handles, keyspace, durability, clients,
 * the writes waiting for commit, statistics. Design: docs/ARCHITECTURE.md, "Data node".
 *
 * A loop turn, as Redis' event loop (its beforeSleep is server_before_sleep here):
 *   1. reads: each readable client's bytes land in its query buffer; complete commands are
 *      parsed in place and dispatched. Reads run at once; writes are encoded as records into
 *      the turn's batch (srv->batch), proposed as one log entry, and queued in srv->pending;
 *   2. before sleeping (uv_check, and uv_prepare for work done by timers): server_commit flushes
 *      the log once for every record of the turn (group commit: one fdatasync under `always`),
 *      then applies the records in log order; each write's reply is produced by its apply;
 *   3. clients whose next command waited behind their own writes resume; then every client with
 *      replies gets one write (uv_try_write, uv_write for the rest).
 * With --persistence off a write is applied at once, without a record. Otherwise the log is the
 * log of a Raft group (src/repl; a single node is a group of one): a write is proposed to the
 * group, server_commit handles the group's Readies (one fsync per Ready), and a write's reply
 * comes from applying its entry once committed. On a follower, writes and linearizable reads
 * are forwarded to the leader (replica.c, forward.c). */
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
#include "repl/group.h"
#include "server/config.h"
#include "storage/persist.h"

#define POLIS_VERSION "0.1.0"
#define REDIS_COMPAT_VERSION "7.0.15" /* the Redis whose protocol and texts polis follows */

#define CLIENT_READ_CHUNK (16 * 1024)     /* bytes made room for before each read */
#define CLIENT_BUFFER_KEEP (64 * 1024)    /* emptied buffers larger than this are given back */
#define CLIENT_OUTPUT_PAUSE (1024 * 1024) /* stop reading and parsing at this much output */
#define CLIENT_NAME_MAX 4096              /* CLIENT SETNAME / HELLO SETNAME */
#define CLIENT_IDLE_SHRINK_MS 2000        /* idle clients' spare buffers are freed after this */
#define COMMIT_ROUNDS_MAX 16              /* commit/resume rounds per before-sleep */
#define CRON_INTERVAL_MS 100              /* the periodic timer (Redis' hz 10) */
#define FDS_RESERVED 32                   /* descriptors kept beyond maxclients (log, listener) */
#define EVICT_KEYS_MAX 64                 /* keys evicted for one command at most */
#define EXPIRE_KEYS_PER_ROUND 64          /* expired keys collected per active-expiry round */
#define EXPIRE_BUDGET_MS 25               /* active expiry time per cron tick */
#define OPS_SAMPLES 16                    /* instantaneous_ops_per_sec window */
#define LEADER_WAIT_MS 400       /* a command waits this long for a leader, then CLUSTERDOWN */
#define FATE_WAIT_MS 1000        /* a write proposed in an older term waits this long for its fate */
#define FORWARD_SILENCE_MS 2000  /* a follower's client waiting on a silent leader is closed */
#define READ_WAIT_MS 1000        /* a ReadIndex batch unanswered this long is asked again */
#define TRANSFER_WAIT_MS 1000    /* SHUTDOWN/SIGTERM of a leader waits this long for a transfer */
#define NODE_INFO_EVERY_MS 500   /* the node's client address, to every peer */
#define VIRTUAL_CLIENTS_MAX 10000 /* clients of followers served through forwarding */
#define VIRTUAL_IDLE_MS 60000    /* an idle forwarded client with nothing pending is dropped */
#define FORWARD_REPLY_CHUNK (4u << 20) /* reply bytes per REPLY message */
#define PEERS_INFO_MAX RAFT_MEMBERS_MAX

enum client_flag {
    CLIENT_CLOSE_AFTER_REPLY = 1u << 0, /* QUIT, protocol error, CLIENT KILL of itself */
    CLIENT_CLOSING = 1u << 1,           /* uv_close called; freed in its callback */
    CLIENT_WAITING = 1u << 2,           /* its next command waits for its own pending writes */
    CLIENT_WRITING = 1u << 3,           /* a uv_write is in flight */
    CLIENT_READ_PAUSED = 1u << 4,       /* reading and parsing stopped: output is full */
    CLIENT_EOF = 1u << 5,               /* it sent EOF: answer what it sent, then close */
    CLIENT_VIRTUAL = 1u << 6,  /* a follower's client served here: replies go back by bus */
    CLIENT_READONLY = 1u << 7, /* READONLY: reads served from this node's state (may be stale) */
    CLIENT_FORWARDED = 1u << 8, /* forwarded a command once: tell the leader when it closes */
};

/* Why a client's reply is held back (it counts as outstanding until answered). */
enum client_block { BLOCK_NONE = 0, BLOCK_WAIT, BLOCK_TRANSFER };

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
    /* replication */
    uint64_t pending_term;      /* term of its pending proposals */
    uint64_t last_write_index;  /* its last proposal (WAIT) */
    uint32_t forwarded;         /* commands forwarded, replies not yet relayed */
    uint64_t fwd_target;        /* the node they went to */
    int64_t leader_wait_ms;     /* waiting for a leader since (0: not waiting) */
    uint64_t read_total;        /* bytes ever read / consumed: which commands arrived */
    uint64_t consumed_total;    /*   before a ReadIndex request was made */
    uint64_t read_mark;         /* read_total when its read joined a ReadIndex batch */
    uint64_t read_cleared;      /* commands starting before this byte may read locally */
    uint64_t read_batch;        /* the batch its held read waits for (0: none issued) */
    int64_t read_since_ms;
    int block;                  /* enum client_block */
    long long wait_replicas;    /* BLOCK_WAIT */
    int64_t block_deadline_ms;  /* 0: none */
    uint64_t block_arg;         /* WAIT: the index; TRANSFER: the target */
    int reply_deferred;         /* the command being run answers later */
    uint64_t replies_done;      /* replies completed (virtual clients report them) */
    uint64_t replies_sent;
    /* virtual clients: who they stand for */
    uint64_t origin;
    uint64_t origin_incarnation;
    uint64_t origin_client;
    int hops;
    size_t leader_slot, read_slot, block_slot, fwd_slot;
} client_t;

enum pending_kind { PENDING_WRITE = 0, PENDING_CONF };

/* A proposal waiting for commit, in index order (srv->pending). It succeeded when the entry
 * applied at its index has its term; another entry there means it was lost. */
typedef struct pending_write {
    uint64_t index;
    uint64_t term;
    client_t *client; /* NULL: nobody waits (expiry, eviction) or the client left */
    uint32_t sub;     /* its record's position in the entry's batch */
    int kind;         /* enum pending_kind */
} pending_write_t;

/* What a peer told us about itself (REPL_MSG_NODE_INFO) and when we last heard from it. */
typedef struct peer_info {
    uint64_t id;
    int64_t heard_ms;
    char client_addr[REPL_HOST_MAX + 8];
} peer_info_t;

/* id -> client: clients of this node (key 0, id) and virtual ones (origin, client). */
typedef struct client_map {
    struct client_map_slot *slots;
    size_t cap, count;
} client_map_t;

typedef struct server_stats {
    uint64_t connections_received;
    uint64_t rejected_connections;
    uint64_t commands_processed;
    uint64_t net_input_bytes;
    uint64_t net_output_bytes;
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
    int on_leader; /* runs on the group's leader: a follower forwards it (WAIT, POLIS.GROUP ADD) */
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
    repl_group_t *group; /* the data group; NULL with persistence off */
    bus_t *bus;          /* NULL without peers */
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
    /* proposals not yet committed, in index order: pending[pending_head .. + pending_len) */
    pending_write_t *pending;
    size_t pending_head, pending_len, pending_cap;
    /* this turn's writes, proposed as one entry before the group next runs (durable.c) */
    buf_t batch;
    client_t **batched; /* whose each record is (NULL: the node's own, or the client left) */
    size_t batched_cap;
    buf_t scratch; /* one bus message being encoded */
    int in_commit; /* server_commit is running (it must not nest) */
    int flush_in_commit; /* commits run from the before-sleep hook: replies may leave early */
    /* replication (replica.c, forward.c) */
    uint64_t node_id;
    uint64_t incarnation; /* random per start: forwarded client ids are unique with it */
    int role;             /* enum raft_role, as last reported by the group */
    uint64_t leader;
    uint64_t term;
    int64_t term_since_ms;
    client_vec_t leader_waiters; /* commands waiting for a leader */
    client_vec_t read_waiters;   /* reads waiting for a ReadIndex answer */
    client_vec_t blocked;        /* WAIT and TRANSFER waiting for their condition */
    client_vec_t forwarders;     /* clients with forwarded commands outstanding */
    uint64_t read_ctx;           /* last ReadIndex batch issued */
    client_map_t client_map;
    client_t *virtuals; /* virtual clients (linked with prev/next) */
    size_t virtual_count;
    client_vec_t dead; /* virtual clients closed this turn, freed after it */
    peer_info_t peers[PEERS_INFO_MAX];
    size_t peer_count;
    int64_t node_info_ms;
    char client_addr[REPL_HOST_MAX + 8]; /* how clients reach this node (NODE_INFO) */
    int64_t transfer_deadline_ms; /* shutting down: waiting for leadership to move */
    uint64_t founders[RAFT_MEMBERS_MAX]; /* the group's founding voters (identity file) */
    size_t founders_count;
    repl_member_t static_peers[BUS_PEERS_MAX]; /* --peers, this node included */
    size_t static_peer_count;
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

/* Replies completed and outstanding: a command's reply is outstanding while it waits for its
 * proposal to commit, for a forwarded answer, or for a blocking condition (WAIT). */
static inline uint32_t client_outstanding(const client_t *c) {
    return c->pending_writes + c->forwarded + (c->block != BLOCK_NONE);
}
/* A deferred reply was produced: counts it and lets a waiting command run when none is left. */
void client_reply_done(client_t *c);
/* Frees the virtual clients closed during this turn. */
void clients_free_dead(server_t *s);

/* ---- dispatch.c ---- */
void commands_init(server_t *s);
const command_entry_t *command_lookup(const server_t *s, slice_t name);
enum { DISPATCH_DONE = 0, DISPATCH_WAIT = 1 };
/* Runs one command for c. DISPATCH_WAIT: it must wait (for its own outstanding replies, for a
 * leader, for a ReadIndex answer); the caller holds it and runs it again when resumed. */
int dispatch(client_t *c, int argc, const slice_t *argv);
/* Proposes a write on behalf of c (NULL: the node itself). Persistence on: appended to the
 * group's log, applied and answered at commit. Off: applied and answered at once.
 * DISPATCH_WAIT when this node cannot propose now (leadership is moving). */
int server_propose(server_t *s, client_t *c, const command_t *cmd, int argc, const slice_t *argv);
/* Appends the command's flags as COMMAND reports them. */
extern const node_command_t node_commands[];
extern const size_t node_command_table_size;

/* ---- durable.c ---- */
/* Opens the data group (its log) and recovers the keyspace. 0, or negative with the reason. */
int durable_open(server_t *s, char *err, size_t err_size);
void durable_close(server_t *s);
/* Handles the group's Readies: group commit (one fsync for every proposal of the turn),
 * messages to peers, then applying committed entries, which produces the writes' replies. */
void server_commit(server_t *s);
/* Records c's proposal at (index, term) of `kind`, answered when that index applies. */
void pending_add(server_t *s, client_t *c, uint64_t index, uint64_t term, int kind);
/* Adds c's write to this turn's batch (the caller checked the group takes proposals); its
 * reply comes when the batch's entry applies. */
void batch_add(server_t *s, client_t *c, stamp_t stamp, int64_t now_ms, int argc,
               const slice_t *argv);
/* Proposes the batch as one entry; on refusal its clients are told why. */
void batch_propose(server_t *s);
/* Forgets c in the batch (it is closing); its write is still proposed. */
void batch_forget(server_t *s, client_t *c);
/* Starts handing leadership to target (0: the best voter) after proposing this turn's batch,
 * which the transfer would otherwise refuse. repl_group_transfer's result. */
int server_transfer(server_t *s, uint64_t target);
/* Answers, with the outcome-unknown error, proposals of older terms whose fate was not learned
 * within FATE_WAIT_MS. */
void durable_cron(server_t *s, int64_t now_ms);
/* The data group's log, or NULL (persistence off). Valid until the next loop turn. */
persist_t *server_persist(const server_t *s);
/* The before-sleep hook: commit, resume waiting clients, repeat (bounded), send replies. */
void server_before_sleep(server_t *s);
/* The reason writes are refused (storage failed), or NULL. */
const char *server_write_failure(const server_t *s);
void reply_misconf(server_t *s, reply_t *r);
/* Why the group refused a proposal (raft_propose's error), for the client. */
void reply_propose_error(server_t *s, reply_t *r, int rc);

/* ---- expiry.c ---- */
/* Active expiry: proposes DEL records for keys found expired, within EXPIRE_BUDGET_MS. */
void server_expire_cycle(server_t *s);
/* Evicts keys per maxmemory-policy until used memory is under maxmemory. 0 when it fits (or
 * there is no limit), -ENOMEM when nothing more may be evicted. */
int server_evict(server_t *s);

/* ---- server.c ---- */
/* SHUTDOWN, SIGTERM, SIGINT: a leader of a group with other voters first hands leadership
 * over (replica_shutdown_transfer); then server_shutdown_now. */
void server_request_shutdown(server_t *s, int exit_code);
/* Stops accepting and ends the loop after this turn (which commits and replies). */
void server_shutdown_now(server_t *s, int exit_code);
/* Raises RLIMIT_NOFILE to fit maxclients. 0, or -EMFILE with *granted the most it allows. */
int server_fit_fd_limit(server_t *s, long long maxclients, long long *granted);
size_t server_used_memory(server_t *s);

/* ---- replica.c: the node as a member of its group ---- */
/* Reads or creates the node's identity in --dir, parses --peers, creates the bus. */
int replica_setup(server_t *s, char *err, size_t err_size);
void replica_close(server_t *s);
enum route {
    ROUTE_LOCAL = 0, /* run here (node commands, reads that need no confirmation) */
    ROUTE_PROPOSE,   /* a write on the leader */
    ROUTE_READINDEX, /* a read on the leader that needs a ReadIndex round first */
    ROUTE_FORWARD,   /* to the leader */
    ROUTE_NO_LEADER, /* wait for a leader */
};
/* Where c's command goes. *leader gets the target of ROUTE_FORWARD. */
int replica_route(client_t *c, const command_t *info, const node_command_t *node, int is_write,
                  uint64_t *leader);
/* Holds c until a leader is known (DISPATCH_WAIT), or replies CLUSTERDOWN once it waited
 * LEADER_WAIT_MS (DISPATCH_DONE). */
int replica_wait_leader(client_t *c);
/* Holds c's read until a ReadIndex answer covers it. */
int replica_wait_read(client_t *c);
/* Issues one ReadIndex request for the reads that joined since the last (before sleeping). */
void replica_issue_reads(server_t *s);
/* Blocks c's reply until its condition holds (replica_check_blocked answers it). */
void replica_block(client_t *c, int kind, uint64_t arg, long long replicas, int64_t timeout_ms);
void replica_check_blocked(server_t *s, int64_t now_ms);
/* How many other members hold index (match), as WAIT counts replicas. */
long long replica_count_acks(server_t *s, uint64_t index);
void replica_cron(server_t *s, int64_t now_ms);
/* SIGTERM/SHUTDOWN of a leader: 1 when a leadership transfer was started (shut down once it
 * completes or TRANSFER_WAIT_MS passed), 0 to shut down now. */
int replica_shutdown_transfer(server_t *s);
/* Group callbacks. */
void replica_role_changed(void *ctx, int role, uint64_t leader, uint64_t term);
void replica_read_ready(void *ctx, uint64_t read_ctx);
/* The leader's client address as peers announced it, or "". */
const char *replica_client_address(const server_t *s, uint64_t id);
/* Whether a bus peer was heard from within ms. */
int replica_peer_heard(const server_t *s, uint64_t id, int64_t now_ms, int64_t within_ms);
/* Creates the bus on a node that had no peers (a single node gaining a member). */
int replica_ensure_bus(server_t *s, char *err, size_t err_size);

/* One member as INFO replication and POLIS.GROUP STATUS show it. */
typedef struct member_view {
    uint64_t id;
    int voter;
    char address[REPL_HOST_MAX + 8]; /* bus address */
    char client[REPL_HOST_MAX + 8];  /* client address, "" when not known yet */
    const char *state;               /* leader's view: probe, replicate, snapshot; else unknown */
    long long match;                 /* -1: not known here (this node does not lead) */
    long long lag;                   /* entries behind the leader's last index, -1 unknown */
    int connected;                   /* this node's bus connection to it is up */
} member_view_t;
/* The other members of the group; returns how many (at most max). */
size_t replica_members(server_t *s, member_view_t *out, size_t max);
const char *replica_role_name(const server_t *s);

/* ---- forward.c: commands served through the leader ---- */
/* Sends c's command to the leader; its reply comes back later. DISPATCH_DONE (an error may
 * have been replied). */
int forward_command(client_t *c, uint64_t leader, int argc, const slice_t *argv);
/* Bus handlers (registered by replica_setup). */
void forward_on_request(server_t *s, uint32_t from, const uint8_t *p, size_t len);
void forward_on_reply(server_t *s, uint32_t from, const uint8_t *p, size_t len);
void forward_on_close(server_t *s, uint32_t from, const uint8_t *p, size_t len);
/* A virtual client's replies go back to its origin (from client_write). */
void forward_send_replies(client_t *c);
/* c is closing: the leader that served it forgets it; a virtual client's origin is told. */
void forward_client_closed(client_t *c);
/* Closes clients whose leader went silent, and idle virtual clients. */
void forward_cron(server_t *s, int64_t now_ms);

/* ---- clientmap.c ---- */
void client_map_put(client_map_t *m, uint64_t k1, uint64_t k2, client_t *c);
client_t *client_map_get(const client_map_t *m, uint64_t k1, uint64_t k2);
void client_map_del(client_map_t *m, uint64_t k1, uint64_t k2);
void client_map_free(client_map_t *m);

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
/* cmd_repl.c */
node_command_fn node_readonly, node_readwrite, node_wait, node_group_add, node_group_remove,
    node_group_transfer, node_group_status, node_group_help;

/* Replies an array of status lines, as Redis' HELP subcommands do, ending with HELP's own
 * entry. lines ends with NULL. */
void reply_help(client_t *c, const char *const *lines);

static inline reply_t client_reply(client_t *c) {
    return (reply_t){&c->out, c->resp};
}

#endif
