/* libFuzzer target for the cluster bus frame decoder (src/cluster/frame.c).
 *
 * Arbitrary bytes are decoded as a stream of frames (as a connection would), which must never
 * crash, read out of bounds or return an inconsistent size. Because random bytes almost never
 * carry a valid MAC, the input is also used as the fields and payload of a frame that is encoded
 * and decoded again: the round trip must be exact, and every truncation must ask for more. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cluster/frame.h"
#include "core/buf.h"

static bus_mac_t *fuzz_mac(void) {
    static bus_mac_t *mac;
    if (!mac) {
        const char key[] = "fuzz cluster secret";
        int rc = bus_mac_create(key, sizeof key - 1, &mac);
        assert(rc == 0);
        (void)rc;
    }
    return mac;
}

static void decode_stream(const uint8_t *data, size_t size) {
    size_t off = 0;
    for (int frames = 0; frames < 64 && off < size; frames++) {
        bus_frame_t f;
        size_t used = 0;
        int rc = bus_frame_decode(data + off, size - off, fuzz_mac(), &f, &used);
        if (rc != 0) {
            assert(rc == -EAGAIN || rc == -EPROTO || rc == -EPROTONOSUPPORT || rc == -EMSGSIZE ||
                   rc == -EBADMSG);
            return;
        }
        assert(used == bus_frame_size(f.payload_len) && used <= size - off);
        off += used;
    }
}

static uint64_t take(const uint8_t *data, size_t size, size_t at, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) {
        v = (v << 8) | (at + (size_t)i < size ? data[at + (size_t)i] : 0);
    }
    return v;
}

static void round_trip(const uint8_t *data, size_t size) {
    bus_frame_t in = {
        .type = (uint16_t)take(data, size, 0, 2),
        .from = (uint32_t)take(data, size, 2, 4),
        .to = (uint32_t)take(data, size, 6, 4),
        .seq = take(data, size, 10, 8),
        .stamp = take(data, size, 18, 8),
        .payload = data,
        .payload_len = (uint32_t)size,
    };
    buf_t b;
    buf_init(&b);
    int rc = bus_frame_encode(&b, &in, fuzz_mac());
    assert(rc == 0);
    bus_frame_t out;
    size_t used = 0;
    rc = bus_frame_decode((const uint8_t *)b.data, b.len, fuzz_mac(), &out, &used);
    assert(rc == 0 && used == b.len);
    assert(out.type == in.type && out.from == in.from && out.to == in.to);
    assert(out.seq == in.seq && out.stamp == in.stamp && out.payload_len == in.payload_len);
    assert(size == 0 || memcmp(out.payload, data, size) == 0);
    size_t cut = size % b.len;
    rc = bus_frame_decode((const uint8_t *)b.data, cut, fuzz_mac(), &out, &used);
    assert(rc == -EAGAIN);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    decode_stream(data, size);
    round_trip(data, size);
    return 0;
}
