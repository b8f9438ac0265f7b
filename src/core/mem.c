/* mem: counted allocation (see mem.h). The counter is the one piece of process-wide state the
 * allocator needs; it is only touched by the event-loop thread and, atomically, by helpers. */
#include "core/mem.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static _Atomic size_t used_bytes;

static void *oom(size_t size) {
    fprintf(stderr, "polis: out of memory allocating %zu bytes\n", size);
    abort();
}

void *mem_alloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        return oom(size);
    }
    atomic_fetch_add_explicit(&used_bytes, malloc_usable_size(p), memory_order_relaxed);
    return p;
}

void *mem_calloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        return oom(count * size);
    }
    atomic_fetch_add_explicit(&used_bytes, malloc_usable_size(p), memory_order_relaxed);
    return p;
}

void *mem_realloc(void *p, size_t size) {
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = realloc(p, size ? size : 1);
    if (!q) {
        return oom(size);
    }
    atomic_fetch_sub_explicit(&used_bytes, old, memory_order_relaxed);
    atomic_fetch_add_explicit(&used_bytes, malloc_usable_size(q), memory_order_relaxed);
    return q;
}

void mem_free(void *p) {
    if (!p) {
        return;
    }
    atomic_fetch_sub_explicit(&used_bytes, malloc_usable_size(p), memory_order_relaxed);
    free(p);
}

char *mem_strdup(const char *s) { return mem_strndup(s, strlen(s)); }

char *mem_strndup(const char *s, size_t n) {
    char *p = mem_alloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

size_t mem_used(void) { return atomic_load_explicit(&used_bytes, memory_order_relaxed); }

size_t mem_block_size(const void *p) { return p ? malloc_usable_size((void *)p) : 0; }

#if MEM_CHUNK_IS_ALLOCATION
void *mem_chunk_alloc(void) { return mem_alloc(MEM_CHUNK_BYTES); }

void mem_chunk_free(void *p) { mem_free(p); }
#else
/* Chunks are carved from regions of CHUNK_REGION_BYTES, one mmap and one madvise each, so the
 * process keeps few mappings; regions are never unmapped. Free chunks form stacks linked through
 * their first bytes, the last one freed on top (the likeliest to be in cache). A chunk changes
 * hands once per 64 KiB of log, so the lock is never contended in practice. */
#define CHUNK_REGION_BYTES ((size_t)2 << 20)
#define CHUNK_LINK_BYTES ((size_t)4096) /* the page that keeps the link of a released chunk */

typedef struct chunk_link {
    struct chunk_link *next;
} chunk_link_t;

static pthread_mutex_t chunk_lock = PTHREAD_MUTEX_INITIALIZER;
static chunk_link_t *chunks_resident; /* free, pages kept */
static size_t chunks_resident_count;
static chunk_link_t *chunks_released; /* free, pages after the first given back */
static char *region_next;
static char *region_end;

static void *chunk_take(chunk_link_t **stack) {
    chunk_link_t *c = *stack;
    *stack = c->next;
    return c;
}

static void chunk_push(chunk_link_t **stack, void *p) {
    chunk_link_t *c = p;
    c->next = *stack;
    *stack = c;
}

void *mem_chunk_alloc(void) {
    pthread_mutex_lock(&chunk_lock);
    void *p;
    if (chunks_resident) {
        p = chunk_take(&chunks_resident);
        chunks_resident_count--;
    } else if (chunks_released) {
        p = chunk_take(&chunks_released);
    } else {
        if (region_next == region_end) {
            void *r = mmap(NULL, CHUNK_REGION_BYTES, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
            if (r == MAP_FAILED) {
                return oom(CHUNK_REGION_BYTES);
            }
            /* Refused only on a kernel without it: the pages are then shared with a fork child
             * as any others, which costs faults, not correctness. */
            (void)madvise(r, CHUNK_REGION_BYTES, MADV_DONTFORK);
            region_next = r;
            region_end = region_next + CHUNK_REGION_BYTES;
        }
        p = region_next;
        region_next += MEM_CHUNK_BYTES;
    }
    pthread_mutex_unlock(&chunk_lock);
    atomic_fetch_add_explicit(&used_bytes, MEM_CHUNK_BYTES, memory_order_relaxed);
    return p;
}

void mem_chunk_free(void *p) {
    if (!p) {
        return;
    }
    atomic_fetch_sub_explicit(&used_bytes, MEM_CHUNK_BYTES, memory_order_relaxed);
    pthread_mutex_lock(&chunk_lock);
    if (chunks_resident_count < MEM_CHUNK_KEEP) {
        chunk_push(&chunks_resident, p);
        chunks_resident_count++;
    } else {
        (void)madvise((char *)p + CHUNK_LINK_BYTES, MEM_CHUNK_BYTES - CHUNK_LINK_BYTES,
                      MADV_DONTNEED);
        chunk_push(&chunks_released, p);
    }
    pthread_mutex_unlock(&chunk_lock);
}
#endif

size_t mem_rss(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) {
        return 0;
    }
    unsigned long size_pages = 0, rss_pages = 0;
    int n = fscanf(f, "%lu %lu", &size_pages, &rss_pages);
    fclose(f);
    return n == 2 ? rss_pages * (size_t)sysconf(_SC_PAGESIZE) : 0;
}
