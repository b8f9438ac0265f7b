/* lb stream: a proxied TCP connection's read window and single in-flight write (worker.h). */
#include <assert.h>
#include <string.h>

#include "lb/worker.h"

void lb_stream_init(lb_stream_t *s, char *buf, uint32_t cap) {
    assert(buf);
    assert(cap > 0);
    memset(s, 0, sizeof *s);
    s->buf = buf;
    s->cap = cap;
}

static void stream_alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *out) {
    (void)suggested;
    lb_stream_t *s = (lb_stream_t *)h;
    out->base = s->buf + s->tail;
    out->len = s->cap - s->tail; /* 0 when full: libuv then reports UV_ENOBUFS */
}

static void stream_read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *b) {
    (void)b;
    lb_stream_t *s = (lb_stream_t *)h;
    if (nread == 0) {
        return;
    }
    if (nread == UV_ENOBUFS) {
        lb_stream_sync(s);
        return;
    }
    if (nread > 0) {
        s->tail += (uint32_t)nread;
        assert(s->tail <= s->cap);
    } else if (nread == UV_EOF) {
        s->eof = 1;
        s->reading = 0; /* libuv stops reading at EOF */
    }
    s->on_read(s, nread);
    /* The owner may have closed the stream: the memory lives until the close callback. */
    if (!s->closing) {
        lb_stream_sync(s);
    }
}

void lb_stream_sync(lb_stream_t *s) {
    if (s->closing) {
        return;
    }
    uint32_t from = s->retain ? s->keep : s->head; /* the first byte still needed */
    if (!s->held) {
        if (s->head == s->tail && from == s->head && s->head != 0) {
            s->head = s->tail = s->keep = 0; /* empty: start again at the front */
            s->moves++;
        } else if (s->tail == s->cap && from > 0) {
            memmove(s->buf, s->buf + from, s->tail - from);
            s->head -= from;
            s->tail -= from;
            s->keep = s->retain ? 0 : s->keep;
            s->moves++;
        }
    }
    int want = s->want_read && !s->held && !s->eof && s->tail < s->cap;
    if (want && !s->reading) {
        if (uv_read_start((uv_stream_t *)&s->tcp, stream_alloc_cb, stream_read_cb) == 0) {
            s->reading = 1;
        }
    } else if (!want && s->reading) {
        uv_read_stop((uv_stream_t *)&s->tcp);
        s->reading = 0;
    }
}

static void stream_write_cb(uv_write_t *req, int status) {
    lb_stream_t *s = (lb_stream_t *)req->handle;
    s->writing = 0;
    if (s->closing) {
        return;
    }
    s->on_written(s, status);
}

int lb_stream_write(lb_stream_t *s, uv_buf_t *bufs, unsigned n) {
    assert(!s->writing);
    assert(!s->closing);
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        total += bufs[i].len;
    }
    if (total == 0) {
        return 0;
    }
    int r = uv_try_write((uv_stream_t *)&s->tcp, bufs, n);
    if (r >= 0 && (size_t)r == total) {
        return 0;
    }
    if (r < 0 && r != UV_EAGAIN) {
        return r;
    }
    size_t done = r < 0 ? 0 : (size_t)r;
    unsigned i = 0;
    while (done >= bufs[i].len) {
        done -= bufs[i].len;
        i++;
    }
    bufs[i].base += done;
    bufs[i].len -= done;
    int rc = uv_write(&s->wreq, (uv_stream_t *)&s->tcp, bufs + i, n - i, stream_write_cb);
    if (rc < 0) {
        return rc;
    }
    s->writing = 1;
    return 1;
}

static void stream_shutdown_cb(uv_shutdown_t *req, int status) {
    lb_stream_t *s = (lb_stream_t *)req->handle;
    s->shut = 2;
    if (s->closing) {
        return;
    }
    s->on_written(s, status);
}

void lb_stream_shutdown(lb_stream_t *s) {
    if (s->shut || s->closing) {
        return;
    }
    s->shut = 1;
    if (uv_shutdown(&s->sreq, (uv_stream_t *)&s->tcp, stream_shutdown_cb) < 0) {
        s->shut = 2; /* already gone: nothing to wait for */
    }
}

void lb_stream_close(lb_stream_t *s, uv_close_cb close_cb) {
    if (s->closing) {
        return;
    }
    s->closing = 1;
    s->reading = 0;
    uv_close((uv_handle_t *)&s->tcp, close_cb);
}
