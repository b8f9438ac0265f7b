/* Tests of CRC-32C (src/core/crc32c.c): known vectors, and the hardware and table paths agree
 * for every length and alignment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/crc32c.h"

/* Vectors from RFC 3720 (iSCSI) appendix B.4 and the common check value. */
static void test_crc32c_known_vectors(void **state) {
    (void)state;
    assert_int_equal(crc32c("123456789", 9), 0xe3069283u);
    assert_int_equal(crc32c("", 0), 0);
    unsigned char zeros[32] = {0};
    assert_int_equal(crc32c(zeros, 32), 0x8a9136aau);
    unsigned char ones[32];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(crc32c(ones, 32), 0x62a8ab43u);
    unsigned char inc[32];
    unsigned char dec[32];
    for (int i = 0; i < 32; i++) {
        inc[i] = (unsigned char)i;
        dec[i] = (unsigned char)(31 - i);
    }
    assert_int_equal(crc32c(inc, 32), 0x46dd794eu);
    assert_int_equal(crc32c(dec, 32), 0x113fdb5cu);
}

static void test_crc32c_table_path_matches_vectors(void **state) {
    (void)state;
    assert_int_equal(crc32c_sw(0, "123456789", 9), 0xe3069283u);
}

static void test_crc32c_hw_and_sw_agree_at_every_length_and_alignment(void **state) {
    (void)state;
    if (!crc32c_hw_available()) {
        /* Without SSE4.2 crc32c() is the table path, checked above; nothing else to compare. */
        assert_int_equal(crc32c("123456789", 9), crc32c_sw(0, "123456789", 9));
        return;
    }
    unsigned char data[300];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof data; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    for (size_t start = 0; start < 8; start++) {
        for (size_t len = 0; len + start <= sizeof data; len++) {
            assert_int_equal(crc32c_hw(0, data + start, len), crc32c_sw(0, data + start, len));
        }
    }
}

static void test_crc32c_extend_equals_one_pass(void **state) {
    (void)state;
    const char *text = "the quick brown fox jumps over the lazy dog";
    size_t n = strlen(text);
    uint32_t whole = crc32c(text, n);
    for (size_t cut = 0; cut <= n; cut++) {
        assert_int_equal(crc32c_extend(crc32c(text, cut), text + cut, n - cut), whole);
        assert_int_equal(crc32c_sw(crc32c_sw(0, text, cut), text + cut, n - cut), whole);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_vectors),
        cmocka_unit_test(test_crc32c_table_path_matches_vectors),
        cmocka_unit_test(test_crc32c_hw_and_sw_agree_at_every_length_and_alignment),
        cmocka_unit_test(test_crc32c_extend_equals_one_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
