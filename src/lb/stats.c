/* lb stats: log-linear latency histogram (see stats.h). */
#include "lb/stats.h"

#include <assert.h>

#define SUB (1u << LB_HIST_SUB_BITS)

size_t lb_histogram_bucket(uint64_t us) {
    if (us < SUB) {
        return (size_t)us;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(us); /* position of the top bit, >= 3 */
    size_t sub = (size_t)(us >> (e - LB_HIST_SUB_BITS)) & (SUB - 1);
    size_t bucket = (size_t)(e - LB_HIST_SUB_BITS + 1) * SUB + sub;
    return bucket < LB_HIST_BUCKETS ? bucket : LB_HIST_BUCKETS - 1;
}

uint64_t lb_histogram_bucket_max(size_t bucket) {
    assert(bucket < LB_HIST_BUCKETS);
    if (bucket < SUB) {
        return bucket;
    }
    unsigned e = (unsigned)(bucket / SUB) + LB_HIST_SUB_BITS - 1;
    uint64_t sub = bucket % SUB;
    uint64_t low = (SUB + sub) << (e - LB_HIST_SUB_BITS);
    return low + (1ull << (e - LB_HIST_SUB_BITS)) - 1;
}

void lb_histogram_record(lb_histogram_t *h, uint64_t us) {
    lb_counter_add(&h->buckets[lb_histogram_bucket(us)], 1);
    lb_counter_add(&h->count, 1);
    lb_counter_add(&h->sum_us, us);
}

void lb_histogram_merge(lb_histogram_sum_t *into, const lb_histogram_t *h) {
    for (size_t i = 0; i < LB_HIST_BUCKETS; i++) {
        into->buckets[i] += lb_counter_get(&h->buckets[i]);
    }
    into->count += lb_counter_get(&h->count);
    into->sum_us += lb_counter_get(&h->sum_us);
}

uint64_t lb_histogram_quantile(const lb_histogram_sum_t *h, double q) {
    assert(q > 0 && q <= 1);
    uint64_t total = 0;
    for (size_t i = 0; i < LB_HIST_BUCKETS; i++) {
        total += h->buckets[i];
    }
    if (total == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)(q * (double)total + 0.999999);
    uint64_t seen = 0;
    for (size_t i = 0; i < LB_HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            return lb_histogram_bucket_max(i);
        }
    }
    return lb_histogram_bucket_max(LB_HIST_BUCKETS - 1);
}
