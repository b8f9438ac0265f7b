/* raft_codec: encode and decode raft_msg_t (layout in raft_codec.h). */
#include "raft/raft_codec.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include "core/mem.h"
#include "raft/raft_int.h"

#define HEADER_BYTES (4 + 8 * 8 + 4)
#define ENTRY_HEADER_BYTES (8 + 1 + 4)
#define SNAPSHOT_FIXED_BYTES (8 + 8 + 1 + 1 + 8 + 8 + 4)

size_t raft_msg_encoded_size(const raft_msg_t *m) {
    size_t n = HEADER_BYTES;
    for (uint32_t i = 0; i < m->entries_count; i++) {
        n += ENTRY_HEADER_BYTES + m->entries[i].len;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        const raft_conf_t *c = &m->snapshot.conf;
        n +=
            SNAPSHOT_FIXED_BYTES + 8 * (size_t)(c->voters_count + c->learners_count) + m->chunk_len;
    }
    return n;
}

static void encode_snapshot(const raft_msg_t *m, buf_t *out) {
    const raft_conf_t *c = &m->snapshot.conf;
    raft_put_u64(out, m->snapshot.index);
    raft_put_u64(out, m->snapshot.term);
    raft_put_u8(out, (uint8_t)c->voters_count);
    for (uint32_t i = 0; i < c->voters_count; i++) {
        raft_put_u64(out, c->voters[i]);
    }
    raft_put_u8(out, (uint8_t)c->learners_count);
    for (uint32_t i = 0; i < c->learners_count; i++) {
        raft_put_u64(out, c->learners[i]);
    }
    raft_put_u64(out, m->snapshot_size);
    raft_put_u64(out, m->snapshot_offset);
    raft_put_u32(out, m->chunk_len);
    buf_append(out, m->chunk, m->chunk_len);
}

int raft_msg_encode(const raft_msg_t *m, buf_t *out) {
    assert(m && out);
    if (m->type < RAFT_MSG_APPEND || m->type >= RAFT_MSG_TYPE_END || m->flags > 0xffff) {
        return -EINVAL;
    }
    const raft_conf_t *c = &m->snapshot.conf;
    if (m->entries_count > RAFT_MSG_ENTRIES_MAX || m->chunk_len > RAFT_SNAPSHOT_CHUNK_MAX ||
        c->voters_count > RAFT_MEMBERS_MAX || c->learners_count > RAFT_MEMBERS_MAX ||
        raft_msg_encoded_size(m) > RAFT_WIRE_BYTES_MAX) {
        return -EMSGSIZE;
    }
    buf_reserve(out, raft_msg_encoded_size(m));
    raft_put_u8(out, RAFT_CODEC_VERSION);
    raft_put_u8(out, (uint8_t)m->type);
    raft_put_u16(out, (uint16_t)m->flags);
    const uint64_t fields[8] = {m->from,  m->to,     m->term,        m->log_term,
                                m->index, m->commit, m->reject_hint, m->context};
    for (int i = 0; i < 8; i++) {
        raft_put_u64(out, fields[i]);
    }
    raft_put_u32(out, m->entries_count);
    for (uint32_t i = 0; i < m->entries_count; i++) {
        const raft_entry_t *e = &m->entries[i];
        raft_put_u64(out, e->term);
        raft_put_u8(out, (uint8_t)e->type);
        raft_put_u32(out, e->len);
        buf_append(out, e->data, e->len);
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        encode_snapshot(m, out);
    }
    return 0;
}

static bool decode_conf_ids(raft_reader_t *rd, uint64_t *ids, uint32_t *count) {
    *count = (uint32_t)raft_get_le(rd, 1);
    if (*count > RAFT_MEMBERS_MAX) {
        return false;
    }
    for (uint32_t i = 0; i < *count; i++) {
        ids[i] = raft_get_le(rd, 8);
    }
    return !rd->bad;
}

static bool decode_snapshot(raft_reader_t *rd, raft_msg_t *m) {
    raft_conf_t *c = &m->snapshot.conf;
    m->snapshot.index = raft_get_le(rd, 8);
    m->snapshot.term = raft_get_le(rd, 8);
    if (!decode_conf_ids(rd, c->voters, &c->voters_count) ||
        !decode_conf_ids(rd, c->learners, &c->learners_count) ||
        c->voters_count + c->learners_count > RAFT_MEMBERS_MAX) {
        return false;
    }
    m->snapshot_size = raft_get_le(rd, 8);
    m->snapshot_offset = raft_get_le(rd, 8);
    m->chunk_len = (uint32_t)raft_get_le(rd, 4);
    if (rd->bad || m->snapshot_size > RAFT_SNAPSHOT_BYTES_MAX ||
        m->chunk_len > RAFT_SNAPSHOT_CHUNK_MAX || m->snapshot_offset > m->snapshot_size ||
        m->chunk_len > m->snapshot_size - m->snapshot_offset) {
        return false;
    }
    m->chunk = raft_get_bytes(rd, m->chunk_len);
    return !rd->bad;
}

static bool decode_entries(raft_reader_t *rd, raft_msg_t *m, uint32_t count) {
    /* Each entry needs at least its header: refuse counts the bytes cannot hold before
     * allocating for them. */
    if (count > RAFT_MSG_ENTRIES_MAX || (size_t)(rd->end - rd->p) / ENTRY_HEADER_BYTES < count) {
        return false;
    }
    if (count == 0) {
        return true;
    }
    if (m->type != RAFT_MSG_APPEND || m->index > UINT64_MAX - count) {
        return false;
    }
    raft_entry_t *entries = mem_calloc(count, sizeof *entries);
    m->entries = entries;
    m->entries_count = count;
    for (uint32_t i = 0; i < count; i++) {
        raft_entry_t *e = &entries[i];
        e->index = m->index + 1 + i;
        e->term = raft_get_le(rd, 8);
        e->type = (uint32_t)raft_get_le(rd, 1);
        e->len = (uint32_t)raft_get_le(rd, 4);
        if (rd->bad || e->len > RAFT_ENTRY_BYTES_MAX || e->type > RAFT_ENTRY_CONF) {
            return false;
        }
        e->data = (char *)raft_get_bytes(rd, e->len);
        if (rd->bad) {
            return false;
        }
    }
    return true;
}

int raft_msg_decode(const void *data, size_t len, raft_msg_t *m) {
    assert(m);
    memset(m, 0, sizeof *m);
    if (!data || len < HEADER_BYTES || len > RAFT_WIRE_BYTES_MAX) {
        return -EBADMSG;
    }
    raft_reader_t rd = {data, (const uint8_t *)data + len, false};
    uint64_t version = raft_get_le(&rd, 1);
    m->type = (uint32_t)raft_get_le(&rd, 1);
    m->flags = (uint32_t)raft_get_le(&rd, 2);
    uint64_t *fields[8] = {&m->from,  &m->to,     &m->term,        &m->log_term,
                           &m->index, &m->commit, &m->reject_hint, &m->context};
    for (int i = 0; i < 8; i++) {
        *fields[i] = raft_get_le(&rd, 8);
    }
    uint32_t count = (uint32_t)raft_get_le(&rd, 4);
    bool ok = version == RAFT_CODEC_VERSION && m->type >= RAFT_MSG_APPEND &&
              m->type < RAFT_MSG_TYPE_END && decode_entries(&rd, m, count);
    if (ok && m->type == RAFT_MSG_SNAPSHOT) {
        ok = decode_snapshot(&rd, m);
    }
    if (!ok || rd.bad || rd.p != rd.end) {
        raft_msg_release(m);
        return -EBADMSG;
    }
    return 0;
}

void raft_msg_release(raft_msg_t *m) {
    mem_free((void *)m->entries);
    m->entries = NULL;
    m->entries_count = 0;
}
