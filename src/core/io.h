/* io: the byte-stream callbacks through which a core serialises itself without doing I/O.
 * A snapshot writer or reader is handed to the keyspace as one of these plus its context. */
#ifndef POLIS_CORE_IO_H
#define POLIS_CORE_IO_H

#include <stddef.h>

/* Writes all n bytes; returns 0, or a negative errno-style code (the dump then stops). */
typedef int io_write_fn(void *ctx, const void *p, size_t n);
/* Reads exactly n bytes; returns 0, or a negative code (short read or corrupt source). */
typedef int io_read_fn(void *ctx, void *p, size_t n);

#endif
