/* lincheck: a linearizability checker for histories of registers (read, write, compare-and-set)
 * over many keys, after Wing & Gong and Lowe's refinement (as in Porcupine / Knossos): a
 * depth-first search for an order of the operations that respects real time and the register's
 * semantics, memoizing (set of linearized operations, register value) pairs so no configuration
 * is explored twice. Registers are independent, so the history is split per key and each key is
 * checked alone (linearizability is compositional).
 *
 * Used by the Raft simulator (tests/sim) and by build/polis-lincheck, which reads the history
 * file format documented in docs/ARCHITECTURE.md ("History files"):
 *
 *     # process op key arg1 arg2 invoke complete outcome result
 *     c1 write x 5 - 100 200 ok -
 *     c2 read x - - 150 260 ok 5
 *     c3 cas x 5 7 300 - unknown -
 *
 * Semantics. Every key starts absent ("nil"). An operation A precedes B in real time when
 * A.complete < B.invoke (times are integers in any one unit). outcome ok: it took effect between
 * invoke and complete, with the given result (read: the value or nil; cas: true if it swapped,
 * false if the value differed from arg1). fail: it certainly took no effect (it is ignored).
 * unknown: it may or may not have taken effect, at any time after invoke (complete is "-");
 * an unknown cas, if it took effect, swapped. */
#ifndef POLIS_SIM_LINCHECK_H
#define POLIS_SIM_LINCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define LINCHECK_LINE_MAX 4096                /* bytes of one history line */
#define LINCHECK_TOKEN_MAX 256                /* bytes of one field */
#define LINCHECK_OPS_MAX 1000000u             /* operations in one history */
#define LINCHECK_CACHE_BYTES_MAX (1ull << 30) /* memo table; past it the verdict is undecided */

enum lincheck_kind { LINCHECK_READ = 0, LINCHECK_WRITE, LINCHECK_CAS };
enum lincheck_outcome { LINCHECK_OK = 0, LINCHECK_FAIL, LINCHECK_UNKNOWN };
enum lincheck_verdict { LINCHECK_LINEARIZABLE = 0, LINCHECK_VIOLATION = 1, LINCHECK_UNDECIDED = 2 };

typedef struct lincheck_op {
    const char *process;
    int kind; /* enum lincheck_kind */
    const char *key;
    const char *arg1; /* write: the value; cas: the expected value; read: unused */
    const char *arg2; /* cas: the new value */
    int64_t invoke;
    int64_t complete;   /* ignored when outcome is unknown */
    int outcome;        /* enum lincheck_outcome */
    const char *result; /* read: the value read or "nil"; cas: "true" or "false" */
} lincheck_op_t;

typedef struct lincheck lincheck_t;

lincheck_t *lincheck_create(void);
void lincheck_destroy(lincheck_t *lc);

/* Adds one operation (strings are copied). 0, or -EINVAL with a reason in err. */
int lincheck_add(lincheck_t *lc, const lincheck_op_t *op, char *err, size_t err_size);
/* Parses one line of the file format (blank lines and # comments are accepted and ignored).
 * 0, or -EINVAL with a reason in err. */
int lincheck_parse_line(lincheck_t *lc, const char *line, size_t len, char *err, size_t err_size);
/* Parses a whole history text; on error err names the line. 0 or -EINVAL. */
int lincheck_parse(lincheck_t *lc, const char *text, size_t len, char *err, size_t err_size);

size_t lincheck_count(const lincheck_t *lc);

/* Checks the history. Returns an enum lincheck_verdict; appends to report (may be NULL) a
 * readable account: for a violation, the key, the longest linearizable prefix found and the
 * operations that could not come next. */
int lincheck_run(lincheck_t *lc, buf_t *report);

/* Writes the history in the file format (so a simulator failure can be re-checked). */
void lincheck_write(const lincheck_t *lc, buf_t *out);

#endif
