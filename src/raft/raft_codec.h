/* raft_codec: the wire form of raft_msg_t, for the cluster bus.
 *
 * Little endian, versioned (first byte), self-delimiting only together with the length the
 * transport frames it with. Layout (version 1):
 *
 *   u8 version, u8 type, u16 flags,
 *   u64 from, to, term, log_term, index, commit, reject_hint, context,
 *   u32 entries_count, then per entry: u64 term, u8 type, u32 len, len bytes
 *     (entry i has index msg.index + 1 + i),
 *   SNAPSHOT only: u64 snapshot index, snapshot term, u8 voters_count, u64 voter...,
 *     u8 learners_count, u64 learner..., u64 snapshot_size, u64 snapshot_offset,
 *     u32 chunk_len, chunk_len bytes.
 *
 * The decoder checks every count and length against its limit in raft.h and against the bytes
 * that remain, and refuses trailing bytes. It checks shape, not meaning: raft_step validates
 * what a message says (terms, indexes, membership). */
#ifndef POLIS_RAFT_CODEC_H
#define POLIS_RAFT_CODEC_H

#include <stddef.h>

#include "core/buf.h"
#include "raft/raft.h"

#define RAFT_CODEC_VERSION 1
/* The largest encoded message: a full batch plus one oversized entry, with headers. */
#define RAFT_WIRE_BYTES_MAX ((size_t)RAFT_MSG_BYTES_MAX + RAFT_ENTRY_BYTES_MAX + (1u << 20))

/* Bytes raft_msg_encode appends for m. */
size_t raft_msg_encoded_size(const raft_msg_t *m);
/* Appends m to out. 0, -EMSGSIZE (beyond a limit), -EINVAL (bad type). */
int raft_msg_encode(const raft_msg_t *m, buf_t *out);
/* Decodes one message. On success out->entries is an array the decoder allocated (release it
 * with raft_msg_release) whose data, like out->chunk, points into data: valid while data is.
 * 0 or -EBADMSG (out is then released already). */
int raft_msg_decode(const void *data, size_t len, raft_msg_t *out);
void raft_msg_release(raft_msg_t *m);

#endif
