/* hlc: the node's logical clock, a hybrid logical clock (HLC).
 *
 * A stamp is one uint64: the high 48 bits are milliseconds since the Unix epoch, the low 16 bits
 * a counter. Stamps compare as plain integers. The clock obeys Lamport's rules on that integer:
 *   - a local event (a write) takes   max(last + 1, physical_ms << 16);
 *   - a received stamp r takes        max(last + 1, r + 1, physical_ms << 16);
 * so happened-before implies a smaller stamp, and stamps stay close to wall time, which makes
 * them readable as versions. Pure: the caller passes the physical time in; no clock is read here.
 * Monotonic across restarts because the node restores `last` from the largest stamp in its
 * snapshot and log (hlc_observe) before issuing any. */
#ifndef POLIS_CORE_HLC_H
#define POLIS_CORE_HLC_H

#include <stdint.h>

typedef uint64_t stamp_t;

#define HLC_LOGICAL_BITS 16

typedef struct hlc {
    stamp_t last; /* largest stamp issued or observed */
} hlc_t;

static inline stamp_t hlc_physical(int64_t physical_ms) {
    return physical_ms > 0 ? (stamp_t)physical_ms << HLC_LOGICAL_BITS : 0;
}

/* A stamp for a local event at physical time physical_ms. */
static inline stamp_t hlc_tick(hlc_t *clock, int64_t physical_ms) {
    stamp_t next = clock->last + 1;
    stamp_t wall = hlc_physical(physical_ms);
    clock->last = next > wall ? next : wall;
    return clock->last;
}

/* Lamport's receive rule: a stamp larger than both our clock and the received one. */
static inline stamp_t hlc_receive(hlc_t *clock, stamp_t received, int64_t physical_ms) {
    if (received > clock->last) {
        clock->last = received;
    }
    return hlc_tick(clock, physical_ms);
}

/* Moves the clock forward to at least `seen` without issuing a stamp (recovery, apply). */
static inline void hlc_observe(hlc_t *clock, stamp_t seen) {
    if (seen > clock->last) {
        clock->last = seen;
    }
}

static inline int64_t hlc_stamp_ms(stamp_t stamp) { return (int64_t)(stamp >> HLC_LOGICAL_BITS); }

#endif
