/* snapshot: snapshot files — writing, checking, loading (internal to storage).
 *
 * File snap-<index, 20 digits>.snap (little endian):
 *   header 48 bytes: "polisSNP", u32 version=1, u32 meta_len, u64 index, u64 term,
 *                    i64 created_unix, u32 zero, u32 CRC32C of bytes 0..43
 *   meta   meta_len bytes (opaque: the Raft membership)
 *   body   the state machine's stream (hooks.dump_snapshot), any length
 *   trailer 16 bytes: u64 body_len, u32 CRC32C of every byte before the trailer, "PSND"
 * A file is valid only when all of it checks out, so a half-written or damaged snapshot is
 * never loaded; the leader sends this exact file to a follower that installs it. */
#ifndef POLIS_STORAGE_SNAPSHOT_H
#define POLIS_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "core/io.h"
#include "storage/fileio.h"
#include "storage/persist.h"

#define SNAPSHOT_HEADER_SIZE 48u
#define SNAPSHOT_TRAILER_SIZE 16u
#define SNAPSHOT_BUFFER 65536u
#define SNAPSHOT_FILES_MAX 10000u

typedef struct snapshot_info {
    uint64_t index;
    uint64_t term;
    int64_t created_unix;
    char *meta; /* mem_alloc'd, meta_len bytes (NULL when 0) */
    size_t meta_len;
    uint64_t body_offset;
    uint64_t body_len;
    uint64_t file_size;
} snapshot_info_t;

typedef int snapshot_dump_fn(void *arg, io_write_fn *write, void *write_ctx);
typedef int snapshot_load_fn(void *arg, io_read_fn *read, void *read_ctx);

void snapshot_name(char *out, size_t size, uint64_t index);
/* Writes a whole snapshot file named name (created, or truncated) and fdatasyncs it. 0, or
 * -errno (the dump's own negative code when it fails). The caller renames it into place. */
int snapshot_write(const storage_io_t *io, int dir_fd, const char *name,
                   const persist_snapshot_point_t *at, int64_t created_unix,
                   snapshot_dump_fn *dump, void *arg);
/* Checks the file completely (header, sizes, checksum of everything) and fills info (free it
 * with snapshot_info_free). 0, or -1 with why set. */
int snapshot_check(int dir_fd, const char *name, snapshot_info_t *info, char *why,
                   size_t why_size);
/* Streams the body of a checked file to load. 0 or load's (or a read's) negative code. */
int snapshot_load(int dir_fd, const char *name, const snapshot_info_t *info,
                  snapshot_load_fn *load, void *arg);
void snapshot_info_free(snapshot_info_t *info);
/* Indexes of the snap-*.snap files in the directory, newest first (*indexes: caller frees). */
int snapshot_list(int dir_fd, uint64_t **indexes, size_t *count);
/* Removes every *.tmp file (writes a crash interrupted); 1 if any was removed, 0, or -errno. */
int storage_remove_temp_files(int dir_fd);

#endif
