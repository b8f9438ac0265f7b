/* libFuzzer target for the Raft message decoder (src/raft/raft_codec.c), and for what the core
 * does with any message that decodes: it must be refused cleanly or handled, never crash.
 * A decoded message re-encodes to the same bytes. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "raft/raft.h"
#include "raft/raft_codec.h"

/* Steps m into a node (fresh, or restored with a short log of three terms), drains its Readies
 * and checks its invariants. */
static void step_into_node(raft_msg_t *m, bool with_log) {
    raft_config_t cfg;
    raft_config_default(&cfg, 2);
    uint64_t voters[] = {1, 2, 3};
    cfg.voters = voters;
    cfg.voters_count = 3;
    cfg.snapshot_bytes_max = 1u << 16;
    raft_t *r;
    if (raft_create(&cfg, &r) != 0) {
        abort();
    }
    if (with_log) {
        raft_entry_t log[5] = {{.term = 1, .index = 1},
                               {.term = 1, .index = 2},
                               {.term = 2, .index = 3},
                               {.term = 3, .index = 4},
                               {.term = 3, .index = 5}};
        raft_hard_state_t hs = {.term = 3, .vote = 1, .commit = 3};
        if (raft_restore(r, &hs, NULL, log, 5) != 0) {
            abort();
        }
    }
    m->to = 2; /* address it to the node so it goes past the first check */
    raft_step(r, m);
    for (int i = 0; i < 3 && raft_has_ready(r); i++) {
        raft_ready_t rd;
        raft_ready(r, &rd);
        raft_advance(r, &rd);
    }
    char err[256];
    if (raft_check(r, err, sizeof err) != 0) {
        abort();
    }
    raft_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    raft_msg_t m;
    if (raft_msg_decode(data, size, &m) != 0) {
        return 0;
    }
    buf_t again;
    buf_init(&again);
    if (raft_msg_encode(&m, &again) != 0 || again.len != size ||
        memcmp(again.data, data, size) != 0) {
        abort();
    }
    buf_free(&again);
    step_into_node(&m, false);
    step_into_node(&m, true);
    raft_msg_release(&m);
    return 0;
}
