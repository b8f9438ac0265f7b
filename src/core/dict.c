/* dict: chained hash table with incremental rehashing and a reverse-binary scan cursor.
 * The design and its guarantees are described in dict.h. */
#include "core/dict.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/mem.h"
#include "core/rng.h"

/* ---- Hash ----
 * Multiply-fold: a 64x64->128 bit product whose halves are xored. Every input word is mixed
 * with a seed-derived value before it is multiplied, so an attacker who does not know the seed
 * cannot aim a word at zero (the one way to make a product ignore its other factor). */

#define HASH_K0 0xa0761d6478bd642fULL
#define HASH_K1 0xe7037ed1a0b428dbULL
#define HASH_K2 0x8ebc6af09c88c6e3ULL

static inline uint64_t fold_mul(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t read32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

uint64_t hash_bytes(uint64_t seed, const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t secret = seed ^ HASH_K0;
    uint64_t h = fold_mul(seed ^ HASH_K1, (uint64_t)n ^ HASH_K2);
    uint64_t a, b;
    if (n <= 16) {
        if (n >= 8) {
            a = read64(s);
            b = read64(s + n - 8);
        } else if (n >= 4) {
            a = read32(s);
            b = read32(s + n - 4);
        } else if (n > 0) {
            a = ((uint64_t)s[0] << 16) | ((uint64_t)s[n >> 1] << 8) | s[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t left = n;
        while (left > 16) {
            h = fold_mul(read64(s) ^ secret, read64(s + 8) ^ h);
            s += 16;
            left -= 16;
        }
        a = read64(s + left - 16);
        b = read64(s + left - 8);
    }
    uint64_t x = fold_mul(a ^ secret, b ^ h ^ HASH_K1);
    return fold_mul(x ^ HASH_K2, h ^ secret ^ (uint64_t)n);
}

/* ---- Table ---- */

void dict_init(dict_t *d, const dict_type_t *type, uint64_t seed) {
    assert(d);
    assert(type && type->key);
    memset(d, 0, sizeof *d);
    d->type = type;
    d->seed = seed;
}

static inline size_t bucket_of(const dict_t *d, int t, uint64_t hash) {
    return (size_t)hash & (d->size[t] - 1);
}

static inline uint64_t node_hash(const dict_t *d, const dict_node_t *node) {
    return dict_hash(d, d->type->key(node));
}

static void rehash_finish(dict_t *d) {
    mem_free(d->table[0]);
    d->table[0] = d->table[1];
    d->size[0] = d->size[1];
    d->table[1] = NULL;
    d->size[1] = 0;
    d->rehash_index = 0;
}

static void shrink_if_sparse(dict_t *d);

int dict_rehash_steps(dict_t *d, size_t buckets) {
    if (!dict_is_rehashing(d)) {
        shrink_if_sparse(d);
        if (!dict_is_rehashing(d)) {
            return 0;
        }
    }
    size_t empty_budget = buckets * DICT_REHASH_EMPTY_VISITS;
    while (buckets > 0 && d->rehash_index < d->size[0]) {
        dict_node_t *node = d->table[0][d->rehash_index];
        if (!node) {
            d->rehash_index++;
            if (--empty_budget == 0) {
                return 1;
            }
            continue;
        }
        while (node) {
            dict_node_t *next = node->next;
            size_t b = bucket_of(d, 1, node_hash(d, node));
            node->next = d->table[1][b];
            d->table[1][b] = node;
            node = next;
        }
        d->table[0][d->rehash_index++] = NULL;
        buckets--;
    }
    if (d->rehash_index >= d->size[0]) {
        rehash_finish(d);
        shrink_if_sparse(d); /* deletions during the move may call for a smaller size still */
    }
    return dict_is_rehashing(d);
}

/* Starts moving to a table of `size` buckets (or allocates the first table). */
static void resize_start(dict_t *d, size_t size) {
    assert(!dict_is_rehashing(d));
    assert(size >= DICT_SIZE_MIN);
    dict_node_t **table = mem_calloc(size, sizeof *table);
    if (!d->table[0]) {
        d->table[0] = table;
        d->size[0] = size;
        return;
    }
    d->table[1] = table;
    d->size[1] = size;
    d->rehash_index = 0;
}

static size_t size_for(size_t count) {
    size_t size = DICT_SIZE_MIN;
    while (size < count && size < DICT_SIZE_MAX) {
        size <<= 1;
    }
    return size;
}

void dict_clear(dict_t *d, void (*free_node)(void *arg, dict_node_t *node), void *arg) {
    assert(d);
    for (int t = 0; t < 2; t++) {
        for (size_t b = 0; free_node && b < d->size[t]; b++) {
            dict_node_t *node = d->table[t][b];
            while (node) {
                dict_node_t *next = node->next;
                free_node(arg, node);
                node = next;
            }
        }
        mem_free(d->table[t]);
        d->table[t] = NULL;
        d->size[t] = 0;
    }
    d->count = 0;
    d->rehash_index = 0;
}

dict_node_t **dict_find_link(const dict_t *d, slice_t key, uint64_t hash) {
    assert(d);
    if (d->count == 0) {
        return NULL;
    }
    for (int t = 0; t < 2; t++) {
        if (!d->table[t]) {
            break;
        }
        size_t b = bucket_of(d, t, hash);
        if (t == 0 && dict_is_rehashing(d) && b < d->rehash_index) {
            continue; /* already moved to table[1] */
        }
        dict_node_t **link = &d->table[t][b];
        while (*link) {
            if (slice_eq(d->type->key(*link), key)) {
                return link;
            }
            link = &(*link)->next;
        }
    }
    return NULL;
}

dict_node_t *dict_find(const dict_t *d, slice_t key, uint64_t hash) {
    dict_node_t **link = dict_find_link(d, key, hash);
    return link ? *link : NULL;
}

void dict_prefetch(const dict_t *d, uint64_t hash, bool chain) {
    for (int t = 0; t < 2 && d->table[t]; t++) {
        dict_node_t *const *slot = &d->table[t][bucket_of(d, t, hash)];
        if (!chain) {
            __builtin_prefetch(slot);
        } else if (*slot) {
            __builtin_prefetch(*slot);
        }
    }
}

void dict_add(dict_t *d, dict_node_t *node, uint64_t hash) {
    assert(d);
    assert(node);
    if (dict_is_rehashing(d)) {
        dict_rehash_steps(d, 1);
    }
    if (!d->table[0]) {
        resize_start(d, DICT_SIZE_MIN);
    } else if (!dict_is_rehashing(d) && d->count >= d->size[0] && d->size[0] < DICT_SIZE_MAX) {
        resize_start(d, d->size[0] * 2);
    }
    int t = dict_is_rehashing(d) ? 1 : 0;
    size_t b = bucket_of(d, t, hash);
    node->next = d->table[t][b];
    d->table[t][b] = node;
    d->count++;
}

/* Starts shrinking a table less than 1/8 full (not while a resize is in progress). */
static void shrink_if_sparse(dict_t *d) {
    if (dict_is_rehashing(d) || d->size[0] <= DICT_SIZE_MIN || d->count * 8 > d->size[0]) {
        return;
    }
    if (d->count == 0) {
        dict_clear(d, NULL, NULL);
        return;
    }
    resize_start(d, size_for(d->count));
}

dict_node_t *dict_unlink(dict_t *d, dict_node_t **link) {
    assert(d && link);
    assert(*link && d->count > 0);
    dict_node_t *node = *link;
    *link = node->next;
    node->next = NULL;
    d->count--;
    if (dict_is_rehashing(d)) {
        dict_rehash_steps(d, 1);
    } else if (d->count == 0) {
        dict_clear(d, NULL, NULL);
    } else {
        shrink_if_sparse(d);
    }
    return node;
}

/* ---- Scan ---- */

static inline uint64_t reverse_bits(uint64_t v) {
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((v & 0x0F0F0F0F0F0F0F0FULL) << 4);
    v = ((v >> 8) & 0x00FF00FF00FF00FFULL) | ((v & 0x00FF00FF00FF00FFULL) << 8);
    v = ((v >> 16) & 0x0000FFFF0000FFFFULL) | ((v & 0x0000FFFF0000FFFFULL) << 16);
    return (v >> 32) | (v << 32);
}

/* Increments the cursor's masked bits from the most significant end. */
static inline uint64_t cursor_next(uint64_t cursor, uint64_t mask) {
    cursor |= ~mask;
    cursor = reverse_bits(cursor);
    cursor++;
    return reverse_bits(cursor);
}

static void visit_bucket(const dict_node_t *node, dict_visit_cb *visit, void *arg) {
    while (node) {
        const dict_node_t *next = node->next;
        visit(arg, node);
        node = next;
    }
}

uint64_t dict_scan(const dict_t *d, uint64_t cursor, dict_visit_cb *visit, void *arg) {
    assert(d);
    assert(visit);
    if (d->count == 0) {
        return 0;
    }
    if (!dict_is_rehashing(d)) {
        uint64_t mask = d->size[0] - 1;
        visit_bucket(d->table[0][cursor & mask], visit, arg);
        return cursor_next(cursor, mask);
    }
    /* Visit the small table's bucket, then every bucket of the large table it expands to. */
    int small = d->size[0] <= d->size[1] ? 0 : 1;
    int large = 1 - small;
    uint64_t mask_small = d->size[small] - 1;
    uint64_t mask_large = d->size[large] - 1;
    visit_bucket(d->table[small][cursor & mask_small], visit, arg);
    do {
        visit_bucket(d->table[large][cursor & mask_large], visit, arg);
        cursor = cursor_next(cursor, mask_large);
    } while (cursor & (mask_small ^ mask_large));
    return cursor;
}

/* ---- Random ---- */

#define DICT_RANDOM_TRIES 64

static const dict_node_t *bucket_at(const dict_t *d, size_t index) {
    /* index runs over table[0] from rehash_index (earlier buckets are empty) then table[1] */
    if (index < d->size[0]) {
        return d->table[0][index];
    }
    return d->table[1][index - d->size[0]];
}

dict_node_t *dict_random(const dict_t *d, uint64_t *rng) {
    assert(d && rng);
    if (d->count == 0) {
        return NULL;
    }
    size_t first = dict_is_rehashing(d) ? d->rehash_index : 0;
    size_t span = d->size[0] + d->size[1] - first;
    size_t index = first;
    const dict_node_t *head = NULL;
    for (int i = 0; i < DICT_RANDOM_TRIES && !head; i++) {
        index = first + (size_t)rng_below(rng, span);
        head = bucket_at(d, index);
    }
    /* A sparse table: sweep on from the last index; count > 0 guarantees a hit. */
    for (size_t i = 0; i < span && !head; i++) {
        index = first + (index - first + 1) % span;
        head = bucket_at(d, index);
    }
    assert(head);
    size_t length = 0;
    for (const dict_node_t *n = head; n; n = n->next) {
        length++;
    }
    size_t pick = (size_t)rng_below(rng, length);
    while (pick--) {
        head = head->next;
    }
    return (dict_node_t *)head;
}

/* ---- Iteration and checking ---- */

void dict_iter_init(dict_iter_t *it, const dict_t *d) {
    assert(it && d);
    it->d = d;
    it->table = 0;
    it->bucket = 0;
    it->next = NULL;
}

const dict_node_t *dict_iter_next(dict_iter_t *it) {
    while (!it->next) {
        if (it->table > 1) {
            return NULL;
        }
        if (it->bucket >= it->d->size[it->table]) {
            it->table++;
            it->bucket = 0;
            continue;
        }
        it->next = it->d->table[it->table][it->bucket++];
    }
    const dict_node_t *node = it->next;
    it->next = node->next;
    return node;
}

int dict_check(const dict_t *d) {
    size_t seen = 0;
    for (int t = 0; t < 2; t++) {
        for (size_t b = 0; b < d->size[t]; b++) {
            for (const dict_node_t *n = d->table[t][b]; n; n = n->next) {
                if (bucket_of(d, t, node_hash(d, n)) != b) {
                    return -EINVAL;
                }
                if (t == 0 && dict_is_rehashing(d) && b < d->rehash_index) {
                    return -EINVAL;
                }
                seen++;
            }
        }
    }
    if (seen != d->count || (d->size[0] & (d->size[0] - 1)) != 0) {
        return -EINVAL;
    }
    return 0;
}
