/* info: INFO's sections (server clients memory persistence stats cpu keyspace polis) and the
 * statistics behind them. Field names follow Redis where the meaning is the same; polis-only
 * fields are in the persistence (wal_*) and polis sections. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/timeutil.h"
#include "server/node.h"

static const char *const fsync_text[] = {"always", "everysec", "no"};

void server_stats_sample(server_t *s, int64_t now_ms) {
    server_stats_t *st = &s->stats;
    if (st->ops_sample_ms > 0 && now_ms > st->ops_sample_ms) {
        uint64_t ops = st->commands_processed - st->ops_sample_count;
        st->ops_samples[st->ops_sample_next] = ops * 1000 / (uint64_t)(now_ms - st->ops_sample_ms);
        st->ops_sample_next = (st->ops_sample_next + 1) % OPS_SAMPLES;
    }
    st->ops_sample_ms = now_ms;
    st->ops_sample_count = st->commands_processed;
    size_t used = server_used_memory(s);
    if (used > st->peak_memory) {
        st->peak_memory = used;
    }
}

void server_stats_reset(server_t *s) {
    size_t peak = s->stats.peak_memory;
    memset(&s->stats, 0, sizeof s->stats);
    s->stats.peak_memory = peak;
    keyspace_reset_stats(s->ks);
}

static void human_bytes(char *dst, size_t size, double n) {
    static const char *const units[] = {"B", "K", "M", "G", "T"};
    size_t u = 0;
    while (n >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        n /= 1024;
        u++;
    }
    snprintf(dst, size, u ? "%.2f%s" : "%.0f%s", n, units[u]);
}

static void section_server(server_t *s, buf_t *out) {
    struct utsname un;
    uname(&un);
    int64_t now_us = time_wall_us();
    int64_t uptime = (time_mono_ms() - s->start_mono_ms) / 1000;
    char exe[512] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    buf_printf(out,
               "# Server\r\nredis_version:%s\r\npolis_version:%s\r\nredis_mode:standalone\r\n"
               "os:%s %s %s\r\narch_bits:%d\r\nmultiplexing_api:epoll\r\nlibuv_version:%s\r\n"
               "process_id:%d\r\nrun_id:%s\r\ntcp_port:%lld\r\nserver_time_usec:%lld\r\n"
               "uptime_in_seconds:%lld\r\nuptime_in_days:%lld\r\nhz:%d\r\nexecutable:%s\r\n"
               "config_file:%s\r\n",
               REDIS_COMPAT_VERSION, POLIS_VERSION, un.sysname, un.release, un.machine,
               (int)(sizeof(void *) * 8), uv_version_string(), (int)getpid(), s->run_id,
               s->config.port, (long long)now_us, (long long)uptime, (long long)uptime / 86400,
               1000 / CRON_INTERVAL_MS, exe, s->config_file);
}

static void section_clients(server_t *s, buf_t *out) {
    size_t waiting = 0;
    for (client_t *c = s->clients; c; c = c->next) {
        waiting += (c->flags & CLIENT_WAITING) != 0;
    }
    buf_printf(out,
               "# Clients\r\nconnected_clients:%zu\r\nmaxclients:%lld\r\nblocked_clients:0\r\n"
               "clients_waiting_for_commit:%zu\r\n",
               s->client_count, s->config.maxclients, waiting);
}

static void section_memory(server_t *s, buf_t *out) {
    size_t used = server_used_memory(s), rss = mem_rss();
    if (used > s->stats.peak_memory) {
        s->stats.peak_memory = used;
    }
    char h_used[32], h_rss[32], h_peak[32], h_max[32];
    human_bytes(h_used, sizeof h_used, (double)used);
    human_bytes(h_rss, sizeof h_rss, (double)rss);
    human_bytes(h_peak, sizeof h_peak, (double)s->stats.peak_memory);
    human_bytes(h_max, sizeof h_max, (double)s->config.maxmemory);
    buf_printf(out,
               "# Memory\r\nused_memory:%zu\r\nused_memory_human:%s\r\nused_memory_rss:%zu\r\n"
               "used_memory_rss_human:%s\r\nused_memory_peak:%zu\r\nused_memory_peak_human:%s\r\n"
               "maxmemory:%lld\r\nmaxmemory_human:%s\r\nmaxmemory_policy:%s\r\n"
               "mem_fragmentation_ratio:%.2f\r\nmem_allocator:libc\r\n",
               used, h_used, rss, h_rss, s->stats.peak_memory, h_peak, s->config.maxmemory, h_max,
               config_find("maxmemory-policy", 16)->names[s->config.maxmemory_policy],
               used ? (double)rss / (double)used : 0.0);
}

static void section_persistence(server_t *s, buf_t *out) {
    persist_status_t st = {0};
    persist_t *p = server_persist(s);
    if (p) {
        persist_get_status(p, &st);
    }
    const char *failure = server_write_failure(s);
    buf_printf(
        out,
        "# Persistence\r\nloading:0\r\npersistence:%s\r\nrdb_changes_since_last_save:%llu\r\n"
        "rdb_bgsave_in_progress:%d\r\nrdb_last_save_time:%lld\r\n"
        "rdb_last_bgsave_status:%s\r\naof_enabled:%d\r\naof_last_write_status:%s\r\n",
        p ? "on" : "off", (unsigned long long)(st.last_index - st.snapshot_index),
        st.snapshot_in_progress,
        (long long)(st.last_save_unix ? st.last_save_unix : s->lastsave_unix),
        (!p || st.last_snapshot_ok || !st.snapshot_count) ? "ok" : "err", p != NULL,
        failure ? "err" : "ok");
    if (!p) {
        return;
    }
    buf_printf(out,
               "wal_fsync:%s\r\nwal_last_index:%llu\r\nwal_snapshot_index:%llu\r\n"
               "wal_log_bytes:%llu\r\nwal_segments:%llu\r\nwal_fsyncs:%llu\r\n"
               "wal_snapshots:%llu\r\nwal_records_recovered:%llu\r\nwal_torn_bytes_cut:%llu\r\n"
               "wal_write_status:%s\r\nwal_failure:%s\r\n",
               fsync_text[s->config.fsync], (unsigned long long)st.last_index,
               (unsigned long long)st.snapshot_index, (unsigned long long)st.log_bytes,
               (unsigned long long)st.segment_count, (unsigned long long)st.fsync_count,
               (unsigned long long)st.snapshot_count, (unsigned long long)st.records_recovered,
               (unsigned long long)st.torn_bytes_cut, failure ? "failed" : "ok",
               failure ? failure : "");
}

static void section_stats(server_t *s, buf_t *out) {
    const server_stats_t *st = &s->stats;
    uint64_t ops = 0;
    for (size_t i = 0; i < OPS_SAMPLES; i++) {
        ops += st->ops_samples[i];
    }
    keyspace_stats_t ks;
    keyspace_get_stats(s->ks, &ks);
    buf_printf(out,
               "# Stats\r\ntotal_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
               "instantaneous_ops_per_sec:%llu\r\ntotal_net_input_bytes:%llu\r\n"
               "total_net_output_bytes:%llu\r\nrejected_connections:%llu\r\n"
               "expired_keys:%llu\r\nevicted_keys:%llu\r\nkeyspace_hits:%llu\r\n"
               "keyspace_misses:%llu\r\n",
               (unsigned long long)st->connections_received,
               (unsigned long long)st->commands_processed, (unsigned long long)(ops / OPS_SAMPLES),
               (unsigned long long)st->net_input_bytes, (unsigned long long)st->net_output_bytes,
               (unsigned long long)st->rejected_connections, (unsigned long long)ks.expired_keys,
               (unsigned long long)st->evicted_keys, (unsigned long long)ks.hits,
               (unsigned long long)ks.misses);
}

static void section_cpu(server_t *s, buf_t *out) {
    (void)s;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    buf_printf(out, "# CPU\r\nused_cpu_sys:%ld.%06ld\r\nused_cpu_user:%ld.%06ld\r\n",
               (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, (long)ru.ru_utime.tv_sec,
               (long)ru.ru_utime.tv_usec);
}

static void section_keyspace(server_t *s, buf_t *out) {
    buf_append_str(out, "# Keyspace\r\n");
    size_t keys = keyspace_key_count(s->ks);
    if (keys > 0) {
        buf_printf(out, "db0:keys=%zu,expires=%zu,avg_ttl=%lld\r\n", keys,
                   keyspace_expires_count(s->ks),
                   (long long)keyspace_avg_ttl_ms(s->ks, time_wall_ms()));
    }
}

static void section_polis(server_t *s, buf_t *out) {
    const server_stats_t *st = &s->stats;
    buf_printf(out,
               "# Polis\r\npolis_version:%s\r\nhlc_last:%llu\r\nhlc_last_ms:%lld\r\n"
               "group_commits:%llu\r\ngroup_commit_records:%llu\r\n"
               "group_commit_max_batch:%llu\r\npending_records:%zu\r\n",
               POLIS_VERSION, (unsigned long long)s->clock.last,
               (long long)hlc_stamp_ms(s->clock.last), (unsigned long long)st->commits,
               (unsigned long long)st->commit_records, (unsigned long long)st->commit_max_batch,
               s->pending_len);
}

static void section_replication(server_t *s, buf_t *out) {
    buf_append_str(out, "# Replication\r\n");
    if (!s->group) {
        buf_printf(out, "role:leader\r\nnode_id:%llu\r\nreplication:off\r\n",
                   (unsigned long long)s->node_id);
        return;
    }
    repl_status_t st;
    repl_group_status(s->group, &st);
    buf_printf(out,
               "role:%s\r\nnode_id:%llu\r\nreplication:%s\r\nleader_id:%llu\r\n"
               "leader_address:%s\r\nraft_term:%llu\r\ncommit_index:%llu\r\n"
               "applied_index:%llu\r\nlast_index:%llu\r\nsnapshot_index:%llu\r\n"
               "voters:%u\r\nlearners:%u\r\n",
               replica_role_name(s), (unsigned long long)s->node_id,
               s->config.replication == REPLICATION_ASYNC ? "async" : "sync",
               (unsigned long long)st.leader,
               st.leader ? replica_client_address(s, st.leader) : "", (unsigned long long)st.term,
               (unsigned long long)st.commit, (unsigned long long)st.applied,
               (unsigned long long)st.last_index, (unsigned long long)st.snapshot_index,
               st.conf.voters_count, st.conf.learners_count);
    member_view_t views[RAFT_MEMBERS_MAX];
    size_t n = replica_members(s, views, RAFT_MEMBERS_MAX);
    for (size_t i = 0; i < n; i++) {
        const member_view_t *v = &views[i];
        buf_printf(out,
                   "member%llu:id=%llu,address=%s,client=%s,role=%s,state=%s,match=%lld,"
                   "lag=%lld,connected=%d\r\n",
                   (unsigned long long)v->id, (unsigned long long)v->id, v->address, v->client,
                   v->voter ? "voter" : "learner", v->state, v->match, v->lag, v->connected);
    }
    buf_printf(out,
               "forwarded_clients:%zu\r\nelections_won:%llu\r\nsnapshots_installed:%llu\r\n"
               "leader_transfers:%llu\r\nresyncs:%llu\r\nreplication_log_bytes:%llu\r\n"
               "group_status:%s\r\n",
               s->virtual_count, (unsigned long long)st.stats.elections_won,
               (unsigned long long)st.stats.snapshots_installed,
               (unsigned long long)st.stats.transfers_timeout_now, (unsigned long long)st.resets,
               (unsigned long long)st.log_bytes, st.failure ? st.failure : "ok");
}

typedef struct info_section {
    const char *name;
    void (*fn)(server_t *s, buf_t *out);
} info_section_t;

static const info_section_t sections[] = {
    {"server", section_server},           {"clients", section_clients}, {"memory", section_memory},
    {"persistence", section_persistence}, {"stats", section_stats},     {"cpu", section_cpu},
    {"keyspace", section_keyspace},       {"polis", section_polis},
    {"replication", section_replication},
};

static int wanted(const char *name, int argc, const slice_t *argv) {
    if (argc == 0) {
        return 1;
    }
    for (int i = 0; i < argc; i++) {
        if (slice_eq_nocase(argv[i], name) || slice_eq_nocase(argv[i], "all") ||
            slice_eq_nocase(argv[i], "everything") || slice_eq_nocase(argv[i], "default")) {
            return 1;
        }
    }
    return 0;
}

void server_info(server_t *s, int argc, const slice_t *argv, buf_t *out) {
    size_t n = sizeof sections / sizeof sections[0];
    for (size_t i = 0; i < n; i++) {
        if (wanted(sections[i].name, argc, argv)) {
            if (out->len) {
                buf_append_str(out, "\r\n");
            }
            sections[i].fn(s, out);
        }
    }
}
