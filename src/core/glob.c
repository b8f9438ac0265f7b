/* glob: iterative glob matcher with Redis' pattern semantics (see glob.h). */
#include "core/glob.h"

#include <assert.h>
#include <ctype.h>

static inline int byte_eq(char a, char b, int nocase) {
    if (nocase) {
        return tolower((unsigned char)a) == tolower((unsigned char)b);
    }
    return a == b;
}

/* Matches c against the class starting just after '[' at p; returns 1 on a match and sets
 * *next to the pattern position after the class. Bytes compare as signed chars in ranges, the
 * way Redis compares them. */
static int class_match(const char *p, const char *end, char c, int nocase, const char **next) {
    int negate = p < end && *p == '^';
    if (negate) {
        p++;
    }
    int match = 0;
    for (;;) {
        if (p >= end) {
            *next = end; /* unclosed: the rest of the pattern was the class */
            break;
        }
        if (*p == '\\' && end - p >= 2) {
            p++;
            if (*p == c) {
                match = 1;
            }
        } else if (*p == ']') {
            *next = p + 1;
            break;
        } else if (end - p >= 3 && p[1] == '-') {
            int lo = (signed char)p[0], hi = (signed char)p[2], v = (signed char)c;
            if (lo > hi) {
                int t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                lo = tolower(lo & 0xff);
                hi = tolower(hi & 0xff);
                v = tolower(v & 0xff);
            }
            p += 2;
            if (v >= lo && v <= hi) {
                match = 1;
            }
        } else if (byte_eq(*p, c, nocase)) {
            match = 1;
        }
        p++;
    }
    return negate ? !match : match;
}

int glob_match(const char *pattern, size_t pattern_len, const char *string, size_t string_len,
               int nocase) {
    assert(pattern || pattern_len == 0);
    assert(string || string_len == 0);
    const char *p = pattern, *pend = pattern + pattern_len;
    const char *s = string, *send = string + string_len;
    const char *star_p = NULL, *star_s = NULL;
    if (string_len == 0) {
        return pattern_len == 0; /* Redis' matcher: only the empty pattern matches "" */
    }
    for (;;) {
        if (p < pend && *p == '*') {
            while (p < pend && *p == '*') {
                p++;
            }
            if (p == pend) {
                return 1;
            }
            star_p = p;
            star_s = s;
            continue;
        }
        if (p == pend && s == send) {
            return 1;
        }
        int ok = 0;
        const char *p_next = p + 1;
        if (p < pend && s < send) {
            if (*p == '?') {
                ok = 1;
            } else if (*p == '[') {
                ok = class_match(p + 1, pend, *s, nocase, &p_next);
            } else if (*p == '\\' && pend - p >= 2) {
                ok = byte_eq(p[1], *s, nocase);
                p_next = p + 2;
            } else {
                ok = byte_eq(*p, *s, nocase);
            }
        }
        if (ok) {
            p = p_next;
            s++;
            continue;
        }
        /* Mismatch: let the last star take one more byte, or fail. */
        if (!star_p || star_s >= send) {
            return 0;
        }
        p = star_p;
        s = ++star_s;
    }
}
