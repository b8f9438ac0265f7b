/* libFuzzer target for the replication layer's payload decoders (src/repl/wire.c): whatever
 * bytes arrive, every decoder must refuse them cleanly or produce values that re-encode to
 * the same bytes; a forwarded command decodes into a RESP multibulk the request parser reads
 * back as exactly that many arguments. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "proto/resp.h"
#include "repl/wire.h"

static void check_forward(const uint8_t *data, size_t size) {
    repl_forward_t f;
    buf_t args;
    buf_init(&args);
    if (repl_forward_decode(data, size, &f, &args) == 0) {
        resp_parser_t p;
        resp_parser_init(&p, 1ll << 40);
        size_t used = 0;
        int rc = resp_parse(&p, args.data, args.len, &used);
        assert(rc == RESP_COMMAND || f.argc > 1024 * 1024);
        if (rc == RESP_COMMAND) {
            assert(used == args.len);
            assert((uint32_t)p.argc == f.argc);
            buf_t again;
            buf_init(&again);
            f.argv = p.argv;
            repl_forward_encode(&again, &f);
            assert(again.len == size && memcmp(again.data, data, size) == 0);
            buf_free(&again);
        }
        resp_parser_free(&p);
    }
    buf_free(&args);
}

static void check_meta(const uint8_t *data, size_t size) {
    raft_conf_t conf;
    repl_member_t members[REPL_MEMBERS_MAX];
    size_t count = 0;
    if (repl_meta_decode((const char *)data, size, &conf, members, REPL_MEMBERS_MAX, &count) ==
        0) {
        buf_t again;
        buf_init(&again);
        repl_meta_encode(&again, &conf, members, count);
        assert(again.len == size && memcmp(again.data, data, size) == 0);
        buf_free(&again);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    check_forward(data, size);
    check_meta(data, size);
    repl_forward_reply_t rep;
    if (repl_forward_reply_decode(data, size, &rep) == 0) {
        assert(rep.bytes + rep.len == (const char *)data + size);
    }
    uint64_t inc, client;
    repl_forward_close_decode(data, size, &inc, &client);
    repl_node_info_t info;
    if (repl_node_info_decode(data, size, &info) == 0) {
        assert(strlen(info.client_host) <= REPL_HOST_MAX);
    }
    repl_member_t m = {.id = 1};
    repl_member_decode((const char *)data, size, &m);
    uint32_t group;
    const uint8_t *raft;
    size_t len;
    if (repl_raft_split(data, size, &group, &raft, &len) == 0) {
        assert(raft + len == data + size);
    }
    return 0;
}
