/* kv_polis: polis' own keyspace commands: versions and the logical clock (POLIS.CAS, a
 * conditional SET, lives with SET in kv_string.c), and the expiry record's command.
 * Decisions and reasons: docs/ARCHITECTURE.md, "Keyspace"; usage: README.md. */
#include <assert.h>
#include <limits.h>

#include "kv/db.h"

/* POLIS.VERSION key: the HLC stamp of the key's last write, or 0 when the key is absent (0 is
 * never a stamp, and it is the version POLIS.CAS expects for "create only if absent"). */
void cmd_polis_version(exec_ctx_t *ctx) {
    kv_entry_t *e = db_peek(ctx, ctx->argv[1]);
    reply_int(ctx->reply, e ? (long long)e->version : 0);
}

/* POLIS.CLOCK [stamp]: Lamport's receive rule. The client passes the largest stamp it has seen
 * (0 or nothing if none) and gets a stamp larger than it and than every stamp this node has
 * issued; every later write on the node gets a larger one still. It is a logged write, so the
 * merge survives a restart and reaches replicas: its record's stamp is already larger than all
 * earlier stamps, and applying it moves the clock past the reply. */
void cmd_polis_clock(exec_ctx_t *ctx) {
    assert(ctx->clock);
    if (ctx->argc > 2) {
        reply_error(ctx->reply, ERR_SYNTAX);
        return;
    }
    long long seen = 0;
    if (ctx->argc == 2 && (arg_ll(ctx, 1, &seen) != 0)) {
        return;
    }
    if (seen < 0 || seen == LLONG_MAX) {
        reply_error(ctx->reply, ERR_NOT_INTEGER);
        return;
    }
    stamp_t stamp = ctx->stamp > (stamp_t)seen ? ctx->stamp : (stamp_t)seen + 1;
    hlc_observe(ctx->clock, stamp);
    ctx->dirty++;
    reply_int(ctx->reply, (long long)stamp);
}

/* POLIS.DELEXPIRED key [key ...]: removes the keys that are expired at the record's time and
 * replies how many. What the node logs for the keys its expire cycle finds: unlike DEL it can
 * never remove a key that a write logged in between made live again. */
void cmd_polis_delexpired(exec_ctx_t *ctx) {
    long long removed = 0;
    for (int j = 1; j < ctx->argc; j++) {
        db_slot_t slot;
        /* db_write removes an expired key it finds (and counts it in expired_keys). */
        uint64_t before = ctx->ks->stats.expired_keys;
        db_write(ctx, ctx->argv[j], &slot);
        removed += (long long)(ctx->ks->stats.expired_keys - before);
    }
    ctx->dirty += (uint64_t)removed;
    reply_int(ctx->reply, removed);
}
