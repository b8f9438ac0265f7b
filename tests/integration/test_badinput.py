"""Bad input never takes the server down: random bytes, absurd lengths, unterminated lines,
oversized buffers and 10,000 idle connections each get an error or a clean close, while other
clients keep their data and their service."""
import random
import resource
import socket
import time

import pytest

from harness import raw_exchange


def assert_error_or_clean_close(out):
    assert out.endswith(b"<CLOSED>") or out.startswith(b"-") or out == b"", out[:200]


def assert_other_clients_unaffected(node, before):
    client = node.client()
    assert client.ping()
    for key, value in before.items():
        assert client.get(key) == value
    client.set("after", "still-serving")
    assert client.get("after") == b"still-serving"


@pytest.fixture
def node_with_data(polis_factory):
    node = polis_factory()
    data = {"k%d" % i: b"v%d" % i for i in range(50)}
    node.client().mset(data)
    return node, data


def test_random_bytes_get_an_error_or_a_clean_close(node_with_data):
    node, data = node_with_data
    rng = random.Random(20261124)
    for i in range(60):
        junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000)))
        if i % 3 == 0:
            junk = b"*" + junk  # multibulk-looking garbage
        elif i % 3 == 1:
            junk = b"*3\r\n$3\r\nSET\r\n$" + junk
        with socket.create_connection(("127.0.0.1", node.port)) as s:
            s.sendall(junk)
            s.shutdown(socket.SHUT_WR)  # the client is done: EOF must close cleanly
            s.settimeout(5)
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        assert b"\r\n" in out or out == b"" or out.startswith(b"-")
        assert node.alive()
    assert_other_clients_unaffected(node, data)


def test_huge_multibulk_count_reserves_nothing_and_closes_cleanly(node_with_data):
    node, data = node_with_data
    with socket.create_connection(("127.0.0.1", node.port)) as s:
        s.sendall(b"*2147483647\r\n" + b"$1\r\na\r\n" * 1000)
        time.sleep(0.2)
        used = node.client().info("memory")["used_memory"]
        assert used < 64 * 1024 * 1024  # no argv array sized by the announced count
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert s.recv(100) == b""  # no reply: the command never completed; a clean close
    assert_other_clients_unaffected(node, data)


def test_endless_multibulk_is_closed_at_the_query_buffer_limit(polis_factory):
    node = polis_factory("--client-query-buffer-limit", "1mb")
    with socket.create_connection(("127.0.0.1", node.port)) as s:
        s.sendall(b"*2147483647\r\n")
        chunk = b"$5\r\nhello\r\n" * 10000
        closed = False
        for _ in range(40):  # 4 MB at most, 4 times the limit
            try:
                s.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        if not closed:
            s.settimeout(5)
            try:
                closed = s.recv(100) == b""
            except ConnectionResetError:
                closed = True
        assert closed
    assert "max query buffer" in node.read_log()
    assert_other_clients_unaffected(node, {})


def test_bulk_length_over_the_limit_is_a_protocol_error(node_with_data):
    node, data = node_with_data
    out = raw_exchange(node.port, b"*2\r\n$3\r\nGET\r\n$536870913\r\n")
    assert out == b"-ERR Protocol error: invalid bulk length\r\n<CLOSED>"
    node.client().config_set("proto-max-bulk-len", "1mb")
    out = raw_exchange(node.port, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n" + b"x" * 1000)
    assert out == b"-ERR Protocol error: invalid bulk length\r\n<CLOSED>"
    assert_other_clients_unaffected(node, data)


def test_unterminated_lines(node_with_data):
    node, data = node_with_data
    out = raw_exchange(node.port, b"x" * (64 * 1024 + 100))
    assert out == b"-ERR Protocol error: too big inline request\r\n<CLOSED>"
    out = raw_exchange(node.port, b"*" + b"1" * (64 * 1024 + 100))
    assert out == b"-ERR Protocol error: too big mbulk count string\r\n<CLOSED>"
    out = raw_exchange(node.port, b"*1\r\n$" + b"1" * (64 * 1024 + 100))
    assert out == b"-ERR Protocol error: too big bulk count string\r\n<CLOSED>"
    # A short unterminated line just waits; closing the socket ends it cleanly.
    with socket.create_connection(("127.0.0.1", node.port)) as s:
        s.sendall(b"SET k v")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        assert s.recv(100) == b""
    assert_other_clients_unaffected(node, data)


def test_maxclients_rejects_with_redis_error(polis_factory):
    node = polis_factory("--maxclients", "3")
    held = [socket.create_connection(("127.0.0.1", node.port)) for _ in range(3)]
    try:
        time.sleep(0.1)
        out = raw_exchange(node.port, b"PING\r\n")
        # The PING was never read, so the kernel may answer the close with a reset.
        assert out in (b"-ERR max number of clients reached\r\n<CLOSED>",
                       b"-ERR max number of clients reached\r\n<RESET>")
        assert raw_exchange(node.port, b"") == b"-ERR max number of clients reached\r\n<CLOSED>"
    finally:
        for s in held:
            s.close()
    time.sleep(0.1)
    client = node.client()
    assert client.ping()
    assert client.info("stats")["rejected_connections"] == 2


def test_ten_thousand_idle_connections(polis_factory):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 10200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 10500), hard))
    node = polis_factory("--maxclients", "10100", "--persistence", "off")
    client = node.client()
    client.set("before", "idle")
    conns = []
    try:
        for _ in range(10000):
            conns.append(socket.create_connection(("127.0.0.1", node.port)))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if client.info("clients")["connected_clients"] >= 10001:
                break
            time.sleep(0.1)
        assert client.info("clients")["connected_clients"] == 10001
        assert client.get("before") == b"idle"
        # Some of the idle ones talk, the rest stay silent.
        for s in conns[::1000]:
            s.sendall(b"PING\r\n")
            s.settimeout(5)
            assert s.recv(100) == b"+PONG\r\n"
    finally:
        for s in conns:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if client.info("clients")["connected_clients"] == 1:
            break
        time.sleep(0.1)
    assert client.info("clients")["connected_clients"] == 1
    assert client.get("before") == b"idle"
    assert node.alive()
