/* glob: Redis-style glob matching (KEYS, SCAN MATCH, HSCAN MATCH).
 *
 *   *        any sequence of bytes, including none
 *   ?        any one byte
 *   [abc]    one of the bytes listed; [^abc] one byte not listed; [a-z] a range (a reversed
 *            range is swapped); \x inside a class is x itself; a class left open at the end of
 *            the pattern takes the rest of the pattern as its members
 *   \x       the byte x itself (a trailing backslash matches a backslash)
 * As in Redis, the empty string matches only the empty pattern (not even "*": callers treat a
 * lone "*" as "everything" before matching).
 *
 * The matcher is iterative: it keeps only the position of the last star, so it runs in
 * O(pattern * string) time for any pattern (no exponential backtracking) and uses no stack. */
#ifndef POLIS_CORE_GLOB_H
#define POLIS_CORE_GLOB_H

#include <stddef.h>

/* 1 if string[0..string_len) matches pattern[0..pattern_len), else 0. nocase folds ASCII case. */
int glob_match(const char *pattern, size_t pattern_len, const char *string, size_t string_len,
               int nocase);

#endif
