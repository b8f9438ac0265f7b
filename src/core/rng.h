/* rng: splitmix64, the small deterministic PRNG every pure core takes its randomness from.
 * The state is an input (a seeded uint64_t the caller owns), so a run replays exactly. */
#ifndef POLIS_CORE_RNG_H
#define POLIS_CORE_RNG_H

#include <stdint.h>

static inline uint64_t rng_next(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* A uniform value in [0, bound) (bound > 0), by 128-bit multiply (no modulo bias worth noting
 * for bounds far below 2^64). */
static inline uint64_t rng_below(uint64_t *state, uint64_t bound) {
    return (uint64_t)(((__uint128_t)rng_next(state) * bound) >> 64);
}

#endif
