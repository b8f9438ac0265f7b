/* lb admin: the balancer's admin listener on the main loop (control.h).
 *
 *   GET  /                  stats page (HTML): every server's state, weight, traffic, latency
 *   GET  /metrics           Prometheus text format
 *   GET  /api/status        the same as JSON
 *   POST /api/backends/B/servers          {"name": N, "address": "HOST:PORT", "weight": W}
 *   POST /api/backends/B/servers/S        {"weight": W} and/or {"state": "drain" | "ready"}
 *   DELETE /api/backends/B/servers/S
 *   POST /api/reload        re-read the config file (as SIGHUP)
 *
 * One request per connection (answers carry Connection: close); heads and bodies are bounded.
 * Requests are parsed with the shared HTTP parser (proto/http.h). */
#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "lb/control.h"
#include "net/addr.h"

#define ADMIN_HEAD_MAX 8192
#define ADMIN_BODY_MAX 65536
#define ADMIN_BUF_SIZE (ADMIN_HEAD_MAX + ADMIN_BODY_MAX)
#define ADMIN_HEADERS_MAX 64

struct lb_admin {
    lb_t *lb;
    uv_tcp_t listener;
};

typedef struct admin_conn {
    uv_tcp_t tcp;
    uv_write_t wreq;
    lb_admin_t *admin;
    buf_t out;
    size_t len;
    int answered;
    char in[ADMIN_BUF_SIZE];
} admin_conn_t;

/* Everything the pages show about one server, summed over the threads. */
typedef struct server_view {
    uint64_t connections, requests, errors, retries, responses[5];
    uint64_t p50_us, p90_us, p99_us, count;
    uint32_t idle;
} server_view_t;

static void server_sum(const lb_server_t *s, server_view_t *v) {
    memset(v, 0, sizeof *v);
    lb_histogram_sum_t *h = mem_calloc(1, sizeof *h);
    for (unsigned t = 0; t < s->threads; t++) {
        const lb_server_thread_t *pt = &s->per_thread[t];
        v->connections += lb_counter_get(&pt->connections);
        v->requests += lb_counter_get(&pt->requests);
        v->errors += lb_counter_get(&pt->errors);
        v->retries += lb_counter_get(&pt->retries);
        for (int i = 0; i < 5; i++) {
            v->responses[i] += lb_counter_get(&pt->responses[i]);
        }
        lb_histogram_merge(h, &pt->latency);
    }
    v->count = h->count;
    v->p50_us = lb_histogram_quantile(h, 0.50);
    v->p90_us = lb_histogram_quantile(h, 0.90);
    v->p99_us = lb_histogram_quantile(h, 0.99);
    mem_free(h);
}

static int64_t now_ms(lb_t *lb) { return (int64_t)uv_now(&lb->loop); }

/* Client connections accepted and HTTP requests received, all threads. */
static void worker_totals(lb_t *lb, uint64_t *accepted, uint64_t *requests) {
    *accepted = *requests = 0;
    for (unsigned i = 0; i < lb->threads; i++) {
        *accepted += lb_counter_get(&lb->workers[i].accepted);
        *requests += lb_counter_get(&lb->workers[i].requests);
    }
}

/* ---- pages ---- */

static cJSON *status_json(lb_t *lb) {
    const lb_state_t *st = lb->state;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "generation", (double)st->generation);
    cJSON_AddNumberToObject(root, "threads", lb->threads);
    uint64_t accepted, requests;
    worker_totals(lb, &accepted, &requests);
    cJSON_AddNumberToObject(root, "connections_accepted", (double)accepted);
    cJSON_AddNumberToObject(root, "requests", (double)requests);
    cJSON *fes = cJSON_AddArrayToObject(root, "frontends");
    for (size_t i = 0; i < st->frontend_count; i++) {
        const lb_frontend_conf_t *fc = &st->frontends[i].conf;
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "name", fc->name);
        cJSON_AddStringToObject(f, "listen", fc->listen);
        cJSON_AddStringToObject(f, "mode", fc->mode == LB_MODE_HTTP ? "http" : "tcp");
        cJSON_AddStringToObject(f, "backend", fc->backend);
        cJSON_AddItemToArray(fes, f);
    }
    cJSON *bes = cJSON_AddArrayToObject(root, "backends");
    for (size_t i = 0; i < st->backend_count; i++) {
        const lb_backend_t *b = &st->backends[i];
        cJSON *bj = cJSON_CreateObject();
        cJSON_AddStringToObject(bj, "name", b->conf.name);
        cJSON_AddStringToObject(bj, "balance", b->policy->name);
        cJSON *servers = cJSON_AddArrayToObject(bj, "servers");
        for (size_t m = 0; m < b->view.count; m++) {
            lb_server_t *s = b->view.members[m].server;
            server_view_t v;
            server_sum(s, &v);
            cJSON *sj = cJSON_CreateObject();
            cJSON_AddStringToObject(sj, "name", s->name);
            cJSON_AddStringToObject(sj, "address", s->address);
            cJSON_AddStringToObject(sj, "state", lb_server_state_name(s, now_ms(lb)));
            cJSON_AddNumberToObject(sj, "weight", b->view.members[m].weight);
            cJSON_AddNumberToObject(sj, "active", atomic_load(&s->active));
            cJSON_AddNumberToObject(sj, "connections", (double)v.connections);
            cJSON_AddNumberToObject(sj, "requests", (double)v.requests);
            cJSON_AddNumberToObject(sj, "errors", (double)v.errors);
            cJSON_AddNumberToObject(sj, "retries", (double)v.retries);
            cJSON *r = cJSON_AddObjectToObject(sj, "responses");
            static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
            for (int c = 0; c < 5; c++) {
                cJSON_AddNumberToObject(r, classes[c], (double)v.responses[c]);
            }
            cJSON *lat = cJSON_AddObjectToObject(sj, "latency_ms");
            cJSON_AddNumberToObject(lat, "p50", (double)v.p50_us / 1000.0);
            cJSON_AddNumberToObject(lat, "p90", (double)v.p90_us / 1000.0);
            cJSON_AddNumberToObject(lat, "p99", (double)v.p99_us / 1000.0);
            cJSON_AddItemToArray(servers, sj);
        }
        cJSON_AddItemToArray(bes, bj);
    }
    return root;
}

static void page_metrics(lb_t *lb, buf_t *out) {
    const lb_state_t *st = lb->state;
    uint64_t accepted, requests;
    worker_totals(lb, &accepted, &requests);
    buf_printf(out, "# HELP polis_lb_connections_accepted_total Client connections accepted.\n"
                    "# TYPE polis_lb_connections_accepted_total counter\n"
                    "polis_lb_connections_accepted_total %llu\n"
                    "# HELP polis_lb_requests_total HTTP requests received.\n"
                    "# TYPE polis_lb_requests_total counter\npolis_lb_requests_total %llu\n",
               (unsigned long long)accepted, (unsigned long long)requests);
    buf_printf(out, "# HELP polis_lb_server_up Whether the server takes new traffic.\n"
                    "# TYPE polis_lb_server_up gauge\n");
    for (size_t i = 0; i < st->backend_count; i++) {
        const lb_backend_t *b = &st->backends[i];
        for (size_t m = 0; m < b->view.count; m++) {
            const lb_server_t *s = b->view.members[m].server;
            buf_printf(out, "polis_lb_server_up{backend=\"%s\",server=\"%s\"} %d\n", s->backend,
                       s->name, lb_server_usable(s, now_ms(lb)));
        }
    }
    static const struct {
        const char *name, *type, *help;
    } series[] = {
        {"polis_lb_server_active", "gauge", "Requests (HTTP) or connections (TCP) in flight."},
        {"polis_lb_server_weight", "gauge", "The server's weight."},
        {"polis_lb_server_connections_total", "counter", "Backend connections opened."},
        {"polis_lb_server_requests_total", "counter", "Requests or TCP sessions sent."},
        {"polis_lb_server_errors_total", "counter", "Failed connects and broken exchanges."},
        {"polis_lb_server_retries_total", "counter", "Attempts moved to another server."},
    };
    for (size_t k = 0; k < sizeof series / sizeof series[0]; k++) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", series[k].name, series[k].help,
                   series[k].name, series[k].type);
        for (size_t i = 0; i < st->backend_count; i++) {
            const lb_backend_t *b = &st->backends[i];
            for (size_t m = 0; m < b->view.count; m++) {
                lb_server_t *s = b->view.members[m].server;
                server_view_t v;
                server_sum(s, &v);
                uint64_t values[] = {(uint64_t)atomic_load(&s->active), b->view.members[m].weight,
                                     v.connections, v.requests, v.errors, v.retries};
                buf_printf(out, "%s{backend=\"%s\",server=\"%s\"} %llu\n", series[k].name,
                           s->backend, s->name, (unsigned long long)values[k]);
            }
        }
    }
    buf_printf(out, "# HELP polis_lb_server_responses_total Responses by status class.\n"
                    "# TYPE polis_lb_server_responses_total counter\n"
                    "# HELP polis_lb_server_response_seconds Request start to response end.\n"
                    "# TYPE polis_lb_server_response_seconds summary\n");
    for (size_t i = 0; i < st->backend_count; i++) {
        const lb_backend_t *b = &st->backends[i];
        for (size_t m = 0; m < b->view.count; m++) {
            lb_server_t *s = b->view.members[m].server;
            server_view_t v;
            server_sum(s, &v);
            for (int c = 0; c < 5; c++) {
                buf_printf(out,
                           "polis_lb_server_responses_total{backend=\"%s\",server=\"%s\","
                           "code=\"%dxx\"} %llu\n",
                           s->backend, s->name, c + 1, (unsigned long long)v.responses[c]);
            }
            const double q[3] = {0.5, 0.9, 0.99};
            const uint64_t us[3] = {v.p50_us, v.p90_us, v.p99_us};
            for (int k = 0; k < 3; k++) {
                buf_printf(out,
                           "polis_lb_server_response_seconds{backend=\"%s\",server=\"%s\","
                           "quantile=\"%g\"} %.6f\n",
                           s->backend, s->name, q[k], (double)us[k] / 1e6);
            }
            buf_printf(out,
                       "polis_lb_server_response_seconds_count{backend=\"%s\",server=\"%s\"} "
                       "%llu\n",
                       s->backend, s->name, (unsigned long long)v.count);
        }
    }
}

static void page_stats(lb_t *lb, buf_t *out) {
    const lb_state_t *st = lb->state;
    buf_printf(out, "<!doctype html><html><head><meta charset=\"utf-8\">"
                    "<meta http-equiv=\"refresh\" content=\"2\"><title>polis lb</title><style>"
                    "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
                    "margin-bottom:2em}td,th{border:1px solid #ccc;padding:4px 8px;"
                    "text-align:right}th{background:#eee}td.n{text-align:left}"
                    ".up{background:#cfc}.down,.cooldown{background:#fcc}.drain{background:#ffc}"
                    "</style></head><body><h1>polis lb</h1><p>configuration generation %llu, "
                    "%u thread(s)</p>",
               (unsigned long long)st->generation, lb->threads);
    for (size_t i = 0; i < st->frontend_count; i++) {
        const lb_frontend_conf_t *f = &st->frontends[i].conf;
        buf_printf(out, "<p>frontend <b>%s</b> on %s (%s) &rarr; backend %s</p>", f->name,
                   f->listen, f->mode == LB_MODE_HTTP ? "http" : "tcp", f->backend);
    }
    for (size_t i = 0; i < st->backend_count; i++) {
        const lb_backend_t *b = &st->backends[i];
        buf_printf(out, "<h2>backend %s (%s)</h2><table><tr><th>server</th><th>address</th>"
                        "<th>state</th><th>weight</th><th>active</th><th>connections</th>"
                        "<th>requests</th><th>errors</th><th>retries</th><th>2xx</th>"
                        "<th>3xx</th><th>4xx</th><th>5xx</th><th>p50 ms</th><th>p90 ms</th>"
                        "<th>p99 ms</th></tr>",
                   b->conf.name, b->policy->name);
        for (size_t m = 0; m < b->view.count; m++) {
            lb_server_t *s = b->view.members[m].server;
            server_view_t v;
            server_sum(s, &v);
            const char *state = lb_server_state_name(s, now_ms(lb));
            buf_printf(out,
                       "<tr><td class=n>%s</td><td class=n>%s</td><td class=%s>%s</td>"
                       "<td>%u</td><td>%d</td><td>%llu</td><td>%llu</td><td>%llu</td>"
                       "<td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td><td>%llu</td>"
                       "<td>%.3f</td><td>%.3f</td><td>%.3f</td></tr>",
                       s->name, s->address, state, state, b->view.members[m].weight,
                       (int)atomic_load(&s->active), (unsigned long long)v.connections,
                       (unsigned long long)v.requests, (unsigned long long)v.errors,
                       (unsigned long long)v.retries, (unsigned long long)v.responses[1],
                       (unsigned long long)v.responses[2], (unsigned long long)v.responses[3],
                       (unsigned long long)v.responses[4], (double)v.p50_us / 1000.0,
                       (double)v.p90_us / 1000.0, (double)v.p99_us / 1000.0);
        }
        buf_printf(out, "</table>");
    }
    buf_printf(out, "<p><a href=\"/metrics\">/metrics</a> &middot; "
                    "<a href=\"/api/status\">/api/status</a></p></body></html>\n");
}

/* ---- the JSON API ---- */

static int reply_json(buf_t *out, int status, cJSON *body) {
    char *text = cJSON_PrintUnformatted(body);
    http_reply(out, status, "application/json", text, strlen(text), 1);
    cJSON_free(text);
    cJSON_Delete(body);
    return status;
}

static int reply_message(buf_t *out, int status, const char *key, const char *message) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, key, message);
    return reply_json(out, status, o);
}

/* Applies a modified copy of the running config; answers the outcome. */
static int apply_change(lb_t *lb, lb_config_t *cfg, buf_t *out, int ok_status) {
    char err[256];
    if (lb_apply(lb, cfg, err, sizeof err) < 0) {
        return reply_message(out, 409, "error", err);
    }
    return reply_message(out, ok_status, "ok", "applied");
}

static int api_add(lb_t *lb, const char *backend, const cJSON *body, buf_t *out) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(body, "name");
    const cJSON *address = cJSON_GetObjectItemCaseSensitive(body, "address");
    const cJSON *weight = cJSON_GetObjectItemCaseSensitive(body, "weight");
    if (!cJSON_IsString(name) || !cJSON_IsString(address) || (weight && !cJSON_IsNumber(weight))) {
        return reply_message(out, 400, "error", "want {\"name\", \"address\", \"weight\"}");
    }
    double w = weight ? weight->valuedouble : 1;
    if (w < 0 || w > LB_WEIGHT_MAX) {
        return reply_message(out, 400, "error", "weight out of range");
    }
    lb_config_t *cfg = lb_config_clone(lb->config);
    char err[256];
    int rc = lb_config_server_add(cfg, backend, name->valuestring, address->valuestring,
                                  (uint32_t)w, err, sizeof err);
    if (rc < 0) {
        lb_config_free(cfg);
        return reply_message(out, rc == -ENOENT ? 404 : rc == -EEXIST ? 409 : 400, "error", err);
    }
    return apply_change(lb, cfg, out, 201);
}

static int api_update(lb_t *lb, const char *backend, const char *server, const cJSON *body,
                      buf_t *out) {
    lb_server_t *s = lb_state_server(lb->state, backend, server);
    if (!s) {
        return reply_message(out, 404, "error", "no such server");
    }
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(body, "state");
    const cJSON *weight = cJSON_GetObjectItemCaseSensitive(body, "weight");
    if ((!state && !weight) || (state && !cJSON_IsString(state)) ||
        (weight && (!cJSON_IsNumber(weight) || weight->valuedouble < 0 ||
                    weight->valuedouble > LB_WEIGHT_MAX))) {
        return reply_message(out, 400, "error", "want {\"weight\": N} or {\"state\": drain|ready}");
    }
    if (state) {
        int admin = strcmp(state->valuestring, "drain") == 0   ? LB_SERVER_DRAIN
                    : strcmp(state->valuestring, "ready") == 0 ? LB_SERVER_READY
                                                               : -1;
        if (admin < 0) {
            return reply_message(out, 400, "error", "state: want drain or ready");
        }
        atomic_store(&s->admin, admin);
        log_notice("lb", "server %s/%s set to %s", backend, server, state->valuestring);
    }
    if (!weight) {
        return reply_message(out, 200, "ok", "applied");
    }
    lb_config_t *cfg = lb_config_clone(lb->config);
    lb_config_server_weight(cfg, backend, server, (uint32_t)weight->valuedouble);
    return apply_change(lb, cfg, out, 200);
}

static int api_remove(lb_t *lb, const char *backend, const char *server, buf_t *out) {
    lb_config_t *cfg = lb_config_clone(lb->config);
    if (lb_config_server_remove(cfg, backend, server) < 0) {
        lb_config_free(cfg);
        return reply_message(out, 404, "error", "no such server");
    }
    return apply_change(lb, cfg, out, 200);
}

/* Splits a path into at most max segments (in place). */
static int path_split(char *path, char **seg, int max) {
    int n = 0;
    char *save = NULL;
    char *q = strchr(path, '?');
    if (q) {
        *q = '\0';
    }
    for (char *t = strtok_r(path, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (n == max) {
            return -1;
        }
        seg[n++] = t;
    }
    return n;
}

static int route_api(lb_t *lb, slice_t method, char **seg, int n, const char *body,
                     size_t body_len, buf_t *out) {
    int post = slice_eq(method, SLICE_LIT("POST")) || slice_eq(method, SLICE_LIT("PUT")) ||
               slice_eq(method, SLICE_LIT("PATCH"));
    if (n == 2 && strcmp(seg[1], "status") == 0) {
        return reply_json(out, 200, status_json(lb));
    }
    if (n == 2 && strcmp(seg[1], "reload") == 0 && post) {
        char err[256];
        if (lb_reload(lb, err, sizeof err) < 0) {
            return reply_message(out, 409, "error", err);
        }
        return reply_message(out, 200, "ok", "reloaded");
    }
    if (n < 4 || n > 5 || strcmp(seg[1], "backends") != 0 || strcmp(seg[3], "servers") != 0) {
        return reply_message(out, 404, "error", "no such endpoint");
    }
    if (n == 5 && slice_eq(method, SLICE_LIT("DELETE"))) {
        return api_remove(lb, seg[2], seg[4], out);
    }
    if (!post) {
        return reply_message(out, 405, "error", "method not allowed");
    }
    cJSON *json = cJSON_ParseWithLength(body, body_len);
    if (!cJSON_IsObject(json)) {
        cJSON_Delete(json);
        return reply_message(out, 400, "error", "body is not a JSON object");
    }
    int status = n == 4 ? api_add(lb, seg[2], json, out)
                        : api_update(lb, seg[2], seg[4], json, out);
    cJSON_Delete(json);
    return status;
}

static void route(lb_t *lb, const http_head_t *h, const char *body, size_t body_len, buf_t *out) {
    char path[512];
    if (h->target.len >= sizeof path) {
        reply_message(out, 414, "error", "path too long");
        return;
    }
    memcpy(path, h->target.ptr, h->target.len);
    path[h->target.len] = '\0';
    char *seg[8];
    int n = path_split(path, seg, 8);
    int get = slice_eq(h->method, SLICE_LIT("GET")) || slice_eq(h->method, SLICE_LIT("HEAD"));
    if (n >= 1 && strcmp(seg[0], "api") == 0) {
        route_api(lb, h->method, seg, n, body, body_len, out);
    } else if (get && n == 1 && strcmp(seg[0], "metrics") == 0) {
        buf_t page;
        buf_init(&page);
        page_metrics(lb, &page);
        http_reply(out, 200, "text/plain; version=0.0.4", page.data, page.len, 1);
        buf_free(&page);
    } else if (get && (n == 0 || (n == 1 && strcmp(seg[0], "stats") == 0))) {
        buf_t page;
        buf_init(&page);
        page_stats(lb, &page);
        http_reply(out, 200, "text/html; charset=utf-8", page.data, page.len, 1);
        buf_free(&page);
    } else {
        reply_message(out, 404, "error", "not found");
    }
}

/* ---- connections ---- */

static void conn_closed(uv_handle_t *h) {
    admin_conn_t *c = h->data;
    buf_free(&c->out);
    mem_free(c);
}

static void conn_written(uv_write_t *req, int status) {
    (void)status;
    admin_conn_t *c = req->data;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_answer(admin_conn_t *c) {
    c->answered = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, conn_written) < 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void conn_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
    (void)suggested;
    admin_conn_t *c = h->data;
    b->base = c->in + c->len;
    b->len = sizeof c->in - c->len;
}

static void conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b) {
    (void)b;
    admin_conn_t *c = st->data;
    if (nread < 0 || c->answered) {
        if (!c->answered) {
            uv_close((uv_handle_t *)&c->tcp, conn_closed);
        }
        return;
    }
    c->len += (size_t)nread;
    http_header_t headers[ADMIN_HEADERS_MAX];
    http_head_t h;
    http_head_init(&h, headers, ADMIN_HEADERS_MAX);
    int rc = http_request_parse(c->in, c->len, ADMIN_HEAD_MAX, &h);
    if (rc == -EAGAIN) {
        return;
    }
    if (rc < 0 || (h.body != HTTP_BODY_NONE && h.body != HTTP_BODY_LENGTH) ||
        (h.body == HTTP_BODY_LENGTH && h.content_length > ADMIN_BODY_MAX)) {
        reply_message(&c->out, rc < 0 ? http_error_status(rc) : 413, "error", "bad request");
        conn_answer(c);
        return;
    }
    size_t body_len = h.body == HTTP_BODY_LENGTH ? (size_t)h.content_length : 0;
    if (c->len < h.head_len + body_len) {
        return; /* the body is still arriving */
    }
    route(c->admin->lb, &h, c->in + h.head_len, body_len, &c->out);
    conn_answer(c);
}

static void on_admin_connection(uv_stream_t *server, int status) {
    lb_admin_t *a = server->data;
    if (status < 0) {
        return;
    }
    admin_conn_t *c = mem_calloc(1, sizeof *c);
    c->admin = a;
    buf_init(&c->out);
    uv_tcp_init(&a->lb->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read) < 0) {
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void admin_closed(uv_handle_t *h) { mem_free(h->data); }

int lb_admin_start(lb_t *lb, const struct sockaddr *addr, lb_admin_t **out) {
    lb_admin_t *a = mem_calloc(1, sizeof *a);
    a->lb = lb;
    uv_tcp_init(&lb->loop, &a->listener);
    a->listener.data = a;
    int rc = uv_tcp_bind(&a->listener, addr, 0);
    if (rc == 0) {
        rc = uv_listen((uv_stream_t *)&a->listener, 128, on_admin_connection);
    }
    if (rc < 0) {
        uv_close((uv_handle_t *)&a->listener, admin_closed);
        return rc;
    }
    *out = a;
    return 0;
}

void lb_admin_stop(lb_admin_t *a) { uv_close((uv_handle_t *)&a->listener, admin_closed); }
