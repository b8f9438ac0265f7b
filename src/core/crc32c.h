/* crc32c: the CRC-32C (Castagnoli) checksum that protects every log record, log segment header,
 * hard state slot and snapshot file.
 *
 * Two implementations give identical results: the SSE4.2 crc32 instruction when the CPU has it
 * (chosen at each call by a cheap CPU-feature test, so there is no mutable global), and a
 * byte-wise table otherwise. Values are the standard ones: crc32c("123456789") = 0xe3069283. */
#ifndef POLIS_CORE_CRC32C_H
#define POLIS_CORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (the result of an earlier call over the preceding bytes, or 0 to start) by n bytes:
 * crc32c_extend(crc32c_extend(0, a, na), b, nb) == crc32c over a then b. */
uint32_t crc32c_extend(uint32_t crc, const void *data, size_t n);

static inline uint32_t crc32c(const void *data, size_t n) { return crc32c_extend(0, data, n); }

/* The two paths, for tests and benchmarks. crc32c_hw must be called only when
 * crc32c_hw_available() returns 1. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n);
uint32_t crc32c_hw(uint32_t crc, const void *data, size_t n);
int crc32c_hw_available(void);

#endif
