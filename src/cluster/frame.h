/* frame: the cluster bus wire format, a pure codec (no I/O, no clock reads).
 *
 * A frame is a fixed 36-byte header, the payload, and an HMAC-SHA256 trailer over both:
 *
 *   offset  size  field
 *        0     4  magic "PLBS" (0x504C4253, big-endian like every integer here)
 *        4     1  version (BUS_FRAME_VERSION)
 *        5     1  flags (reserved, must be 0)
 *        6     2  message type
 *        8     4  payload length (at most BUS_FRAME_PAYLOAD_MAX)
 *       12     4  sender node id
 *       16     4  destination node id
 *       20     8  sequence number on this connection
 *       28     8  sender's hybrid logical clock stamp
 *       36     N  payload
 *     36+N    32  HMAC-SHA256(key, bytes 0 .. 36+N)
 *
 * The design (handshake, keys, batching) is in docs/ARCHITECTURE.md, "Cluster bus". */
#ifndef POLIS_CLUSTER_FRAME_H
#define POLIS_CLUSTER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/hlc.h"

#define BUS_FRAME_MAGIC 0x504C4253u
#define BUS_FRAME_VERSION 1
#define BUS_FRAME_HEADER_SIZE 36
#define BUS_FRAME_MAC_SIZE 32
/* Largest payload one frame carries; bigger messages (snapshots) are chunked by their owner. */
#define BUS_FRAME_PAYLOAD_MAX (8u << 20)
#define BUS_FRAME_SIZE_MAX (BUS_FRAME_HEADER_SIZE + BUS_FRAME_PAYLOAD_MAX + BUS_FRAME_MAC_SIZE)
/* Longest MAC key accepted (the cluster secret, or a derived session key). */
#define BUS_MAC_KEY_MAX 256

typedef struct bus_frame {
    uint16_t type;
    uint32_t from;
    uint32_t to;
    uint64_t seq;
    stamp_t stamp;
    const uint8_t *payload; /* decode: points into the input buffer */
    uint32_t payload_len;
} bus_frame_t;

/* A keyed HMAC-SHA256 context, set up once per key and reused for every frame. */
typedef struct bus_mac bus_mac_t;

/* Creates a MAC context for key (1..BUS_MAC_KEY_MAX bytes). 0, -EINVAL, or -EIO (OpenSSL). */
int bus_mac_create(const void *key, size_t key_len, bus_mac_t **out);
void bus_mac_free(bus_mac_t *mac);
/* HMAC-SHA256 of the n bytes at p into out. 0 or -EIO. */
int bus_mac_compute(bus_mac_t *mac, const void *p, size_t n, uint8_t out[BUS_FRAME_MAC_SIZE]);

/* Bytes a frame with this payload occupies on the wire. */
static inline size_t bus_frame_size(uint32_t payload_len) {
    return BUS_FRAME_HEADER_SIZE + (size_t)payload_len + BUS_FRAME_MAC_SIZE;
}

/* Appends the encoded frame to out. 0, -EMSGSIZE (payload over the limit) or -EIO. */
int bus_frame_encode(buf_t *out, const bus_frame_t *frame, bus_mac_t *mac);

/* Validates the header at p without the payload: 0 and *frame_size when the header is sound,
 * -EAGAIN when fewer than BUS_FRAME_HEADER_SIZE bytes are there, -EPROTO for a bad magic or
 * flags, -EPROTONOSUPPORT for another version, -EMSGSIZE for a payload over the limit. */
int bus_frame_check_header(const uint8_t *p, size_t len, size_t *frame_size);

/* Decodes the first frame of the len bytes at p and checks its MAC in constant time.
 * Returns 0 with *out filled (out->payload points into p, valid as long as p) and *consumed set
 * to the frame's size; -EAGAIN when the frame is not complete yet; the errors of
 * bus_frame_check_header; -EBADMSG when the MAC does not match. */
int bus_frame_decode(const uint8_t *p, size_t len, bus_mac_t *mac, bus_frame_t *out,
                     size_t *consumed);

#endif
