/* timeutil: the clock reads of the node layer (cores never call these: time is their input). */
#ifndef POLIS_CORE_TIMEUTIL_H
#define POLIS_CORE_TIMEUTIL_H

#include <stdint.h>
#include <time.h>

/* Wall-clock milliseconds since the Unix epoch (expiry times, HLC physical part). */
static inline int64_t time_wall_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t time_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Monotonic milliseconds (timeouts, durations). */
static inline int64_t time_mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
