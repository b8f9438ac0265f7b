/* libFuzzer target: a log entry's payload applied as a node applies a committed entry: opened as
 * a record batch (or a bare record), every record applied to a keyspace with a reply buffer.
 * Prefetching a record's lookup (as the applier does ahead) changes nothing. Nothing may crash
 * or read outside the payload; a record the keyspace refuses changes nothing
 * and says so (-EINVAL). The keyspace is kept between inputs, so later inputs meet the keys
 * earlier ones wrote, and is emptied when it grows large (keys or bytes). */
#include <assert.h>
#include <errno.h>
#include <stdint.h>

#include "core/log.h"
#include "core/mem.h"
#include "kv/keyspace.h"

#define KEEP_KEYS 10000
#define KEEP_BYTES ((size_t)256 << 20) /* SETRANGE and APPEND can make strings of 512 MB */

static keyspace_t *ks;
static hlc_t clock_;
static uint64_t rng = 1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    log_set_level(LOG_WARNING);
    ks = keyspace_create(7);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kv_batch_iter_t it;
    if (kv_batch_open(&it, (const char *)data, size) != 0) {
        return 0;
    }
    buf_t out;
    buf_init(&out);
    const char *record;
    size_t len;
    int rc;
    while ((rc = kv_batch_next(&it, &record, &len)) == 1) {
        assert(record >= (const char *)data && record + len <= (const char *)data + size);
        reply_t reply = {&out, 2};
        uint64_t dirty = 0;
        size_t keys = keyspace_key_count(ks);
        kv_record_prefetch(ks, record, len, false); /* reads the record's first key, changes nothing */
        kv_record_prefetch(ks, record, len, true);
        assert(keyspace_key_count(ks) == keys);
        int applied = kv_record_apply(ks, &clock_, &rng, record, len, &reply, &dirty);
        assert(applied == 0 || applied == -EINVAL);
        assert(applied == 0 || (dirty == 0 && keyspace_key_count(ks) == keys));
        buf_clear(&out);
        if (keyspace_key_count(ks) > KEEP_KEYS || mem_used() > KEEP_BYTES) {
            keyspace_clear(ks);
        }
    }
    assert(rc == 0 || rc == -EINVAL);
    buf_free(&out);
    return 0;
}
