/* clientmap: clients by key, for the replies that come back over the cluster bus: this node's
 * clients under (0, id), the virtual clients that stand for a follower's clients under (origin
 * node, client id on the origin). Open addressing with linear probing, grown at half full,
 * deletion by backward shift (no tombstones), so every operation touches a few slots. */
#include <assert.h>
#include <string.h>

#include "core/mem.h"
#include "server/node.h"

struct client_map_slot {
    uint64_t k1, k2;
    client_t *c; /* NULL: empty */
};

static size_t slot_of(const client_map_t *m, uint64_t k1, uint64_t k2) {
    uint64_t h = (k1 * 0x9e3779b97f4a7c15ull) ^ (k2 + 0x632be59bd9b4e019ull);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & (m->cap - 1);
}

static void grow(client_map_t *m) {
    client_map_t bigger = {mem_calloc(m->cap ? m->cap * 2 : 64, sizeof *bigger.slots),
                           m->cap ? m->cap * 2 : 64, 0};
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].c) {
            client_map_put(&bigger, m->slots[i].k1, m->slots[i].k2, m->slots[i].c);
        }
    }
    mem_free(m->slots);
    *m = bigger;
}

void client_map_put(client_map_t *m, uint64_t k1, uint64_t k2, client_t *c) {
    assert(c);
    if ((m->count + 1) * 2 > m->cap) {
        grow(m);
    }
    size_t i = slot_of(m, k1, k2);
    while (m->slots[i].c && (m->slots[i].k1 != k1 || m->slots[i].k2 != k2)) {
        i = (i + 1) & (m->cap - 1);
    }
    if (!m->slots[i].c) {
        m->count++;
    }
    m->slots[i] = (struct client_map_slot){k1, k2, c};
}

client_t *client_map_get(const client_map_t *m, uint64_t k1, uint64_t k2) {
    if (m->count == 0) {
        return NULL;
    }
    /* At most half full: an empty slot ends every probe sequence. */
    for (size_t i = slot_of(m, k1, k2); m->slots[i].c; i = (i + 1) & (m->cap - 1)) {
        if (m->slots[i].k1 == k1 && m->slots[i].k2 == k2) {
            return m->slots[i].c;
        }
    }
    return NULL;
}

void client_map_del(client_map_t *m, uint64_t k1, uint64_t k2) {
    if (m->count == 0) {
        return;
    }
    size_t mask = m->cap - 1, i = slot_of(m, k1, k2);
    while (m->slots[i].c && (m->slots[i].k1 != k1 || m->slots[i].k2 != k2)) {
        i = (i + 1) & mask;
    }
    if (!m->slots[i].c) {
        return;
    }
    m->slots[i].c = NULL;
    m->count--;
    /* Backward shift: move up every later entry of the run whose home is not between. */
    for (size_t j = (i + 1) & mask; m->slots[j].c; j = (j + 1) & mask) {
        size_t home = slot_of(m, m->slots[j].k1, m->slots[j].k2);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = m->slots[j];
            m->slots[j].c = NULL;
            i = j;
        }
    }
}

void client_map_free(client_map_t *m) {
    mem_free(m->slots);
    memset(m, 0, sizeof *m);
}
