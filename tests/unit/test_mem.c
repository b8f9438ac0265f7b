/* Tests of the counted allocator and its chunks (src/core/mem.c): mem_used follows every call,
 * a freed chunk is handed out again, a fork child does not have the chunks, and free chunks
 * beyond MEM_CHUNK_KEEP give their pages back. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mem.h"

static void test_mem_used_follows_alloc_realloc_and_free(void **state) {
    (void)state;
    size_t before = mem_used();
    char *p = mem_alloc(100);
    assert_int_equal(mem_used(), before + mem_block_size(p));
    p = mem_realloc(p, 5000);
    assert_true(mem_block_size(p) >= 5000);
    assert_int_equal(mem_used(), before + mem_block_size(p));
    mem_free(p);
    assert_int_equal(mem_used(), before);
}

static void test_chunks_are_whole_counted_and_handed_out_again(void **state) {
    (void)state;
    size_t before = mem_used();
    char *a = mem_chunk_alloc();
    char *b = mem_chunk_alloc();
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a + MEM_CHUNK_BYTES <= b || b + MEM_CHUNK_BYTES <= a);
    memset(a, 0xa5, MEM_CHUNK_BYTES);
    memset(b, 0x5a, MEM_CHUNK_BYTES);
    assert_int_equal((unsigned char)a[MEM_CHUNK_BYTES - 1], 0xa5);
    assert_int_equal((unsigned char)b[0], 0x5a);
    assert_int_equal(mem_used(), before + 2 * MEM_CHUNK_BYTES);
    mem_chunk_free(b);
    assert_int_equal(mem_used(), before + MEM_CHUNK_BYTES);
    char *c = mem_chunk_alloc();
    if (!MEM_CHUNK_IS_ALLOCATION) {
        assert_ptr_equal(c, b); /* the last one freed comes back first */
    }
    mem_chunk_free(c);
    mem_chunk_free(a);
    mem_chunk_free(NULL);
    assert_int_equal(mem_used(), before);
}

static void test_a_fork_child_does_not_have_the_chunks(void **state) {
    (void)state;
    if (MEM_CHUNK_IS_ALLOCATION) {
        skip();
    }
    volatile char *chunk = mem_chunk_alloc();
    chunk[0] = 1;
    char *plain = mem_alloc(64);
    plain[0] = 2;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        _exit(plain[0] == 2 ? 0 : 1); /* ordinary memory is there */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        _exit(chunk[0]); /* not mapped here: the read faults */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    assert_int_equal(chunk[0], 1);
    mem_free(plain);
    mem_chunk_free((char *)chunk);
}

static void test_free_chunks_beyond_the_kept_number_give_their_pages_back(void **state) {
    (void)state;
    if (MEM_CHUNK_IS_ALLOCATION) {
        skip();
    }
    enum { EXTRA = 3, COUNT = MEM_CHUNK_KEEP + EXTRA };
    size_t before = mem_used();
    char **chunks = mem_alloc(COUNT * sizeof *chunks);
    for (size_t i = 0; i < COUNT; i++) {
        chunks[i] = mem_chunk_alloc();
        memset(chunks[i], 0xee, MEM_CHUNK_BYTES);
    }
    for (size_t i = 0; i < COUNT; i++) {
        mem_chunk_free(chunks[i]); /* the first MEM_CHUNK_KEEP stay resident, the rest do not */
    }
    assert_int_equal(mem_used(), before + mem_block_size(chunks));
    for (size_t i = 0; i < MEM_CHUNK_KEEP; i++) {
        chunks[i] = mem_chunk_alloc();
        assert_int_equal((unsigned char)chunks[i][MEM_CHUNK_BYTES - 1], 0xee);
    }
    for (size_t i = MEM_CHUNK_KEEP; i < COUNT; i++) {
        chunks[i] = mem_chunk_alloc();
        for (size_t at = 4096; at < MEM_CHUNK_BYTES; at += 4096) {
            assert_int_equal(chunks[i][at], 0); /* released: the system's zero pages */
        }
        memset(chunks[i], 0x11, MEM_CHUNK_BYTES); /* and writable again */
    }
    for (size_t i = 0; i < COUNT; i++) {
        mem_chunk_free(chunks[i]);
    }
    mem_free(chunks);
    assert_int_equal(mem_used(), before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_used_follows_alloc_realloc_and_free),
        cmocka_unit_test(test_chunks_are_whole_counted_and_handed_out_again),
        cmocka_unit_test(test_a_fork_child_does_not_have_the_chunks),
        cmocka_unit_test(test_free_chunks_beyond_the_kept_number_give_their_pages_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
