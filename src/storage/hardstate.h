/* hardstate: Raft's term, vote and commit index in the file `hardstate` (internal to storage).
 *
 * The file holds two 44-byte slots, at offsets 0 and 512 (different sectors): u32 magic
 * "PHS1", u32 version 1, u64 sequence, u64 term, u64 voted_for, u64 commit, u32 CRC32C of the
 * 40 bytes before it. A save writes the slot not holding the newest state with sequence + 1,
 * then fdatasyncs: a torn write damages only that slot, and load takes the valid slot with the
 * higher sequence, so the state is always the old one or the new one, never a mix. */
#ifndef POLIS_STORAGE_HARDSTATE_H
#define POLIS_STORAGE_HARDSTATE_H

#include <stdint.h>

#include "storage/fileio.h"
#include "storage/persist.h"

#define HARDSTATE_FILE "hardstate"
#define HARDSTATE_SLOT_STRIDE 512u
#define HARDSTATE_SLOT_SIZE 44u

typedef struct hardstate_file {
    int fd; /* -1 until the file exists */
    uint64_t seq;
    persist_hard_state_t state;
} hardstate_file_t;

/* Loads dir's hard state (all zero when there is no file yet). 0, or negative with err set
 * when the file exists but neither slot is valid. */
int hardstate_load(hardstate_file_t *h, int dir_fd, const char *dir, char *err, size_t err_size);
/* Saves durably (creating the file atomically the first time). 0 or -errno. */
int hardstate_save(hardstate_file_t *h, const storage_io_t *io, int dir_fd,
                   const persist_hard_state_t *state);
void hardstate_close(hardstate_file_t *h);

/* Encodes / decodes one slot (exposed for tests and the fuzzer). decode: 0 or -1. */
void hardstate_slot_encode(unsigned char *out, uint64_t seq, const persist_hard_state_t *s);
int hardstate_slot_decode(const unsigned char *in, uint64_t *seq, persist_hard_state_t *s);

#endif
