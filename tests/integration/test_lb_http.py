"""polis lb speaks HTTP/1.1 as a reverse proxy should (real lb, real backends)."""
import base64
import hashlib
import json
import os
import socket

from lb_helpers import PATTERN, backend_flags, env, ws_frame, ws_read  # noqa: F401


def raw(lb, data, timeout=10):
    """Sends bytes on a fresh connection; returns everything received until the close."""
    s = socket.create_connection(("127.0.0.1", lb.port), timeout=timeout)
    s.sendall(data)
    out = b""
    while True:
        piece = s.recv(65536)
        if not piece:
            break
        out += piece
    s.close()
    return out


def status_of(response):
    return int(response.split(b" ", 2)[1])


def test_forwarded_headers_name_the_client_and_keep_earlier_hops(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]))
    _, headers, _ = lb.get("/")
    assert headers["X-Seen-XFF"] == "127.0.0.1"
    assert headers["X-Seen-XFP"] == "http"
    _, headers, _ = lb.get("/", headers={"X-Forwarded-For": "10.1.2.3",
                                        "X-Forwarded-Proto": "spoofed"})
    assert headers["X-Seen-XFF"] == "10.1.2.3, 127.0.0.1"
    assert headers["X-Seen-XFP"] == "http"


def test_chunked_request_and_chunked_response_pass_through(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]))
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"hello ", b"chunked ", b"world"))
    conn = lb.conn()
    conn.putrequest("POST", "/echo")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(body + b"0\r\n\r\n")
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert r.read() == b"hello chunked world"
    status, headers, data = lb.get("/chunked", conn=conn)  # the same connection goes on
    assert (status, data) == (200, b"first second third")
    conn.close()


def test_a_50_mb_body_streams_both_ways_without_being_buffered(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]))
    size = 50 << 20
    conn = lb.conn(timeout=60)
    conn.putrequest("POST", "/sha")
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    for _ in range(50):
        conn.send(PATTERN)
    r = conn.getresponse()
    result = json.loads(r.read())
    expected = hashlib.sha256(PATTERN * 50).hexdigest()
    assert result == {"len": size, "sha256": expected}
    for query in ("mb=50", "mb=50&chunked=1"):
        conn.request("GET", "/big?" + query)
        r = conn.getresponse()
        h, n = hashlib.sha256(), 0
        while True:
            piece = r.read(1 << 20)
            if not piece:
                break
            h.update(piece)
            n += len(piece)
        assert (n, h.hexdigest()) == (size, expected)
    conn.close()
    with open("/proc/%d/status" % lb.proc.pid) as f:
        peak_kb = int([ln for ln in f if ln.startswith("VmHWM")][0].split()[1])
    assert peak_kb < 40 * 1024, "peak RSS %d KB: the body was buffered" % peak_kb


def test_pipelined_requests_are_answered_in_order(env):
    backends = env.backends(2)
    lb = env.lb(*backend_flags(backends))
    reqs = b"".join(b"GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(6))
    out = raw(lb, reqs + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    paths = [line.split(b": ")[1] for line in out.split(b"\r\n") if line.startswith(b"X-Path")]
    assert paths == [b"/p%d" % i for i in range(6)] + [b"/last"]
    assert out.count(b"HTTP/1.1 200") == 7


def test_backend_connections_are_kept_alive_and_reused(env):
    backends = env.backends(2)
    lb = env.lb(*backend_flags(backends))
    conns = {b.name: set() for b in backends}
    client = lb.conn()
    for _ in range(50):
        _, headers, _ = lb.get("/", conn=client)
        conns[headers["X-Backend"]].add(headers["X-Conn"])
    client.close()
    for _ in range(20):  # new client connections still ride the pooled backend ones
        _, headers, _ = lb.get("/")
        conns[headers["X-Backend"]].add(headers["X-Conn"])
    assert all(len(ids) == 1 for ids in conns.values()), conns
    total = sum(s["connections"] for s in lb.status()["backends"][0]["servers"])
    assert total == 2


def test_websocket_upgrade_is_tunnelled_and_echoes(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]))
    s = socket.create_connection(("127.0.0.1", lb.port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    f = s.makefile("rb")
    assert f.readline().startswith(b"HTTP/1.1 101")
    head = {}
    while True:
        line = f.readline().strip()
        if not line:
            break
        k, v = line.split(b": ", 1)
        head[k.lower()] = v
    guid = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
    assert head[b"sec-websocket-accept"] == base64.b64encode(
        hashlib.sha1(key.encode() + guid).digest())
    for text in (b"hello", b"through polis lb", b"x" * 300):
        s.sendall(ws_frame(text))
        assert ws_read(f) == (1, text)
    s.sendall(ws_frame(b"", opcode=8))
    s.close()


def test_oversize_and_malformed_requests_get_4xx(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]), "--max-header-size", "2048", "--max-headers", "20")
    big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 3000 + b"\r\n\r\n"
    assert status_of(raw(lb, big)) == 431
    many = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(30))
    assert status_of(raw(lb, many + b"\r\n")) == 431
    for bad in (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", b"GARBAGE\r\n\r\n",
                b"GET / HTTP/1.1\r\n\r\n",
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
                b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"):
        assert status_of(raw(lb, bad)) == 400, bad
    assert status_of(raw(lb, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")) == 505
    # The balancer is still fine, and the backend never saw the bad requests.
    assert lb.get("/")[0] == 200


def test_slow_backend_gets_504_after_the_response_timeout(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]), "--timeout-response", "300ms")
    status, _, body = lb.get("/slow?ms=3000")
    assert status == 504
    assert b"timeout" in body
    assert lb.get("/slow?ms=10")[0] == 200


def test_head_requests_and_http10_clients(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]))
    status, headers, body = lb.get("/", method="HEAD")
    assert (status, body) == (200, b"")
    out = raw(lb, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.") and out.endswith(b"b0")  # answered, then closed
