/* frame: the cluster bus frame codec (layout in frame.h, design in docs/ARCHITECTURE.md).
 * HMAC-SHA256 through OpenSSL's EVP_MAC: the key is set once per context, and each frame
 * re-initialises the context with a NULL key, which reuses the prepared key schedule. */
#include "cluster/frame.h"

#include <assert.h>
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/mem.h"

struct bus_mac {
    EVP_MAC_CTX *ctx;
};

int bus_mac_create(const void *key, size_t key_len, bus_mac_t **out) {
    assert(key != NULL);
    assert(out != NULL);
    if (key_len == 0 || key_len > BUS_MAC_KEY_MAX) {
        return -EINVAL;
    }
    EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (!hmac) {
        return -EIO;
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac);
    EVP_MAC_free(hmac); /* the context holds its own reference */
    if (!ctx) {
        return -EIO;
    }
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_init(ctx, key, key_len, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return -EIO;
    }
    bus_mac_t *mac = mem_alloc(sizeof *mac);
    mac->ctx = ctx;
    *out = mac;
    return 0;
}

void bus_mac_free(bus_mac_t *mac) {
    if (!mac) {
        return;
    }
    EVP_MAC_CTX_free(mac->ctx);
    mem_free(mac);
}

int bus_mac_compute(bus_mac_t *mac, const void *p, size_t n, uint8_t out[BUS_FRAME_MAC_SIZE]) {
    assert(mac != NULL);
    assert(p != NULL || n == 0);
    size_t out_len = 0;
    if (EVP_MAC_init(mac->ctx, NULL, 0, NULL) != 1 || EVP_MAC_update(mac->ctx, p, n) != 1 ||
        EVP_MAC_final(mac->ctx, out, &out_len, BUS_FRAME_MAC_SIZE) != 1) {
        return -EIO;
    }
    assert(out_len == BUS_FRAME_MAC_SIZE);
    return 0;
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (24 - 8 * i));
    }
}

static void put_u64(uint8_t *p, uint64_t v) {
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p + 4, (uint32_t)v);
}

static uint16_t get_u16(const uint8_t *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get_u32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static uint64_t get_u64(const uint8_t *p) {
    return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}

int bus_frame_encode(buf_t *out, const bus_frame_t *frame, bus_mac_t *mac) {
    assert(out != NULL);
    assert(frame != NULL && mac != NULL);
    if (frame->payload_len > BUS_FRAME_PAYLOAD_MAX) {
        return -EMSGSIZE;
    }
    size_t size = bus_frame_size(frame->payload_len);
    buf_reserve(out, size);
    uint8_t *p = (uint8_t *)out->data + out->len;
    put_u32(p, BUS_FRAME_MAGIC);
    p[4] = BUS_FRAME_VERSION;
    p[5] = 0;
    put_u16(p + 6, frame->type);
    put_u32(p + 8, frame->payload_len);
    put_u32(p + 12, frame->from);
    put_u32(p + 16, frame->to);
    put_u64(p + 20, frame->seq);
    put_u64(p + 28, frame->stamp);
    if (frame->payload_len) {
        memcpy(p + BUS_FRAME_HEADER_SIZE, frame->payload, frame->payload_len);
    }
    size_t signed_len = BUS_FRAME_HEADER_SIZE + frame->payload_len;
    if (bus_mac_compute(mac, p, signed_len, p + signed_len) != 0) {
        return -EIO;
    }
    out->len += size;
    return 0;
}

int bus_frame_check_header(const uint8_t *p, size_t len, size_t *frame_size) {
    assert(p != NULL || len == 0);
    assert(frame_size != NULL);
    /* Judge what is there as early as possible: a wrong magic shows in its first byte. */
    uint8_t magic[4];
    put_u32(magic, BUS_FRAME_MAGIC);
    for (size_t i = 0; i < 4 && i < len; i++) {
        if (p[i] != magic[i]) {
            return -EPROTO;
        }
    }
    if (len > 4 && p[4] != BUS_FRAME_VERSION) {
        return -EPROTONOSUPPORT;
    }
    if (len > 5 && p[5] != 0) {
        return -EPROTO;
    }
    if (len < BUS_FRAME_HEADER_SIZE) {
        return -EAGAIN;
    }
    uint32_t payload_len = get_u32(p + 8);
    if (payload_len > BUS_FRAME_PAYLOAD_MAX) {
        return -EMSGSIZE;
    }
    *frame_size = bus_frame_size(payload_len);
    return 0;
}

int bus_frame_decode(const uint8_t *p, size_t len, bus_mac_t *mac, bus_frame_t *out,
                     size_t *consumed) {
    assert(mac != NULL && out != NULL);
    assert(consumed != NULL);
    size_t size = 0;
    int rc = bus_frame_check_header(p, len, &size);
    if (rc != 0) {
        return rc;
    }
    if (len < size) {
        return -EAGAIN;
    }
    size_t signed_len = size - BUS_FRAME_MAC_SIZE;
    uint8_t expect[BUS_FRAME_MAC_SIZE];
    if (bus_mac_compute(mac, p, signed_len, expect) != 0) {
        return -EIO;
    }
    if (CRYPTO_memcmp(expect, p + signed_len, BUS_FRAME_MAC_SIZE) != 0) {
        return -EBADMSG;
    }
    out->type = get_u16(p + 6);
    out->payload_len = get_u32(p + 8);
    out->from = get_u32(p + 12);
    out->to = get_u32(p + 16);
    out->seq = get_u64(p + 20);
    out->stamp = get_u64(p + 28);
    out->payload = p + BUS_FRAME_HEADER_SIZE;
    *consumed = size;
    return 0;
}
