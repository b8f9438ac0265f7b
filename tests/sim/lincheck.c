/* lincheck: the linearizability checker (see lincheck.h for the model and the file format).
 *
 * Per key, the search walks a doubly linked list of call and return events sorted by time
 * (calls before returns at equal times, so touching intervals count as concurrent). Taking a
 * call linearizes its operation if the register allows it and the resulting (linearized set,
 * value) has not been seen; the operation's two events are then lifted out of the list. Meeting
 * a return means an operation that had to be linearized by then was not: undo the last choice.
 * The history is linearizable when every operation with a known outcome is placed; operations
 * of unknown outcome never have to be (their return is at the end of time). */
#include "lincheck.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

#define NIL_VALUE 0u
#define TIME_END INT64_MAX

typedef struct op {
    uint32_t process; /* interned strings */
    uint32_t key;
    uint32_t arg1;
    uint32_t arg2;
    uint32_t result; /* read: the value; cas: 1 swapped, 0 not */
    uint8_t kind;
    uint8_t outcome;
    int64_t invoke;
    int64_t complete;
} op_t;

typedef struct strtab {
    char **strings;
    uint32_t count;
    uint32_t cap;
    uint32_t *slots; /* open addressing: string id + 1, 0 empty */
    uint32_t slots_cap;
} strtab_t;

struct lincheck {
    op_t *ops;
    size_t count;
    size_t cap;
    strtab_t strings; /* id 0 is "nil" */
};

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ s[i]) * 0x100000001b3ull;
    }
    return h;
}

static uint32_t strtab_intern(strtab_t *t, const char *s) {
    if (t->count * 2 + 2 > t->slots_cap) {
        uint32_t cap = t->slots_cap ? t->slots_cap * 2 : 256;
        uint32_t *slots = mem_calloc(cap, sizeof *slots);
        for (uint32_t i = 0; i < t->slots_cap; i++) {
            if (t->slots[i]) {
                const char *old = t->strings[t->slots[i] - 1];
                uint32_t j = (uint32_t)hash_bytes(old, strlen(old), 0xcbf29ce484222325ull);
                while (slots[j & (cap - 1)]) {
                    j++;
                }
                slots[j & (cap - 1)] = t->slots[i];
            }
        }
        mem_free(t->slots);
        t->slots = slots;
        t->slots_cap = cap;
    }
    uint32_t j = (uint32_t)hash_bytes(s, strlen(s), 0xcbf29ce484222325ull);
    for (;; j++) {
        uint32_t slot = t->slots[j & (t->slots_cap - 1)];
        if (slot == 0) {
            break;
        }
        if (strcmp(t->strings[slot - 1], s) == 0) {
            return slot - 1;
        }
    }
    if (t->count == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->strings = mem_realloc(t->strings, t->cap * sizeof *t->strings);
    }
    t->strings[t->count] = mem_strdup(s);
    t->slots[j & (t->slots_cap - 1)] = ++t->count;
    return t->count - 1;
}

lincheck_t *lincheck_create(void) {
    lincheck_t *lc = mem_calloc(1, sizeof *lc);
    uint32_t nil = strtab_intern(&lc->strings, "nil");
    assert(nil == NIL_VALUE);
    (void)nil;
    return lc;
}

void lincheck_destroy(lincheck_t *lc) {
    if (!lc) {
        return;
    }
    for (uint32_t i = 0; i < lc->strings.count; i++) {
        mem_free(lc->strings.strings[i]);
    }
    mem_free(lc->strings.strings);
    mem_free(lc->strings.slots);
    mem_free(lc->ops);
    mem_free(lc);
}

size_t lincheck_count(const lincheck_t *lc) {
    return lc->count;
}

static bool token_ok(const char *s) {
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > LINCHECK_TOKEN_MAX || strcmp(s, "-") == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
            return false;
        }
    }
    return true;
}

#define FAIL_WITH(...)                                                                             \
    do {                                                                                           \
        snprintf(err, err_size, __VA_ARGS__);                                                      \
        return -EINVAL;                                                                            \
    } while (0)

static int op_check(const lincheck_op_t *in, char *err, size_t err_size) {
    if (!token_ok(in->process) || !token_ok(in->key)) {
        FAIL_WITH("process and key must be non-empty tokens without spaces");
    }
    if (in->kind < LINCHECK_READ || in->kind > LINCHECK_CAS) {
        FAIL_WITH("unknown operation kind");
    }
    if (in->outcome < LINCHECK_OK || in->outcome > LINCHECK_UNKNOWN) {
        FAIL_WITH("unknown outcome");
    }
    if (in->invoke < 0 || (in->outcome != LINCHECK_UNKNOWN && in->complete < in->invoke)) {
        FAIL_WITH("times must be >= 0 and complete >= invoke");
    }
    if (in->kind != LINCHECK_READ && !token_ok(in->arg1)) {
        FAIL_WITH("write and cas need arg1");
    }
    if (in->kind == LINCHECK_CAS && !token_ok(in->arg2)) {
        FAIL_WITH("cas needs arg2");
    }
    if (in->outcome == LINCHECK_OK && in->kind == LINCHECK_READ && !token_ok(in->result)) {
        FAIL_WITH("an ok read needs its result (a value or nil)");
    }
    if (in->outcome == LINCHECK_OK && in->kind == LINCHECK_CAS &&
        (!in->result || (strcmp(in->result, "true") && strcmp(in->result, "false")))) {
        FAIL_WITH("an ok cas needs result true or false");
    }
    return 0;
}

int lincheck_add(lincheck_t *lc, const lincheck_op_t *in, char *err, size_t err_size) {
    int rc = op_check(in, err, err_size);
    if (rc != 0) {
        return rc;
    }
    if (lc->count >= LINCHECK_OPS_MAX) {
        FAIL_WITH("more than %u operations", LINCHECK_OPS_MAX);
    }
    if (lc->count == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 256;
        lc->ops = mem_realloc(lc->ops, lc->cap * sizeof *lc->ops);
    }
    op_t *op = &lc->ops[lc->count++];
    memset(op, 0, sizeof *op);
    op->process = strtab_intern(&lc->strings, in->process);
    op->key = strtab_intern(&lc->strings, in->key);
    op->kind = (uint8_t)in->kind;
    op->outcome = (uint8_t)in->outcome;
    op->invoke = in->invoke;
    op->complete = in->outcome == LINCHECK_UNKNOWN ? TIME_END : in->complete;
    if (in->kind != LINCHECK_READ) {
        op->arg1 = strtab_intern(&lc->strings, in->arg1);
    }
    if (in->kind == LINCHECK_CAS) {
        op->arg2 = strtab_intern(&lc->strings, in->arg2);
    }
    if (in->outcome == LINCHECK_OK && in->kind == LINCHECK_READ) {
        op->result = strtab_intern(&lc->strings, in->result);
    }
    if (in->outcome == LINCHECK_OK && in->kind == LINCHECK_CAS) {
        op->result = strcmp(in->result, "true") == 0;
    }
    return 0;
}

static int parse_time(const char *s, int64_t *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v < 0) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

static int parse_fields(const char *f[9], lincheck_op_t *op, char *err, size_t err_size) {
    static const char *const kinds[] = {"read", "write", "cas"};
    static const char *const outcomes[] = {"ok", "fail", "unknown"};
    op->kind = -1;
    op->outcome = -1;
    for (int i = 0; i < 3; i++) {
        op->kind = strcmp(f[1], kinds[i]) == 0 ? i : op->kind;
        op->outcome = strcmp(f[7], outcomes[i]) == 0 ? i : op->outcome;
    }
    if (op->kind < 0) {
        FAIL_WITH("op must be read, write or cas, not \"%s\"", f[1]);
    }
    if (op->outcome < 0) {
        FAIL_WITH("outcome must be ok, fail or unknown, not \"%s\"", f[7]);
    }
    op->process = f[0];
    op->key = f[2];
    op->arg1 = f[3];
    op->arg2 = f[4];
    op->result = f[8];
    if (parse_time(f[5], &op->invoke) != 0) {
        FAIL_WITH("invoke time \"%s\" is not a non-negative integer", f[5]);
    }
    op->complete = TIME_END;
    if (op->outcome != LINCHECK_UNKNOWN && parse_time(f[6], &op->complete) != 0) {
        FAIL_WITH("complete time \"%s\" is not a non-negative integer", f[6]);
    }
    return 0;
}

int lincheck_parse_line(lincheck_t *lc, const char *line, size_t len, char *err, size_t err_size) {
    if (len > LINCHECK_LINE_MAX) {
        FAIL_WITH("line longer than %d bytes", LINCHECK_LINE_MAX);
    }
    char copy[LINCHECK_LINE_MAX + 1];
    memcpy(copy, line, len);
    copy[len] = 0;
    const char *f[9];
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (n == 0 && tok[0] == '#') {
            return 0;
        }
        if (n == 9) {
            FAIL_WITH("more than 9 fields");
        }
        f[n++] = tok;
    }
    if (n == 0) {
        return 0;
    }
    if (n != 9) {
        FAIL_WITH("expected 9 fields (process op key arg1 arg2 invoke complete outcome result), "
                  "got %d",
                  n);
    }
    lincheck_op_t op;
    int rc = parse_fields(f, &op, err, err_size);
    return rc ? rc : lincheck_add(lc, &op, err, err_size);
}

int lincheck_parse(lincheck_t *lc, const char *text, size_t len, char *err, size_t err_size) {
    size_t line_no = 0, pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        line_no++;
        char why[256];
        if (lincheck_parse_line(lc, text + pos, end - pos, why, sizeof why) != 0) {
            FAIL_WITH("line %zu: %s", line_no, why);
        }
        pos = end + 1;
    }
    return 0;
}

static const char *str(const lincheck_t *lc, uint32_t id) {
    return lc->strings.strings[id];
}

static void write_op(const lincheck_t *lc, const op_t *op, buf_t *out) {
    static const char *const kinds[] = {"read", "write", "cas"};
    static const char *const outcomes[] = {"ok", "fail", "unknown"};
    buf_printf(out, "%s %s %s %s %s %" PRId64 " ", str(lc, op->process), kinds[op->kind],
               str(lc, op->key), op->kind == LINCHECK_READ ? "-" : str(lc, op->arg1),
               op->kind == LINCHECK_CAS ? str(lc, op->arg2) : "-", op->invoke);
    if (op->outcome == LINCHECK_UNKNOWN) {
        buf_append_str(out, "-");
    } else {
        buf_printf(out, "%" PRId64, op->complete);
    }
    const char *result = "-";
    if (op->outcome == LINCHECK_OK && op->kind == LINCHECK_READ) {
        result = str(lc, op->result);
    } else if (op->outcome == LINCHECK_OK && op->kind == LINCHECK_CAS) {
        result = op->result ? "true" : "false";
    }
    buf_printf(out, " %s %s\n", outcomes[op->outcome], result);
}

void lincheck_write(const lincheck_t *lc, buf_t *out) {
    buf_append_str(out, "# process op key arg1 arg2 invoke complete outcome result\n");
    for (size_t i = 0; i < lc->count; i++) {
        write_op(lc, &lc->ops[i], out);
    }
}

/* ---- the search, per key ---- */

typedef struct event {
    uint32_t op; /* index into the partition's op list */
    bool is_return;
    int64_t time;
    uint32_t prev; /* list links, indexes into events; UINT32_MAX ends */
    uint32_t next;
    uint32_t match; /* call: its return event */
} event_t;

typedef struct memo {
    uint64_t *words; /* entries: [bitset words..., state] each */
    size_t entry_words;
    size_t count;
    size_t cap; /* power of two */
    bool full;
} memo_t;

typedef struct search {
    const lincheck_t *lc;
    const op_t **ops; /* this key's operations */
    uint32_t n;
    event_t *events; /* 2n, plus a head sentinel at index 2n */
    uint64_t *bits;
    size_t words;
    memo_t memo;
    uint32_t *stack_op;
    uint32_t *stack_state;
    uint32_t depth;
    uint32_t *call_of; /* op -> its call event */
    uint32_t *best;    /* longest linearization seen, for the report */
    uint32_t best_depth;
} search_t;

static int event_cmp(const void *a, const void *b) {
    const event_t *x = a, *y = b;
    if (x->time != y->time) {
        return x->time < y->time ? -1 : 1;
    }
    if (x->is_return != y->is_return) {
        return x->is_return ? 1 : -1; /* calls first: equal times overlap */
    }
    return x->op < y->op ? -1 : (x->op > y->op);
}

static void build_events(search_t *s) {
    uint32_t n = s->n, head = 2 * n;
    s->events = mem_calloc(2 * (size_t)n + 1, sizeof *s->events);
    for (uint32_t i = 0; i < n; i++) {
        s->events[2 * i] = (event_t){.op = i, .is_return = false, .time = s->ops[i]->invoke};
        s->events[2 * i + 1] = (event_t){.op = i, .is_return = true, .time = s->ops[i]->complete};
    }
    qsort(s->events, 2 * (size_t)n, sizeof *s->events, event_cmp);
    uint32_t *ret_of = mem_alloc((n ? n : 1) * sizeof *ret_of);
    s->call_of = mem_alloc((n ? n : 1) * sizeof *s->call_of);
    for (uint32_t i = 0; i < 2 * n; i++) {
        if (s->events[i].is_return) {
            ret_of[s->events[i].op] = i;
        } else {
            s->call_of[s->events[i].op] = i;
        }
    }
    for (uint32_t i = 0; i < 2 * n; i++) {
        s->events[i].prev = i == 0 ? head : i - 1;
        s->events[i].next = i + 1 == 2 * n ? UINT32_MAX : i + 1;
        s->events[i].match = s->events[i].is_return ? UINT32_MAX : ret_of[s->events[i].op];
    }
    s->events[head] = (event_t){.prev = UINT32_MAX, .next = n ? 0 : UINT32_MAX};
    mem_free(ret_of);
}

static void unlink_event(search_t *s, uint32_t e) {
    event_t *ev = &s->events[e];
    s->events[ev->prev].next = ev->next;
    if (ev->next != UINT32_MAX) {
        s->events[ev->next].prev = ev->prev;
    }
}

static void relink_event(search_t *s, uint32_t e) {
    event_t *ev = &s->events[e];
    s->events[ev->prev].next = e;
    if (ev->next != UINT32_MAX) {
        s->events[ev->next].prev = e;
    }
}

/* The register: may op run in state, and what state follows. */
static bool model_step(const op_t *op, uint32_t state, uint32_t *next) {
    *next = state;
    switch (op->kind) {
    case LINCHECK_READ:
        return op->result == state;
    case LINCHECK_WRITE:
        *next = op->arg1;
        return true;
    default:
        if (op->outcome == LINCHECK_UNKNOWN || op->result) {
            *next = op->arg2;
            return state == op->arg1;
        }
        return state != op->arg1;
    }
}

static uint64_t memo_hash(const uint64_t *bits, size_t words, uint32_t state) {
    return hash_bytes(bits, words * 8, 0xcbf29ce484222325ull ^ state);
}

static void memo_grow(memo_t *m) {
    size_t cap = m->cap ? m->cap * 2 : 1024;
    size_t ew = m->entry_words;
    if (cap * ew * 8 > LINCHECK_CACHE_BYTES_MAX) {
        m->full = true;
        return;
    }
    uint64_t *words = mem_calloc(cap * ew, 8);
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t *old = &m->words[i * ew];
        if (old[ew - 1] == 0) {
            continue;
        }
        size_t j = memo_hash(old, ew - 1, (uint32_t)old[ew - 1]) & (cap - 1);
        while (words[j * ew + ew - 1] != 0) {
            j = (j + 1) & (cap - 1);
        }
        memcpy(&words[j * ew], old, ew * 8);
    }
    mem_free(m->words);
    m->words = words;
    m->cap = cap;
}

/* Adds (bits, state); false if it was there already. The last word stores state + 1 so that
 * zero marks an empty slot. */
static bool memo_insert(memo_t *m, const uint64_t *bits, uint32_t state) {
    if ((m->count + 1) * 2 > m->cap) {
        memo_grow(m);
        if (m->full) {
            return false;
        }
    }
    size_t ew = m->entry_words;
    size_t j = memo_hash(bits, ew - 1, state + 1) & (m->cap - 1);
    for (;; j = (j + 1) & (m->cap - 1)) {
        uint64_t *slot = &m->words[j * ew];
        if (slot[ew - 1] == 0) {
            memcpy(slot, bits, (ew - 1) * 8);
            slot[ew - 1] = (uint64_t)state + 1;
            m->count++;
            return true;
        }
        if (slot[ew - 1] == (uint64_t)state + 1 && memcmp(slot, bits, (ew - 1) * 8) == 0) {
            return false;
        }
    }
}

static void search_free(search_t *s) {
    mem_free(s->events);
    mem_free(s->bits);
    mem_free(s->memo.words);
    mem_free(s->stack_op);
    mem_free(s->stack_state);
    mem_free(s->best);
    mem_free(s->call_of);
}

static void remember_best(search_t *s) {
    if (s->depth > s->best_depth) {
        s->best_depth = s->depth;
        memcpy(s->best, s->stack_op, s->depth * sizeof *s->best);
    }
}

/* Returns LINCHECK_LINEARIZABLE, LINCHECK_VIOLATION or LINCHECK_UNDECIDED (memo full). */
static int search_run(search_t *s) {
    uint32_t head = 2 * s->n, state = NIL_VALUE, definite_left = 0;
    for (uint32_t i = 0; i < s->n; i++) {
        definite_left += s->ops[i]->outcome == LINCHECK_OK;
    }
    uint32_t e = s->events[head].next;
    while (definite_left > 0) {
        if (s->memo.full) {
            return LINCHECK_UNDECIDED;
        }
        assert(e != UINT32_MAX);
        event_t *ev = &s->events[e];
        uint32_t next;
        if (!ev->is_return) {
            const op_t *op = s->ops[ev->op];
            s->bits[ev->op / 64] |= 1ull << (ev->op % 64);
            if (model_step(op, state, &next) && memo_insert(&s->memo, s->bits, next)) {
                s->stack_op[s->depth] = ev->op;
                s->stack_state[s->depth++] = state;
                remember_best(s);
                state = next;
                definite_left -= op->outcome == LINCHECK_OK;
                unlink_event(s, e);
                unlink_event(s, ev->match);
                e = s->events[head].next;
                continue;
            }
            s->bits[ev->op / 64] &= ~(1ull << (ev->op % 64));
            e = ev->next;
            continue;
        }
        /* A return reached: its operation had to be linearized before now. Backtrack. */
        if (s->depth == 0) {
            return LINCHECK_VIOLATION;
        }
        uint32_t op_index = s->stack_op[--s->depth];
        state = s->stack_state[s->depth];
        const op_t *op = s->ops[op_index];
        definite_left += op->outcome == LINCHECK_OK;
        s->bits[op_index / 64] &= ~(1ull << (op_index % 64));
        uint32_t call = s->call_of[op_index];
        relink_event(s, s->events[call].match);
        relink_event(s, call);
        e = s->events[call].next;
    }
    return LINCHECK_LINEARIZABLE;
}

static void report_op(const search_t *s, const op_t *op, buf_t *out) {
    buf_append_str(out, "    ");
    write_op(s->lc, op, out);
}

/* The operations with a known outcome left out of the best prefix that were invoked before
 * the earliest completion among them: those the search tried, and failed, to place next. */
static void report_violation(search_t *s, buf_t *out) {
    const lincheck_t *lc = s->lc;
    buf_printf(out, "not linearizable: key %s (%u operations)\n", str(lc, s->ops[0]->key), s->n);
    uint32_t state = NIL_VALUE;
    bool *placed = mem_calloc(s->n ? s->n : 1, sizeof *placed);
    buf_printf(out, "  longest linearizable prefix (%u operations, in order):\n", s->best_depth);
    for (uint32_t i = 0; i < s->best_depth; i++) {
        const op_t *op = s->ops[s->best[i]];
        placed[s->best[i]] = true;
        model_step(op, state, &state);
        report_op(s, op, out);
    }
    buf_printf(out, "  value after it: %s\n", str(lc, state));
    int64_t horizon = TIME_END;
    for (uint32_t i = 0; i < s->n; i++) {
        if (!placed[i] && s->ops[i]->outcome == LINCHECK_OK && s->ops[i]->complete < horizon) {
            horizon = s->ops[i]->complete;
        }
    }
    buf_append_str(out,
                   "  none of these can come next (each contradicts the value or real time):\n");
    uint32_t shown = 0;
    for (uint32_t i = 0; i < s->n && shown < 12; i++) {
        if (!placed[i] && s->ops[i]->invoke <= horizon) {
            report_op(s, s->ops[i], out);
            shown++;
        }
    }
    mem_free(placed);
}

static int check_key(const lincheck_t *lc, const op_t **ops, uint32_t n, buf_t *report) {
    search_t s = {.lc = lc, .ops = ops, .n = n};
    s.words = (n + 63) / 64;
    s.bits = mem_calloc(s.words ? s.words : 1, 8);
    s.memo.entry_words = s.words + 1;
    s.stack_op = mem_alloc((n ? n : 1) * sizeof *s.stack_op);
    s.stack_state = mem_alloc((n ? n : 1) * sizeof *s.stack_state);
    s.best = mem_alloc((n ? n : 1) * sizeof *s.best);
    build_events(&s);
    int verdict = search_run(&s);
    if (verdict == LINCHECK_VIOLATION && report) {
        report_violation(&s, report);
    } else if (verdict == LINCHECK_UNDECIDED && report) {
        buf_printf(report, "undecided: key %s (%u operations) exceeds the search budget\n",
                   str(lc, ops[0]->key), n);
    }
    search_free(&s);
    return verdict;
}

static int op_key_cmp(const void *a, const void *b) {
    const op_t *x = *(const op_t *const *)a, *y = *(const op_t *const *)b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    if (x->invoke != y->invoke) {
        return x->invoke < y->invoke ? -1 : 1;
    }
    return x < y ? -1 : (x > y);
}

/* Operations that constrain the history: failed ones took no effect, and a read whose outcome
 * is unknown returned nothing to anyone. */
static bool relevant(const op_t *op) {
    return op->outcome != LINCHECK_FAIL &&
           !(op->outcome == LINCHECK_UNKNOWN && op->kind == LINCHECK_READ);
}

int lincheck_run(lincheck_t *lc, buf_t *report) {
    const op_t **ops = mem_alloc((lc->count ? lc->count : 1) * sizeof *ops);
    size_t n = 0;
    for (size_t i = 0; i < lc->count; i++) {
        if (relevant(&lc->ops[i])) {
            ops[n++] = &lc->ops[i];
        }
    }
    qsort(ops, n, sizeof *ops, op_key_cmp);
    int verdict = LINCHECK_LINEARIZABLE;
    size_t keys = 0;
    for (size_t i = 0; i < n && verdict != LINCHECK_VIOLATION;) {
        size_t j = i;
        while (j < n && ops[j]->key == ops[i]->key) {
            j++;
        }
        int v = check_key(lc, ops + i, (uint32_t)(j - i), report);
        verdict = v != LINCHECK_LINEARIZABLE ? v : verdict;
        keys++;
        i = j;
    }
    if (verdict == LINCHECK_LINEARIZABLE && report) {
        buf_printf(report, "linearizable: %zu operations (%zu checked) on %zu keys\n", lc->count, n,
                   keys);
    }
    mem_free(ops);
    return verdict;
}
