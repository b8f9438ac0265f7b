/* cmd_server: server commands — COMMAND, CONFIG, INFO, TIME, SAVE, BGSAVE, LASTSAVE,
 * SHUTDOWN (DBSIZE, FLUSHDB, FLUSHALL are keyspace commands). Replies and error texts are
 * Redis 7.0's. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/glob.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

#define CONFIG_SET_PAIRS_MAX 64 /* name/value pairs in one CONFIG SET */

/* ---- COMMAND ---- */

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
    {CMD_WRITE, "write"}, {CMD_READONLY, "readonly"}, {CMD_DENYOOM, "denyoom"},
    {CMD_ADMIN, "admin"}, {CMD_NOSCRIPT, "noscript"}, {CMD_LOADING, "loading"},
    {CMD_STALE, "stale"}, {CMD_FAST, "fast"},
};

static void reply_flags(reply_t *r, const command_t *info) {
    size_t n = 0;
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
        n += (info->flags & flag_names[i].flag) != 0;
    }
    reply_set(r, n);
    for (size_t i = 0; i < sizeof flag_names / sizeof flag_names[0]; i++) {
        if (info->flags & flag_names[i].flag) {
            reply_status(r, flag_names[i].name);
        }
    }
}

/* ACL categories, derived from the flags and the group, in Redis' category order. */
static void reply_categories(reply_t *r, const command_t *info) {
    const char *cats[8];
    size_t n = 0;
    int admin = (info->flags & CMD_ADMIN) != 0;
    if (strcmp(info->group, "generic") == 0) {
        cats[n++] = "@keyspace";
    }
    if (info->flags & (CMD_WRITE | CMD_READONLY)) {
        cats[n++] = (info->flags & CMD_WRITE) ? "@write" : "@read";
    }
    if (strcmp(info->group, "hash") == 0 || strcmp(info->group, "string") == 0) {
        cats[n++] = strcmp(info->group, "hash") == 0 ? "@hash" : "@string";
    }
    if (admin) {
        cats[n++] = "@admin";
    }
    cats[n++] = (info->flags & CMD_FAST) ? "@fast" : "@slow";
    if (admin) {
        cats[n++] = "@dangerous";
    }
    if (strcmp(info->group, "connection") == 0) {
        cats[n++] = "@connection";
    }
    reply_set(r, n);
    for (size_t i = 0; i < n; i++) {
        reply_status(r, cats[i]);
    }
}

/* One key spec from (first, last, step): keys from index first to last (negative: from the
 * end), every step. */
static void reply_key_specs(reply_t *r, const command_t *info) {
    if (info->first_key <= 0) {
        reply_set(r, 0);
        return;
    }
    reply_array(r, 1);
    reply_map(r, 3);
    reply_bulk_cstr(r, "flags");
    reply_set(r, 2);
    reply_status(r, (info->flags & CMD_WRITE) ? "RW" : "RO");
    reply_status(r, (info->flags & CMD_WRITE) ? "update" : "access");
    reply_bulk_cstr(r, "begin_search");
    reply_map(r, 2);
    reply_bulk_cstr(r, "type");
    reply_bulk_cstr(r, "index");
    reply_bulk_cstr(r, "spec");
    reply_map(r, 1);
    reply_bulk_cstr(r, "index");
    reply_int(r, info->first_key);
    reply_bulk_cstr(r, "find_keys");
    reply_map(r, 2);
    reply_bulk_cstr(r, "type");
    reply_bulk_cstr(r, "range");
    reply_bulk_cstr(r, "spec");
    reply_map(r, 3);
    reply_bulk_cstr(r, "lastkey");
    reply_int(r, info->last_key < 0 ? info->last_key : info->last_key - info->first_key);
    reply_bulk_cstr(r, "keystep");
    reply_int(r, info->key_step);
    reply_bulk_cstr(r, "limit");
    reply_int(r, 0);
}

static void reply_command_info(reply_t *r, const command_t *info, const node_command_t *node) {
    reply_array(r, 10);
    reply_bulk_cstr(r, info->name);
    reply_int(r, info->arity);
    reply_flags(r, info);
    reply_int(r, info->first_key);
    reply_int(r, info->last_key);
    reply_int(r, info->key_step);
    reply_categories(r, info);
    if (info->flags & CMD_RANDOM) {
        reply_set(r, 1);
        reply_bulk_cstr(r, "nondeterministic_output");
    } else {
        reply_set(r, 0);
    }
    reply_key_specs(r, info);
    size_t subs = node ? node->subcommand_count : 0;
    reply_array(r, subs);
    for (size_t i = 0; i < subs; i++) {
        reply_command_info(r, &node->subcommands[i].info, &node->subcommands[i]);
    }
}

void node_command(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    reply_array(&r, s->command_count);
    for (size_t i = 0; i < COMMAND_SLOTS; i++) {
        if (s->commands[i].info) {
            reply_command_info(&r, s->commands[i].info, s->commands[i].node);
        }
    }
}

void node_command_count(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    reply_int(&r, (long long)c->srv->command_count);
}

void node_command_info(client_t *c, int argc, const slice_t *argv) {
    if (argc == 2) {
        node_command(c, argc, argv);
        return;
    }
    reply_t r = client_reply(c);
    reply_array(&r, (size_t)argc - 2);
    for (int i = 2; i < argc; i++) {
        const command_entry_t *e = command_lookup(c->srv, argv[i]);
        if (e) {
            reply_command_info(&r, e->info, e->node);
        } else {
            reply_null(&r);
        }
    }
}

static void reply_docs(reply_t *r, const command_t *info, const node_command_t *node) {
    size_t subs = node ? node->subcommand_count : 0;
    reply_map(r, subs ? 4 : 3);
    reply_bulk_cstr(r, "summary");
    reply_bulk_cstr(r, info->summary);
    reply_bulk_cstr(r, "since");
    reply_bulk_cstr(r, info->since);
    reply_bulk_cstr(r, "group");
    reply_bulk_cstr(r, info->group);
    if (subs) {
        reply_bulk_cstr(r, "subcommands");
        reply_map(r, subs);
        for (size_t i = 0; i < subs; i++) {
            reply_bulk_cstr(r, node->subcommands[i].info.name);
            reply_docs(r, &node->subcommands[i].info, NULL);
        }
    }
}

void node_command_docs(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    if (argc == 2) {
        reply_map(&r, s->command_count);
        for (size_t i = 0; i < COMMAND_SLOTS; i++) {
            if (s->commands[i].info) {
                reply_bulk_cstr(&r, s->commands[i].info->name);
                reply_docs(&r, s->commands[i].info, s->commands[i].node);
            }
        }
        return;
    }
    size_t found = 0;
    for (int i = 2; i < argc; i++) {
        found += command_lookup(s, argv[i]) != NULL;
    }
    reply_map(&r, found);
    for (int i = 2; i < argc; i++) {
        const command_entry_t *e = command_lookup(s, argv[i]);
        if (e) {
            reply_bulk_cstr(&r, e->info->name);
            reply_docs(&r, e->info, e->node);
        }
    }
}

void node_command_help(client_t *c, int argc, const slice_t *argv) {
    static const char *const lines[] = {
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "(no subcommand)",
        "    Return details about all commands.",
        "COUNT",
        "    Return the total number of commands in this server.",
        "INFO [<command-name> ...]",
        "    Return details about multiple commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        "DOCS [<command-name> ...]",
        "    Return documentation details about multiple commands.",
        "    If no command names are given, documentation details for all",
        "    commands are returned.",
        NULL,
    };
    reply_help(c, lines);
}

/* ---- CONFIG ---- */

static int matches_any(const config_option_t *o, int argc, const slice_t *argv) {
    const char *name = o->name;
    if (o->flags & CONFIG_SECRET) {
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        if (glob_match(argv[i].ptr, argv[i].len, name, strlen(name), 1)) {
            return 1;
        }
    }
    return 0;
}

void node_config_get(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    const server_config_t *cfg = &c->srv->config;
    size_t n = 0;
    for (size_t i = 0; i < config_option_count; i++) {
        n += (size_t)matches_any(&config_options[i], argc, argv);
    }
    reply_map(&r, n);
    buf_t value;
    buf_init(&value);
    for (size_t i = 0; i < config_option_count; i++) {
        if (matches_any(&config_options[i], argc, argv)) {
            buf_clear(&value);
            config_format(cfg, &config_options[i], &value);
            reply_bulk_cstr(&r, config_options[i].name);
            reply_bulk(&r, value.data ? value.data : "", value.len);
        }
    }
    buf_free(&value);
}

/* Side effects of new values; 0, or -1 with the reason when the OS refuses one. */
static int config_takes_effect(server_t *s, const server_config_t *old, char *err,
                               size_t err_size) {
    if (s->config.maxclients > old->maxclients) {
        long long granted;
        if (server_fit_fd_limit(s, s->config.maxclients, &granted) < 0) {
            snprintf(err, err_size,
                     "The operating system is not able to handle the specified number of "
                     "clients, try with %lld",
                     granted);
            return -1;
        }
    }
    log_set_level((enum log_level)s->config.loglevel);
    return 0;
}

static void reply_config_set_failed(reply_t *r, const config_option_t *o, const char *why) {
    reply_errorf(r, "ERR CONFIG SET failed (possibly related to argument '%s') - %s", o->name, why);
}

/* First pass of CONFIG SET: every name known, settable, given once. Returns the index of the
 * first bad pair (*why says why), -1 when all are fine, -2 after replying an unknown name. */
static int config_set_check_names(reply_t *r, int pairs, const slice_t *argv,
                                  const config_option_t **opts, const char **why) {
    int bad = -1;
    for (int i = 0; i < pairs; i++) {
        slice_t name = argv[2 + 2 * i];
        opts[i] = config_find(name.ptr, name.len);
        if (!opts[i] && bad < 0) {
            reply_errorf(r, "ERR Unknown option or number of arguments for CONFIG SET - '%.*s'",
                         (int)(name.len > 128 ? 128 : name.len), name.ptr);
            return -2;
        }
        if (bad >= 0 || !opts[i]) {
            continue; /* as Redis: the first problem is the one reported */
        }
        if (!(opts[i]->flags & CONFIG_MUTABLE)) {
            *why = (opts[i]->flags & CONFIG_PROTECTED) ? "can't set protected config"
                                                       : "can't set immutable config";
            bad = i;
        }
        for (int j = 0; j < i && bad < 0; j++) {
            if (opts[j] == opts[i]) {
                *why = "duplicate parameter";
                bad = i;
            }
        }
    }
    return bad;
}

/* CONFIG SET name value [name value ...]: all or nothing, as Redis 7. */
void node_config_set(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    server_t *s = c->srv;
    int pairs = (argc - 2) / 2;
    if (argc % 2 != 0 || pairs > CONFIG_SET_PAIRS_MAX) {
        reply_error(&r, ERR_SYNTAX);
        return;
    }
    const config_option_t *opts[CONFIG_SET_PAIRS_MAX];
    const char *why = NULL;
    int bad = config_set_check_names(&r, pairs, argv, opts, &why);
    if (bad >= 0) {
        reply_config_set_failed(&r, opts[bad], why);
    }
    if (bad != -1) {
        return;
    }
    server_config_t next = s->config;
    char err[CONFIG_ERR_MAX];
    for (int i = 0; i < pairs; i++) {
        slice_t value = argv[3 + 2 * i];
        char text[CONFIG_STRING_MAX];
        if (value.len >= sizeof text) {
            reply_config_set_failed(&r, opts[i], "argument is too long");
            return;
        }
        memcpy(text, value.ptr, value.len);
        text[value.len] = '\0';
        if (config_set_option(&next, opts[i], text, err, sizeof err) < 0) {
            reply_config_set_failed(&r, opts[i], err);
            return;
        }
    }
    server_config_t old = s->config;
    s->config = next;
    if (config_takes_effect(s, &old, err, sizeof err) < 0) {
        s->config = old;
        reply_config_set_failed(&r, config_find("maxclients", 10), err);
        return;
    }
    reply_ok(&r);
}

void node_config_resetstat(client_t *c, int argc, const slice_t *argv) {
    server_stats_reset(c->srv);
    reply_t r = client_reply(c);
    reply_ok(&r);
}

void node_config_help(client_t *c, int argc, const slice_t *argv) {
    static const char *const lines[] = {
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        NULL,
    };
    reply_help(c, lines);
}

/* ---- INFO, TIME ---- */

void node_info(client_t *c, int argc, const slice_t *argv) {
    buf_t text;
    buf_init(&text);
    server_info(c->srv, argc - 1, argv + 1, &text);
    reply_t r = client_reply(c);
    reply_verbatim(&r, text.data ? text.data : "", text.len, "txt");
    buf_free(&text);
}

void node_time(client_t *c, int argc, const slice_t *argv) {
    int64_t us = time_wall_us();
    reply_t r = client_reply(c);
    reply_array(&r, 2);
    reply_bulk_ll(&r, us / 1000000);
    reply_bulk_ll(&r, us % 1000000);
}

/* ---- SAVE, BGSAVE, LASTSAVE, SHUTDOWN ---- */

static int snapshot(server_t *s, reply_t *r, int background) {
    if (!s->group) {
        reply_error(r, "ERR persistence is off: there is no log to snapshot");
        return -1;
    }
    server_commit(s); /* what this turn proposed is applied if it can be */
    int rc = repl_group_snapshot(s->group, background);
    if (rc == -EBUSY) {
        reply_error(r, "ERR Background save already in progress");
    } else if (rc < 0) {
        reply_errorf(r, "ERR snapshot failed: %s", strerror(-rc));
    }
    return rc;
}

void node_save(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    if (snapshot(c->srv, &r, 0) == 0) {
        reply_ok(&r);
    }
}

void node_bgsave(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    if (argc == 2 && !slice_eq_nocase(argv[1], "schedule")) {
        reply_error(&r, ERR_SYNTAX);
    } else if (argc > 2) {
        reply_error_arity(&r, "bgsave", 6);
    } else if (snapshot(c->srv, &r, 1) == 0) {
        reply_status(&r, "Background saving started");
    }
}

void node_lastsave(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    int64_t t = c->srv->lastsave_unix;
    if (server_persist(c->srv)) {
        persist_status_t st;
        persist_get_status(server_persist(c->srv), &st);
        if (st.last_save_unix > 0) {
            t = st.last_save_unix;
        }
    }
    reply_int(&r, t);
}

/* SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. The log is already durable; SAVE also writes a
 * snapshot so the next start replays nothing. No reply on success: the connection closes. */
void node_shutdown(client_t *c, int argc, const slice_t *argv) {
    reply_t r = client_reply(c);
    int save = 0, nosave = 0, abort_shutdown = 0;
    for (int i = 1; i < argc; i++) {
        if (slice_eq_nocase(argv[i], "save")) {
            save = 1;
        } else if (slice_eq_nocase(argv[i], "nosave")) {
            nosave = 1;
        } else if (slice_eq_nocase(argv[i], "abort")) {
            abort_shutdown = 1;
        } else if (!slice_eq_nocase(argv[i], "now") && !slice_eq_nocase(argv[i], "force")) {
            reply_error(&r, ERR_SYNTAX);
            return;
        }
    }
    if ((save && nosave) || (abort_shutdown && argc > 2)) {
        reply_error(&r, ERR_SYNTAX);
        return;
    }
    if (abort_shutdown) {
        reply_error(&r, "ERR No shutdown in progress.");
        return;
    }
    if (save && c->srv->group && snapshot(c->srv, &r, 0) < 0) {
        log_warning("server", "SHUTDOWN SAVE: the snapshot failed, not shutting down");
        return;
    }
    c->flags |= CLIENT_CLOSE_AFTER_REPLY;
    server_request_shutdown(c->srv, 0);
}
