/* polis-lincheck: checks a recorded history of register operations for linearizability.
 *
 *     polis-lincheck FILE      (FILE may be - for standard input)
 *
 * Exit status: 0 linearizable, 1 not (an explanation goes to standard output), 2 the file is
 * unreadable or malformed, 3 undecided (the search outgrew its memory budget). The file format
 * is in tests/sim/lincheck.h and docs/ARCHITECTURE.md ("History files"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "lincheck.h"

#define HISTORY_BYTES_MAX (1ull << 30)

static int read_all(FILE *f, buf_t *out) {
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > HISTORY_BYTES_MAX) {
            return -EFBIG;
        }
        buf_append(out, chunk, n);
    }
    return ferror(f) ? -EIO : 0;
}

static void usage(FILE *to) {
    fprintf(to, "usage: polis-lincheck FILE\n"
                "Checks a history of read/write/cas operations for linearizability.\n"
                "Line format: process op key arg1 arg2 invoke complete outcome result\n"
                "Exit: 0 linearizable, 1 not, 2 bad input, 3 undecided.\n");
}

int main(int argc, char **argv) {
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc != 2) {
        usage(stderr);
        return 2;
    }
    FILE *f = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "polis-lincheck: %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    buf_t text;
    buf_init(&text);
    int rc = read_all(f, &text);
    if (f != stdin) {
        fclose(f);
    }
    if (rc != 0) {
        fprintf(stderr, "polis-lincheck: %s: %s\n", argv[1], strerror(-rc));
        buf_free(&text);
        return 2;
    }
    lincheck_t *lc = lincheck_create();
    char err[512];
    int status = 2;
    if (lincheck_parse(lc, text.data, text.len, err, sizeof err) != 0) {
        fprintf(stderr, "polis-lincheck: %s: %s\n", argv[1], err);
    } else {
        buf_t report;
        buf_init(&report);
        int verdict = lincheck_run(lc, &report);
        fwrite(report.data, 1, report.len, stdout);
        buf_free(&report);
        status = verdict == LINCHECK_LINEARIZABLE ? 0 : verdict == LINCHECK_VIOLATION ? 1 : 3;
    }
    lincheck_destroy(lc);
    buf_free(&text);
    return status;
}
