/* lb worker: one event-loop thread of the balancer and the connections it owns.
 *
 * Threads. `--threads N` runs N workers. Worker 0 runs on the main thread, whose loop also
 * carries the control plane (signals, admin listener, health checks, reloads); workers 1..N-1
 * each run their own loop in a thread named "lb-worker-K". Every worker has its own listening
 * socket per frontend (SO_REUSEPORT when N > 1, so the kernel spreads connections), its own
 * clients, its own idle pools, its own policy state and its own counters: the request path
 * takes no lock. The control plane talks to a worker only through its mailbox (a state to
 * adopt, or stop) and a uv_async wake-up.
 *
 * Connections. A client (frontend connection) and an upstream (backend connection) each wrap an
 * lb_stream_t: a TCP handle, a read buffer owned by the connection and at most one write in
 * flight. Data moves from one side's read buffer straight into a write on the other side
 * (writev, first tried synchronously with uv_try_write); only what the socket did not take is
 * queued, and then the source stops reading (it is "held") until the write completes. So every
 * connection holds at most one buffer of data, however large the body: that is the streaming
 * and the backpressure. Heads are forwarded as slices of the read buffer with the few rewritten
 * fields spliced in, never copied. See docs/ARCHITECTURE.md, "Load balancer". */
#ifndef POLIS_LB_WORKER_H
#define POLIS_LB_WORKER_H

#include <netinet/in.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "lb/state.h"
#include "proto/http.h"

typedef struct lb lb_t;
typedef struct lb_worker lb_worker_t;
typedef struct lb_stream lb_stream_t;
typedef struct lb_client lb_client_t;
typedef struct lb_upstream lb_upstream_t;

/* Read buffer of a backend connection and the smallest one of a client. */
#define LB_BUF_SIZE 16384
/* Extra iovecs a forwarded head needs beyond two per header field. */
#define LB_IOV_EXTRA 16
/* How often a worker sweeps its idle pools and flushes its access log. */
#define LB_SWEEP_MS 250
/* How long a connection closing after an error response keeps draining what the client sends. */
#define LB_LINGER_MS 1000
/* Access-log bytes a worker buffers before it writes them out. */
#define LB_ACCESS_BUF_MAX 65536

/* Called after bytes were appended to the buffer (nread > 0), or on EOF / error (< 0). */
typedef void lb_stream_read_cb(lb_stream_t *s, ssize_t nread);
/* Called when a queued write completed (status 0) or failed. */
typedef void lb_stream_written_cb(lb_stream_t *s, int status);

struct lb_stream {
    uv_tcp_t tcp; /* tcp.data points at the owning client or upstream */
    uv_write_t wreq;
    uv_shutdown_t sreq;
    char *buf;
    uint32_t cap;
    uint32_t head;  /* first unconsumed byte */
    uint32_t tail;  /* end of data */
    uint32_t keep;  /* with retain: bytes from here on are kept (a request that may be
                       replayed); keep <= head */
    uint32_t moves; /* how many times the data was moved to the front (heads parsed before are
                       stale) */
    uint8_t retain;    /* keep is in force */
    uint8_t want_read; /* the owner wants bytes */
    uint8_t held;      /* buffer bytes are in a write on the other side: do not read or move */
    uint8_t reading;   /* uv_read_start is active */
    uint8_t writing;   /* a queued write is in flight */
    uint8_t eof;       /* the peer finished sending */
    uint8_t shut;      /* 1: shutdown requested, 2: done */
    uint8_t closing;
    lb_stream_read_cb *on_read;
    lb_stream_written_cb *on_written;
};

void lb_stream_init(lb_stream_t *s, char *buf, uint32_t cap);
/* Starts or stops reading to match want_read, held, eof and buffer space; moves kept bytes to
 * the front when the buffer is full and nothing refers to them. */
void lb_stream_sync(lb_stream_t *s);
/* Writes bufs. Returns 0 when everything was written now, 1 when the rest was queued (the
 * bytes must stay put until on_written), or a negative libuv error. Precondition: !writing. */
int lb_stream_write(lb_stream_t *s, uv_buf_t *bufs, unsigned n);
/* Half-closes the write side once queued writes are done; on_written(s, 0) follows. */
void lb_stream_shutdown(lb_stream_t *s);
/* Closes the handle (idempotent); close_cb runs from the loop. */
void lb_stream_close(lb_stream_t *s, uv_close_cb close_cb);

typedef enum lb_client_phase {
    LB_C_IDLE = 0,   /* HTTP: waiting for (the rest of) a request head */
    LB_C_CONNECTING, /* waiting for a backend connection */
    LB_C_EXCHANGE,   /* HTTP: request and response flowing */
    LB_C_TUNNEL,     /* TCP mode, or an upgraded HTTP connection */
    LB_C_LINGER,     /* a last response (an error) is being written, then close */
    LB_C_CLOSING,
} lb_client_phase_t;

struct lb_client {
    lb_stream_t s;
    uv_timer_t timer;
    int64_t deadline;  /* loop ms; the timer fires at or before it and re-arms (lazy) */
    int64_t timer_due; /* when the armed timer fires; 0: not armed */
    uint8_t closes;    /* handles still closing */
    uint8_t phase;
    lb_worker_t *w;
    lb_state_t *state; /* referenced */
    const lb_frontend_t *fe;
    lb_upstream_t *up;
    lb_client_t *prev, *next; /* the worker's clients */
    uint64_t ip_hash;
    char ip[INET6_ADDRSTRLEN];
    uint8_t ip_len;
    /* The current request. */
    uint8_t req_body, resp_body; /* http_body_t */
    uint8_t keep_alive;     /* the client connection may carry another request */
    uint8_t is_head;        /* a HEAD request: the response has no body */
    uint8_t retryable;      /* idempotent and still wholly in the buffer */
    uint8_t upgrade;        /* asks for a protocol switch (WebSocket) */
    uint8_t req_done;       /* the whole request went to the backend */
    uint8_t resp_head_done; /* the final response head was parsed */
    uint8_t resp_started;   /* response bytes went to the client: no more retries */
    uint8_t resp_done;
    uint8_t resp_keep;      /* the backend connection may be reused */
    uint8_t close_after;    /* close the client after this response */
    uint8_t tries;
    uint64_t head_seq;  /* w->head holds this request's head while w->head_seq equals it */
    uint32_t head_moves;
    int fail_status;    /* what to answer when no server is left: 503, 502 */
    uint32_t scanned;   /* incremental head scan state */
    uint64_t req_left, resp_left;
    http_chunked_t req_chunk, resp_chunk;
    int status;
    uint64_t t_start_ns;
    uint64_t resp_bytes;
    lb_server_t *server; /* counted in server->active until the request ends */
    lb_server_t *tried[LB_RETRIES_MAX + 1];
    char method[12];  /* for the access log (copied only when it is on) */
    char target[120];
};

typedef enum lb_upstream_state {
    LB_U_CONNECTING = 0,
    LB_U_IDLE, /* in its server's pool */
    LB_U_BUSY, /* serving a client */
} lb_upstream_state_t;

struct lb_upstream {
    lb_stream_t s;
    uv_connect_t creq;
    lb_worker_t *w;
    lb_server_t *server; /* referenced */
    lb_client_t *client;
    lb_upstream_t *pool_prev, *pool_next; /* the server's pool for this thread */
    lb_upstream_t *idle_prev, *idle_next; /* all idle upstreams of the worker */
    int64_t idle_since;
    uint32_t scanned;
    uint8_t state;
    uint8_t reused; /* carried a request before: a failure may be a stale keep-alive */
};

typedef struct lb_listener {
    uv_tcp_t tcp;
    lb_worker_t *w;
    struct sockaddr_storage addr;
    const lb_frontend_t *fe; /* in w->state, refreshed on adoption */
    struct lb_listener *next;
    uint8_t seen;
} lb_listener_t;

/* Statuses the balancer answers by itself, with a prepared response each. */
#define LB_ERROR_STATUSES 10

struct lb_worker {
    unsigned id;
    lb_t *lb;
    uv_loop_t *loop;
    uv_loop_t own_loop; /* workers 1..N-1 */
    uv_thread_t thread;
    uv_async_t wake;
    uv_mutex_t mailbox_lock;
    lb_state_t *mailbox_state; /* under mailbox_lock */
    int mailbox_stop;          /* under mailbox_lock */
    lb_state_t *state;         /* the adopted state, referenced */
    lb_listener_t *listeners;
    lb_client_t *clients;
    size_t client_count;
    lb_upstream_t *idle; /* most recently pooled first */
    uv_timer_t sweep;
    uv_timer_t grace;
    uint8_t draining;
    uint8_t finished;
    uint64_t rng;
    int access_fd; /* -1: no access log */
    buf_t access;
    int64_t date_sec;
    char date[32];
    buf_t errors[LB_ERROR_STATUSES];
    int error_status[LB_ERROR_STATUSES];
    /* Parse scratch: headers of the head being handled (one at a time per thread). */
    http_header_t headers[LB_HEADERS_LIMIT];
    http_head_t head;
    uint64_t head_seq; /* bumped by every parse into head */
    lb_counter_t accepted; /* client connections */
    lb_counter_t requests; /* HTTP requests parsed */
};

/* Prepares worker id (not started). loop: the main loop for worker 0, NULL for its own. */
int lb_worker_init(lb_worker_t *w, lb_t *lb, unsigned id, uv_loop_t *loop, int access_fd);
/* Runs workers 1..N-1 in their own thread. */
int lb_worker_start(lb_worker_t *w);
/* Adopts st on the worker's thread (or before it starts): listeners for new frontends are
 * bound first, so on error nothing changed. 0 or a negative errno. */
int lb_worker_adopt(lb_worker_t *w, lb_state_t *st);
/* From the control thread: hand a state to a worker, or ask it to drain and stop. */
void lb_worker_post(lb_worker_t *w, lb_state_t *st, int stop);
/* On the worker's thread: stop accepting, finish in-flight requests, then end the loop. */
void lb_worker_drain(lb_worker_t *w, uint32_t grace_ms);
/* After the loop ended: frees what is left. */
void lb_worker_destroy(lb_worker_t *w);
/* The prepared response for status (one of the statuses the balancer answers itself). */
uv_buf_t lb_worker_error(lb_worker_t *w, int status);

/* Clients (client.c). */
void lb_client_deadline(lb_client_t *c, uint32_t ms);
void lb_client_close(lb_client_t *c);
/* Counts a request against s (active, requests) until lb_client_unassign. */
void lb_client_assign(lb_client_t *c, lb_server_t *s);
void lb_client_unassign(lb_client_t *c);
/* Attaches up to c as its backend connection. */
void lb_client_attach(lb_client_t *c, lb_upstream_t *up);
/* Answers with a prepared error response, then closes (lingering: see client.c). */
void lb_client_reply_error(lb_client_t *c, int status);
/* Picks a server not tried yet and gets a pooled or new connection to it; *done tells whether
 * one was attached at once (pooled). Returns 0, or -1 when no server is left to try. */
int lb_client_dispatch(lb_client_t *c, int *attached);
/* Appends an access-log line for the request that just ended. */
void lb_client_log(lb_client_t *c);

/* Upstreams (upstream.c). */
lb_upstream_t *lb_pool_take(lb_worker_t *w, lb_server_t *s);
/* Pools up when its server is ready and the pool below keepalive, else closes it. */
void lb_pool_put(lb_upstream_t *up, uint32_t keepalive, int64_t now_ms);
/* Closes idle upstreams older than their backend's pool timeout, or of servers that left. */
void lb_pool_sweep(lb_worker_t *w, int64_t now_ms, int all);
int lb_upstream_connect(lb_worker_t *w, lb_server_t *s, lb_client_t *c, lb_upstream_t **out);
void lb_upstream_close(lb_upstream_t *up);

/* Modes (http_proxy.c, tcp_proxy.c). */
void lb_http_start(lb_client_t *c);
void lb_http_connected(lb_client_t *c, int status);
void lb_http_timeout(lb_client_t *c);
void lb_tcp_start(lb_client_t *c);
void lb_tcp_connected(lb_client_t *c, int status);
/* Turns c and its upstream into a byte tunnel (TCP mode, or after 101 Switching Protocols). */
void lb_tunnel_start(lb_client_t *c);
/* A client or upstream failed or timed out in a tunnel. */
void lb_tunnel_abort(lb_client_t *c);

#endif
