/* mem: counted allocation (see mem.h). The counter is the one piece of process-wide state the
 * allocator needs; it is only touched by the event-loop thread and, atomically, by helpers. */
#include "core/mem.h"

#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
