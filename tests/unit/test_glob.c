/* Tests of glob matching (src/core/glob.c) against Redis' pattern semantics, including its
 * edge cases (open classes, ranges written backwards, escapes, the empty string), and that a
 * pathological pattern runs in polynomial time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/glob.h"

typedef struct glob_case {
    const char *pattern;
    const char *string;
    int nocase;
    int want;
} glob_case_t;

static const glob_case_t cases[] = {
    {"*", "anything", 0, 1},
    {"*", "", 0, 0}, /* Redis: only the empty pattern matches the empty string */
    {"", "", 0, 1},
    {"", "a", 0, 0},
    {"h?llo", "hello", 0, 1},
    {"h?llo", "hllo", 0, 0},
    {"h*llo", "hllo", 0, 1},
    {"h*llo", "heeeello", 0, 1},
    {"h*llo", "hellox", 0, 0},
    {"h[ae]llo", "hallo", 0, 1},
    {"h[ae]llo", "hillo", 0, 0},
    {"h[^e]llo", "hallo", 0, 1},
    {"h[^e]llo", "hello", 0, 0},
    {"h[a-b]llo", "hbllo", 0, 1},
    {"h[b-a]llo", "hbllo", 0, 1}, /* a backwards range is swapped */
    {"h[a-b]llo", "hcllo", 0, 0},
    {"h\\*llo", "h*llo", 0, 1},
    {"h\\*llo", "hello", 0, 0},
    {"h[\\]]llo", "h]llo", 0, 1},
    {"[abc", "b", 0, 1}, /* an open class takes the rest of the pattern */
    {"[abc", "d", 0, 0},
    {"[", "x", 0, 0},
    {"[^", "x", 0, 1},
    {"a[", "a", 0, 0},
    {"\\", "\\", 0, 1}, /* a trailing backslash is itself */
    {"x\\\\y", "x\\y", 0, 1},
    {"h[a-]llo", "h]llo", 0, 0}, /* "a-]" is the range a..] and the class stays open */
    {"h[a-]llo", "hallo", 0, 0},
    {"*a*b*c*", "xxaxxbxxcxx", 0, 1},
    {"*a*b*c*", "xxcxxbxxaxx", 0, 0},
    {"**", "ab", 0, 1},
    {"a*", "a", 0, 1},
    {"*:1", "key:1", 0, 1},
    {"key:[0-9]*", "key:10", 0, 1},
    {"key:[0-9]*", "key:x", 0, 0},
    {"HELLO", "hello", 0, 0},
    {"HELLO", "hello", 1, 1},
    {"H[A-C]LLO", "hbllo", 1, 1},
    {"?", "", 0, 0},
    {"a?c", "abc", 0, 1},
};

static void test_patterns_match_as_redis_matches_them(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const glob_case_t *c = &cases[i];
        int got = glob_match(c->pattern, strlen(c->pattern), c->string, strlen(c->string),
                             c->nocase);
        if (got != c->want) {
            fail_msg("pattern '%s' on '%s': got %d, want %d", c->pattern, c->string, got,
                     c->want);
        }
    }
}

static void test_bytes_after_a_nul_are_matched_too(void **state) {
    (void)state;
    assert_true(glob_match("a?c", 3, "a\0c", 3, 0));
    assert_true(glob_match("a\0*", 3, "a\0zzz", 5, 0));
    assert_false(glob_match("a\0*", 3, "a\1zzz", 5, 0));
}

static void test_pathological_pattern_finishes_quickly(void **state) {
    (void)state;
    /* "a*a*a*...*b" against "aaaa...": exponential for a naive backtracker */
    char pattern[200], string[5000];
    size_t p = 0;
    for (int i = 0; i < 60; i++) {
        pattern[p++] = 'a';
        pattern[p++] = '*';
    }
    pattern[p++] = 'b';
    memset(string, 'a', sizeof string);
    assert_false(glob_match(pattern, p, string, sizeof string, 0));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_patterns_match_as_redis_matches_them),
        cmocka_unit_test(test_bytes_after_a_nul_are_matched_too),
        cmocka_unit_test(test_pathological_pattern_finishes_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
