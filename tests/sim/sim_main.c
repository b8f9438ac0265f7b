/* polis-sim: runs the deterministic Raft simulator over many seeds (sim.h).
 *
 *     polis-sim --seeds N [--first S]   seeds S .. S+N-1 (S defaults to 1), with progress
 *     polis-sim --seed S [--trace]      one seed, optionally printing its whole trace
 *
 * A failing seed prints why, the command that replays it, and the tail of its trace (the whole
 * trace and, for a linearizability failure, the client history go to build/sim-fail-SEED.*).
 * At the end of a campaign: seeds per second, simulated time per wall second, and how often each
 * Raft feature and fault was exercised; a campaign of 500 seeds or more fails if any was not. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim.h"

#define COVERAGE_MIN_SEEDS 500

typedef struct options {
    uint64_t first;
    uint64_t count;
    bool trace;
    bool quiet;
} options_t;

static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_u64(const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, options_t *o) {
    o->first = 1;
    o->count = 100;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--seeds") == 0 && has_value) {
            if (parse_u64(argv[++i], &o->count) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--first") == 0 && has_value) {
            if (parse_u64(argv[++i], &o->first) != 0) {
                return -1;
            }
        } else if (strcmp(a, "--seed") == 0 && has_value) {
            if (parse_u64(argv[++i], &o->first) != 0) {
                return -1;
            }
            o->count = 1;
        } else if (strcmp(a, "--trace") == 0) {
            o->trace = true;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = true;
        } else {
            return -1;
        }
    }
    return 0;
}

static void add_totals(sim_totals_t *to, const sim_totals_t *from) {
    const uint64_t *f = (const uint64_t *)from;
    uint64_t *t = (uint64_t *)to;
    for (size_t i = 0; i < sizeof *to / sizeof(uint64_t); i++) {
        t[i] += f[i];
    }
}

static void write_file(const char *path, const char *data, size_t len) {
    FILE *f = fopen(path, "w");
    if (f) {
        fwrite(data, 1, len, f);
        fclose(f);
    }
}

/* Reruns a failed seed with tracing into memory (it replays exactly), saves the trace and the
 * history, and prints the trace's tail. */
static void report_failure(uint64_t seed, const char *why) {
    printf("\nseed %" PRIu64 " FAILED %s\n", seed, why);
    sim_world_t w;
    sim_world_init(&w, seed, true, false);
    sim_world_run(&w);
    mkdir("build", 0755);
    char path[64];
    snprintf(path, sizeof path, "build/sim-fail-%" PRIu64 ".trace", seed);
    write_file(path, w.trace_buf.data, w.trace_buf.len);
    buf_t history;
    buf_init(&history);
    lincheck_write(w.history, &history);
    char hpath[64];
    snprintf(hpath, sizeof hpath, "build/sim-fail-%" PRIu64 ".history", seed);
    write_file(hpath, history.data, history.len);
    buf_free(&history);
    size_t start = w.trace_buf.len, lines = 0;
    while (start > 0 && lines <= SIM_TRACE_TAIL) {
        lines += w.trace_buf.data[--start] == '\n';
    }
    printf("last trace lines:\n%.*s", (int)(w.trace_buf.len - start), w.trace_buf.data + start);
    printf("full trace: %s  client history: %s (check it with build/polis-lincheck)\n", path,
           hpath);
    printf("replay: build/polis-sim --seed %" PRIu64 " --trace\n", seed);
    sim_world_free(&w);
}

static void print_progress(const options_t *o, uint64_t done, const sim_totals_t *t, double t0) {
    double wall = wall_seconds() - t0;
    printf("  seeds %" PRIu64 "/%" PRIu64 ", %" PRIu64 " failed, %.1f simulated hours, "
           "%.0fx real time, %.0f s\n",
           done, o->count, t->failures, (double)t->sim_us / 3.6e9,
           wall > 0 ? (double)t->sim_us / 1e6 / wall : 0.0, wall);
    fflush(stdout);
}

typedef struct coverage_row {
    const char *name;
    uint64_t value;
} coverage_row_t;

/* Prints what the campaign exercised; returns how many features were never exercised. */
static int print_coverage(const sim_totals_t *t, bool enforce) {
    const raft_stats_t *s = &t->raft;
    const coverage_row_t rows[] = {
        {"elections won", s->elections_won},
        {"pre-vote campaigns", s->pre_votes_started},
        {"votes ignored in a leader's lease", s->votes_ignored_in_lease},
        {"check-quorum step-downs", s->check_quorum_stepdowns},
        {"appends rejected (back-tracking)", s->appends_rejected},
        {"conflicting entries truncated", s->entries_truncated},
        {"pipeline retransmits", s->retransmits},
        {"snapshot chunks sent", s->snapshot_chunks_sent},
        {"snapshots installed from a leader", s->snapshots_installed},
        {"local snapshots (compactions)", t->snapshots_taken},
        {"learners added (committed)", t->conf_add_learner},
        {"voters added or promoted", t->conf_add_voter},
        {"members removed", t->conf_remove},
        {"leadership transfers completed", t->transfers_completed},
        {"leader messages sent before persisting", t->early_sends},
        {"external snapshot chunks", t->external_chunks},
        {"async worlds", t->async_worlds},
        {"async replicas reset and resynchronised", t->resets},
        {"ReadIndex answered (leader)", s->reads_served_leader},
        {"ReadIndex answered (forwarded)", s->reads_served_remote},
        {"linearizable reads (on followers)", t->follower_reads_ok},
        {"successful CAS", t->cas_ok},
        {"crashes", t->crashes},
        {"process pauses", t->pauses},
        {"crashes tearing a write", t->torn_writes},
        {"restarts", t->restarts},
        {"partitions (symmetric)", t->partitions},
        {"partitions (one-way)", t->one_way_partitions},
        {"messages dropped", t->dropped},
        {"messages duplicated", t->duplicated},
    };
    int missing = 0;
    printf("exercised (over all seeds):\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        printf("  %-38s %12" PRIu64 "%s\n", rows[i].name, rows[i].value,
               enforce && rows[i].value == 0 ? "   <- NEVER" : "");
        missing += rows[i].value == 0;
    }
    printf("  %-38s %12" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " unknown\n",
           "client operations", t->ops_ok, t->ops_fail, t->ops_unknown);
    printf("  %-38s %12" PRIu64 " (%" PRIu64 " dropped, %" PRIu64 " duplicated)\n", "messages",
           t->messages, t->dropped, t->duplicated);
    return enforce ? missing : 0;
}

static int run_one_traced(uint64_t seed) {
    sim_world_t w;
    sim_world_init(&w, seed, true, true);
    int rc = sim_world_run(&w);
    if (rc != 0) {
        printf("seed %" PRIu64 " FAILED %.*s\n", seed, (int)w.failure.len, w.failure.data);
        printf("replay: build/polis-sim --seed %" PRIu64 " --trace\n", seed);
    } else {
        printf("seed %" PRIu64 " passed: %.2f simulated seconds, %" PRIu64 " events\n", seed,
               (double)w.totals.sim_us / 1e6, w.totals.events);
    }
    sim_world_free(&w);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    options_t o = {0};
    if (parse_args(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: polis-sim [--seeds N] [--first S] | --seed S [--trace]\n");
        return 2;
    }
    if (o.trace) {
        return run_one_traced(o.first);
    }
    printf("simulating seeds %" PRIu64 "..%" PRIu64 "\n", o.first, o.first + o.count - 1);
    sim_totals_t total = {0};
    double t0 = wall_seconds(), last_print = t0;
    for (uint64_t i = 0; i < o.count; i++) {
        uint64_t seed = o.first + i;
        sim_world_t w;
        sim_world_init(&w, seed, false, false);
        int rc = sim_world_run(&w);
        w.totals.seeds = 1;
        w.totals.failures = rc != 0;
        add_totals(&total, &w.totals);
        char why[2048] = "";
        if (rc != 0) {
            snprintf(why, sizeof why, "%.*s", (int)w.failure.len, w.failure.data);
        }
        sim_world_free(&w);
        if (rc != 0) {
            report_failure(seed, why);
        }
        if (!o.quiet && (wall_seconds() - last_print > 5 || i + 1 == o.count)) {
            print_progress(&o, i + 1, &total, t0);
            last_print = wall_seconds();
        }
    }
    double wall = wall_seconds() - t0;
    int missing = print_coverage(&total, o.count >= COVERAGE_MIN_SEEDS);
    printf("%" PRIu64 " seeds, %" PRIu64 " failed, %.2f simulated hours in %.1f s wall "
           "(%.0f simulated seconds per wall second, %.0f seeds/s)\n",
           total.seeds, total.failures, (double)total.sim_us / 3.6e9, wall,
           (double)total.sim_us / 1e6 / wall, (double)total.seeds / wall);
    if (missing) {
        printf("coverage: %d features never exercised\n", missing);
    }
    return total.failures || missing ? 1 : 0;
}
