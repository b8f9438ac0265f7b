/* mem: the allocator every polis module uses, so used_memory (INFO, maxmemory) is what the
 * process really holds: each call adds or subtracts malloc_usable_size of the block.
 * Out of memory aborts with a log line: a node that cannot allocate cannot keep its promises. */
#ifndef POLIS_CORE_MEM_H
#define POLIS_CORE_MEM_H

#include <stddef.h>

void *mem_alloc(size_t size);
void *mem_calloc(size_t count, size_t size);
void *mem_realloc(void *p, size_t size);
void mem_free(void *p);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
/* Bytes currently held through this allocator. */
size_t mem_used(void);
/* Bytes the block at p really occupies (0 for NULL). */
size_t mem_block_size(const void *p);
/* Resident set size of the process, read from /proc (0 if unavailable). */
size_t mem_rss(void);

#endif
