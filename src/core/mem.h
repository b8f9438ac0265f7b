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
/* Chunks: MEM_CHUNK_BYTES of memory that stays mapped and is never shared with a fork child
 * (MADV_DONTFORK), for buffers that are written once and dropped in order, such as the Raft
 * log's payload blocks. A freed chunk is kept for the next caller, so writing it again costs no
 * page fault: neither a fresh page's zero fill nor the write-protect fault every shared page
 * takes after a fork snapshot. A fork child must never touch a chunk: it is not mapped there.
 * Counted in mem_used while held; up to MEM_CHUNK_KEEP free chunks stay resident, those beyond
 * give their pages back to the system. */
#define MEM_CHUNK_BYTES ((size_t)64 << 10)
#define MEM_CHUNK_KEEP 1024
/* Under AddressSanitizer a chunk is a plain allocation, so its leaks and overruns are caught. */
#if defined(__SANITIZE_ADDRESS__)
#define MEM_CHUNK_IS_ALLOCATION 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEM_CHUNK_IS_ALLOCATION 1
#endif
#endif
#ifndef MEM_CHUNK_IS_ALLOCATION
#define MEM_CHUNK_IS_ALLOCATION 0
#endif
void *mem_chunk_alloc(void);
void mem_chunk_free(void *p);
/* Resident set size of the process, read from /proc (0 if unavailable). */
size_t mem_rss(void);

#endif
