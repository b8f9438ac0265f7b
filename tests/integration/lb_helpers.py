"""Helpers of the load-balancer tests: test backends and a `polis lb` process.

A backend is this file run as a script (`python3 lb_helpers.py PORT NAME`): a threaded
HTTP/1.1 server whose answers say who served them, so tests can count:

    GET  /                 200 "NAME"; headers X-Backend: NAME, X-Conn: the connection's number
                           at this backend, X-Seen-XFF / X-Seen-XFP: what the proxy forwarded
    GET  /slow?ms=N        the same after N ms
    GET  /healthz          200
    GET  /chunked          a chunked response of three chunks
    GET  /big?mb=N         N MiB generated on the fly (add &chunked=1 for chunked framing)
    POST /echo             the body back (chunked in, chunked out)
    POST /sha              {"len": bytes, "sha256": hex} of the body, read as a stream
    ANY  /drop?name=NAME   backend NAME closes the connection without an answer; others 200
    GET  /count            how many requests this backend saw, by method and path
    GET  /ws               WebSocket handshake, then echoes text frames

    lb = Lb(tmp_path, "--backend", b.addr, ...)   # starts bin/polis lb, waits for its port
    lb.get("/"), lb.api("POST", "/api/...", {...}), lb.status(), lb.reload(), lb.stop()
"""
import base64
import collections
import hashlib
import http.client
import http.server
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import POLIS, free_port, wait_port  # noqa: E402

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
PATTERN = bytes(range(256)) * 4096  # 1 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbtest"
    disable_nagle_algorithm = True  # answers are written in pieces: no 40 ms stalls

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.conns += 1
            self.conn_id = self.server.conns

    def read_body(self):
        """Yields the request body in pieces (Content-Length or chunked)."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return
                left = size
                while left:
                    piece = self.rfile.read(min(left, 65536))
                    left -= len(piece)
                    yield piece
                self.rfile.readline()
        left = int(self.headers.get("Content-Length") or 0)
        while left:
            piece = self.rfile.read(min(left, 65536))
            if not piece:
                return
            left -= len(piece)
            yield piece

    def reply(self, status=200, body=b"", headers=()):
        self.send_response(status)
        self.send_header("X-Backend", self.server.name)
        self.send_header("X-Conn", str(self.conn_id))
        self.send_header("X-Seen-XFF", self.headers.get("X-Forwarded-For", ""))
        self.send_header("X-Seen-XFP", self.headers.get("X-Forwarded-Proto", ""))
        self.send_header("X-Path", self.path)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        # Head and body leave in one write. Written apart, a kill -9 between the two cuts the
        # answer after its head reached the client, which no proxy can retry or hide; the
        # health tests kill backends under load and expect every GET to succeed.
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(body)
        self.flush_headers()

    def count(self):
        with self.server.lock:
            self.server.seen[self.command + " " + self.path.split("?")[0]] += 1

    def handle_any(self):
        self.count()
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        route = getattr(self, "do_" + url.path.strip("/").replace("/", "_") + "_", None)
        if route:
            return route(q)
        for _ in self.read_body():
            pass
        self.reply(body=self.server.name.encode())

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    def do_slow_(self, q):
        time.sleep(int(q.get("ms", "1000")) / 1000)
        self.reply(body=self.server.name.encode())

    def do_count_(self, q):
        with self.server.lock:
            body = json.dumps(dict(self.server.seen)).encode()
        self.reply(body=body)

    def do_drop_(self, q):
        for _ in self.read_body():
            pass
        if q.get("name") == self.server.name:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.reply(body=self.server.name.encode())

    def do_chunked_(self, q):
        self.send_response(200)
        self.send_header("X-Backend", self.server.name)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in (b"first ", b"second ", b"third"):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def do_echo_(self, q):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for piece in self.read_body():
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def do_sha_(self, q):
        h, n = hashlib.sha256(), 0
        for piece in self.read_body():
            h.update(piece)
            n += len(piece)
        self.reply(body=json.dumps({"len": n, "sha256": h.hexdigest()}).encode())

    def do_big_(self, q):
        mb = int(q.get("mb", "1"))
        chunked = q.get("chunked") == "1"
        self.send_response(200)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(mb << 20))
        self.end_headers()
        for _ in range(mb):
            self.wfile.write(b"100000\r\n" + PATTERN + b"\r\n" if chunked else PATTERN)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def do_ws_(self, q):
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            frame = ws_read(self.rfile)
            if frame is None or frame[0] == 8:
                return
            self.wfile.write(ws_frame(frame[1], mask=False))
            self.wfile.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def ws_frame(payload, mask=True, opcode=1):
    """One final WebSocket frame (RFC 6455), masked as clients must."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    head += bytes([m | n]) if n < 126 else bytes([m | 126]) + n.to_bytes(2, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_read(f):
    """(opcode, payload) of the next frame from a file-like object, or None at EOF."""
    head = f.read(2)
    if len(head) < 2:
        return None
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(f.read(2), "big")
    key = f.read(4) if head[1] & 0x80 else None
    data = f.read(n)
    if key:
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
    return head[0] & 0x0F, data


def serve(port, name):
    srv = Server(("127.0.0.1", port), Handler)
    srv.name, srv.conns, srv.lock, srv.seen = name, 0, threading.Lock(), collections.Counter()
    srv.serve_forever()


class Backend:
    """A test backend in its own process (so a test can kill -9 it)."""

    def __init__(self, name, port=None):
        self.name, self.port = name, port or free_port()
        self.proc = None
        self.start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def start(self):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(self.port),
                                      self.name])
        if not wait_port(self.port, 10):
            raise RuntimeError("backend %s did not start" % self.name)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def counts(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/count")
        data = json.loads(c.getresponse().read())
        c.close()
        return data


class Lb:
    """A `polis lb` process; flags as given, or a config file written from text."""

    def __init__(self, tmp_path, *args, config=None, admin=True, port=None):
        self.dir = str(tmp_path)
        self.port = port or free_port()
        self.admin_port = free_port() if admin else None
        self.config_path = os.path.join(self.dir, "lb.conf")
        self.args = list(args)
        if config is not None:
            self.write_config(config)
            self.args = ["--config", self.config_path] + self.args
        else:
            self.args = ["--listen", "127.0.0.1:%d" % self.port] + self.args
        if admin:
            self.args += ["--admin", "127.0.0.1:%d" % self.admin_port]
        self.log_path = os.path.join(self.dir, "lb-%d.log" % self.port)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([POLIS, "lb"] + self.args, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        if not wait_port(self.port, 10):
            raise RuntimeError("polis lb did not listen:\n" + self.read_log())

    def write_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text.replace("$PORT", str(self.port)))

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def conn(self, timeout=10, source=None):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                          source_address=(source, 0) if source else None)

    def get(self, path="/", method="GET", body=None, headers=None, conn=None):
        """(status, headers dict, body bytes); one request on conn or on a new connection."""
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, dict(r.getheaders()), data

    def api(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        c.request(method, path, body=json.dumps(body) if body is not None else None)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data

    def status(self):
        status, data = self.api("GET", "/api/status")
        assert status == 200, data
        return json.loads(data)

    def server_state(self, name, backend="main"):
        for b in self.status()["backends"]:
            if b["name"] == backend:
                for s in b["servers"]:
                    if s["name"] == name:
                        return s
        return None

    def reload(self):
        self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Env:
    """Everything a test started; all stopped at the end (the `env` fixture)."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.items = []

    def backend(self, name, port=None):
        b = Backend(name, port)
        self.items.append(b)
        return b

    def backends(self, n):
        return [self.backend("b%d" % i) for i in range(n)]

    def lb(self, *args, **kw):
        lb = Lb(self.tmp, *args, **kw)
        self.items.append(lb)
        return lb

    def close(self):
        for item in reversed(self.items):
            item.stop() if isinstance(item, Lb) else item.kill()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()


def backend_flags(backends, weights=None):
    """--backend flags naming each server after its backend."""
    flags = []
    for i, b in enumerate(backends):
        spec = "%s,name=%s" % (b.addr, b.name)
        if weights:
            spec += ",weight=%d" % weights[i]
        flags += ["--backend", spec]
    return flags


def wait_for(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
