"""Differential testing of keyspace commands: the same commands go to polis and to a real
redis-server, and the raw RESP replies must be the same bytes.

    peer = RedisPeer(tmp_dir)            # a redis-server 7 on a free port, no persistence
    a, b = RawClient(polis_port), RawClient(peer.port)
    assert_same(a, b, [("SET", "k", "v"), ("GET", "k")])
    peer.stop()

RawClient speaks RESP itself (no client library in between), so the comparison covers every
byte: the reply type, error texts, null encodings and RESP3 types after HELLO 3.
"""
import os
import shutil
import socket
import subprocess
import time

from harness import free_port, wait_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RawClient:
    """A blocking RESP client that returns each reply as its exact bytes."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("connection closed")
        self.buf += chunk

    def _line(self, pos):
        while True:
            end = self.buf.find(b"\r\n", pos)
            if end >= 0:
                return end
            self._fill()

    def _reply_end(self, pos):
        """Index just past the complete reply starting at pos (reads more as needed)."""
        end = self._line(pos)
        kind, head = self.buf[pos:pos + 1], self.buf[pos + 1:end]
        after = end + 2
        if kind in b"+-:,#_(":
            return after
        if kind in b"$=!":
            n = int(head)
            if n < 0:
                return after
            while len(self.buf) < after + n + 2:
                self._fill()
            return after + n + 2
        if kind in b"*~%>|":
            n = int(head)
            if n < 0:
                return after
            if kind in b"%|":
                n *= 2
            for _ in range(n):
                after = self._reply_end(after)
            return after
        raise ValueError("bad reply byte %r" % kind)

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def read(self):
        end = self._reply_end(0)
        reply, self.buf = self.buf[:end], self.buf[end:]
        return reply

    def call(self, *args):
        self.send(*args)
        return self.read()


def parse(raw):
    """Decodes one raw reply into Python values (bytes, int, list, None, or an Exception)."""
    value, _ = _parse(raw, 0)
    return value


def _parse(raw, pos):
    end = raw.index(b"\r\n", pos)
    kind, head = raw[pos:pos + 1], raw[pos + 1:end]
    after = end + 2
    if kind == b"+":
        return head, after
    if kind == b"-":
        return Exception(head.decode(errors="replace")), after
    if kind == b":":
        return int(head), after
    if kind == b"_":
        return None, after
    if kind in b"$=":
        n = int(head)
        if n < 0:
            return None, after
        return raw[after:after + n], after + n + 2
    if kind in b"*~%":
        n = int(head)
        if n < 0:
            return None, after
        items = []
        for _ in range(n * (2 if kind == b"%" else 1)):
            item, after = _parse(raw, after)
            items.append(item)
        return items, after
    if kind in b",#(":
        return head, after
    raise ValueError("bad reply byte %r" % kind)


def assert_same(polis, redis, commands):
    """Sends each command to both servers in turn; fails on the first reply that differs."""
    for cmd in commands:
        got, want = polis.call(*cmd), redis.call(*cmd)
        assert got == want, "command %r:\n  polis: %r\n  redis: %r" % (cmd, got, want)


class RedisPeer:
    """A redis-server 7 started for comparison: no persistence, loopback, its own directory."""

    def __init__(self, tmp_dir):
        self.dir = os.path.join(str(tmp_dir), "redis-peer")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError("redis-server did not start on %d" % self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def wait_until(predicate, timeout=5.0, interval=0.02):
    """Polls predicate until it is true; returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


# ---- fixtures (import them into a test module: `from kvdiff import kv_servers, pair`) ----

import pytest  # noqa: E402

from harness import PolisServer  # noqa: E402


@pytest.fixture(scope="module")
def kv_servers(tmp_path_factory):
    """One polis node and one redis-server for a whole test module."""
    tmp = tmp_path_factory.mktemp("kv")
    node = PolisServer(tmp)
    try:
        peer = RedisPeer(tmp)
    except Exception:
        node.stop()
        raise
    yield node, peer
    node.stop()
    peer.stop()


@pytest.fixture
def pair(kv_servers):
    """(polis, redis) RawClients on empty keyspaces."""
    node, peer = kv_servers
    a, b = RawClient(node.port), RawClient(peer.port)
    assert a.call("FLUSHALL") == b"+OK\r\n"
    assert b.call("FLUSHALL") == b"+OK\r\n"
    yield a, b
    a.close()
    b.close()
