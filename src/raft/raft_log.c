/* raft_log: the in-memory Raft log, entries since the last compaction (see raft_int.h).
 *
 * One contiguous array so a Ready can hand out a run of entries as one pointer. Appends are
 * amortised O(1): the live region is slid down when the free space is at the front, the array
 * doubles when it is full. Payloads are copied into 64 KiB blocks (no allocation per entry);
 * compaction frees the blocks it emptied, truncation those after the cut. Nothing here is
 * proportional to the whole log except freeing it. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

void raft_log_init(raft_log_t *log) {
    memset(log, 0, sizeof *log);
}

/* Forgets entries [from, to) of the live region (their payload bytes stay in their blocks): only
 * the byte count changes. The slots are left as they are, never read again, so a compaction of
 * many entries reads them once and writes none (no dirtied cache lines, no copy-on-write faults
 * while a snapshot child shares the pages). */
static void free_range(raft_log_t *log, size_t from, size_t to) {
    uint64_t bytes = 0;
    for (size_t i = from; i < to; i++) {
        bytes += log->entries[log->first + i].len;
    }
    assert(bytes <= log->bytes);
    log->bytes -= bytes;
}

static raft_log_block_t *block_at(const raft_log_t *log, size_t i) {
    return &log->blocks[log->blocks_first + i];
}

/* A block of the standard size is a chunk (see mem.h): no fault when it is written again, none
 * after a fork snapshot; a larger payload has an allocation of its own. */
static char *block_alloc(size_t cap) {
    return cap == RAFT_LOG_BLOCK_BYTES ? mem_chunk_alloc() : mem_alloc(cap);
}

static void block_free(raft_log_block_t *b) {
    if (b->cap == RAFT_LOG_BLOCK_BYTES) {
        mem_chunk_free(b->mem);
    } else {
        mem_free(b->mem);
    }
}

static void blocks_drop_front(raft_log_t *log, size_t n) {
    for (size_t i = 0; i < n; i++) {
        block_free(block_at(log, i));
    }
    log->blocks_first += n;
    log->blocks_count -= n;
    if (log->blocks_count == 0) {
        log->blocks_first = 0;
    }
}

static void blocks_drop_back(raft_log_t *log, size_t n) {
    for (size_t i = log->blocks_count - n; i < log->blocks_count; i++) {
        block_free(block_at(log, i));
    }
    log->blocks_count -= n;
    if (log->blocks_count == 0) {
        log->blocks_first = 0;
    }
}

/* Room for len more payload bytes at the tail block. */
static raft_log_block_t *block_reserve(raft_log_t *log, size_t len) {
    if (log->blocks_count > 0) {
        raft_log_block_t *tail = block_at(log, log->blocks_count - 1);
        if (tail->cap - tail->used >= len) {
            return tail;
        }
    }
    if (log->blocks_first + log->blocks_count == log->blocks_cap) {
        if (log->blocks_first > 0) {
            memmove(log->blocks, log->blocks + log->blocks_first,
                    log->blocks_count * sizeof *log->blocks);
            log->blocks_first = 0;
        } else {
            log->blocks_cap = log->blocks_cap ? log->blocks_cap * 2 : 16;
            log->blocks = mem_realloc(log->blocks, log->blocks_cap * sizeof *log->blocks);
        }
    }
    size_t cap = len > RAFT_LOG_BLOCK_BYTES ? len : RAFT_LOG_BLOCK_BYTES;
    raft_log_block_t *b = &log->blocks[log->blocks_first + log->blocks_count++];
    *b = (raft_log_block_t){block_alloc(cap), 0, cap, 0};
    return b;
}

void raft_log_free(raft_log_t *log) {
    free_range(log, 0, log->count);
    blocks_drop_front(log, log->blocks_count);
    mem_free(log->blocks);
    mem_free(log->entries);
    raft_log_init(log);
}

raft_entry_t *raft_log_entry(const raft_log_t *log, uint64_t index) {
    if (index <= log->offset || index > raft_log_last(log)) {
        return NULL;
    }
    return &log->entries[log->first + (size_t)(index - log->offset - 1)];
}

uint64_t raft_log_term(const raft_log_t *log, uint64_t index) {
    if (index == log->offset) {
        return log->offset_term;
    }
    const raft_entry_t *e = raft_log_entry(log, index);
    return e ? e->term : 0;
}

uint64_t raft_log_last_term(const raft_log_t *log) {
    return raft_log_term(log, raft_log_last(log));
}

static void make_room(raft_log_t *log) {
    if (log->first + log->count < log->cap) {
        return;
    }
    if (log->first > 0 && log->first >= log->cap / 2) {
        memmove(log->entries, log->entries + log->first, log->count * sizeof *log->entries);
        log->first = 0;
        return;
    }
    size_t cap = log->cap ? log->cap * 2 : 64;
    log->entries = mem_realloc(log->entries, cap * sizeof *log->entries);
    log->cap = cap;
}

void raft_log_append_copy(raft_log_t *log, uint64_t term, uint32_t type, const void *data,
                          size_t len) {
    assert(term >= raft_log_last_term(log));
    assert(len <= RAFT_ENTRY_BYTES_MAX);
    make_room(log);
    raft_entry_t *e = &log->entries[log->first + log->count];
    e->term = term;
    e->index = raft_log_last(log) + 1;
    e->type = type;
    e->len = (uint32_t)len;
    e->data = NULL;
    if (len > 0) {
        raft_log_block_t *b = block_reserve(log, len);
        e->data = b->mem + b->used;
        memcpy(e->data, data, len);
        b->used += len;
        b->last = e->index;
    }
    log->count++;
    log->uncommitted_bytes += len;
    log->bytes += len;
}

void raft_log_truncate(raft_log_t *log, uint64_t index) {
    assert(index > log->commit);
    assert(index > log->offset);
    uint64_t last = raft_log_last(log);
    if (index > last) {
        return;
    }
    size_t keep = (size_t)(index - log->offset - 1);
    for (size_t i = keep; i < log->count; i++) {
        log->uncommitted_bytes -= log->entries[log->first + i].len;
    }
    free_range(log, keep, log->count);
    log->count = keep;
    /* Blocks after the one holding the last kept payload go; that one keeps the dropped bytes
     * (a little space, until compaction frees it). */
    const char *kept = NULL;
    for (size_t i = keep; i > 0 && !kept; i--) {
        kept = log->entries[log->first + i - 1].data;
    }
    size_t drop = 0;
    while (drop < log->blocks_count) {
        const raft_log_block_t *b = block_at(log, log->blocks_count - 1 - drop);
        uintptr_t at = (uintptr_t)kept, start = (uintptr_t)b->mem;
        if (kept && at >= start && at < start + b->cap) {
            break;
        }
        drop++;
    }
    blocks_drop_back(log, drop);
    if (log->blocks_count > 0 && block_at(log, log->blocks_count - 1)->last >= index) {
        block_at(log, log->blocks_count - 1)->last = index - 1;
    }
    if (log->stable >= index) {
        log->stable = index - 1;
    }
}

void raft_log_compact(raft_log_t *log, uint64_t index) {
    assert(index <= log->commit);
    if (index <= log->offset) {
        return;
    }
    assert(index <= raft_log_last(log));
    uint64_t term = raft_log_term(log, index);
    size_t drop = (size_t)(index - log->offset);
    free_range(log, 0, drop);
    log->first += drop;
    log->count -= drop;
    if (log->count == 0) {
        log->first = 0;
    }
    log->offset = index;
    log->offset_term = term;
    size_t blocks = 0;
    while (blocks < log->blocks_count && block_at(log, blocks)->last <= index &&
           (blocks + 1 < log->blocks_count || log->count == 0)) {
        blocks++; /* every payload in it belongs to a compacted entry */
    }
    blocks_drop_front(log, blocks);
}

void raft_log_reset(raft_log_t *log, uint64_t index, uint64_t term) {
    free_range(log, 0, log->count);
    blocks_drop_front(log, log->blocks_count);
    log->first = 0;
    log->count = 0;
    log->offset = index;
    log->offset_term = term;
    log->uncommitted_bytes = 0;
    log->stable = index;
    if (log->commit < index) {
        log->commit = index;
    }
}

void raft_log_commit_to(raft_log_t *log, uint64_t index) {
    assert(index <= raft_log_last(log));
    if (index <= log->commit) {
        return;
    }
    uint64_t from = log->commit + 1 > log->offset + 1 ? log->commit + 1 : log->offset + 1;
    for (uint64_t i = from; i <= index; i++) {
        log->uncommitted_bytes -= raft_log_entry(log, i)->len;
    }
    log->commit = index;
}

uint64_t raft_log_find_conflict_hint(const raft_log_t *log, uint64_t index, uint64_t term) {
    uint64_t i = index < raft_log_last(log) ? index : raft_log_last(log);
    while (i > log->offset && raft_log_term(log, i) > term) {
        i--;
    }
    return i;
}
