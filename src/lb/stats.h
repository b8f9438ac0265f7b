/* lb stats: counters and latency histograms of the load balancer.
 *
 * Every counter has one writer (the event-loop thread that owns it) and any number of readers
 * (the admin page sums all threads). A counter is a relaxed atomic updated by load+store, which
 * compiles to a plain add: no locked instruction on the request path, and no torn reads.
 *
 * Latencies go into a log-linear histogram (8 sub-buckets per power of two, so a percentile is
 * within 12.5% of the true value) of microseconds, from 1 us to about 10 days. */
#ifndef POLIS_LB_STATS_H
#define POLIS_LB_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef _Atomic uint64_t lb_counter_t;

static inline void lb_counter_add(lb_counter_t *c, uint64_t n) {
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t lb_counter_get(const lb_counter_t *c) {
    return atomic_load_explicit((lb_counter_t *)c, memory_order_relaxed);
}

#define LB_HIST_SUB_BITS 3
#define LB_HIST_BUCKETS 320

typedef struct lb_histogram {
    lb_counter_t buckets[LB_HIST_BUCKETS];
    lb_counter_t count;
    lb_counter_t sum_us;
} lb_histogram_t;

/* A plain copy, merged from the histograms of several threads. */
typedef struct lb_histogram_sum {
    uint64_t buckets[LB_HIST_BUCKETS];
    uint64_t count;
    uint64_t sum_us;
} lb_histogram_sum_t;

/* The bucket a value falls in. */
size_t lb_histogram_bucket(uint64_t us);
/* The largest value of a bucket (what a percentile reports). */
uint64_t lb_histogram_bucket_max(size_t bucket);
void lb_histogram_record(lb_histogram_t *h, uint64_t us);
void lb_histogram_merge(lb_histogram_sum_t *into, const lb_histogram_t *h);
/* The q-quantile (0 < q <= 1) in microseconds; 0 when empty. */
uint64_t lb_histogram_quantile(const lb_histogram_sum_t *h, double q);

#endif
