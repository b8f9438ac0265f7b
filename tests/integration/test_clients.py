"""Many clients at once: concurrent writers and readers see consistent data, a client that
does not read its replies only stalls itself, and closing mid-pipeline loses nothing that was
acknowledged."""
import socket
import threading
import time

from kvdiff import RawClient, wait_until


def test_many_concurrent_clients_keep_consistent_counters(polis):
    errors = []

    def worker(n):
        try:
            client = polis.client()
            for i in range(100):
                client.incr("shared")
                client.hincrby("per", "w%d" % n, 1)
                assert client.get("mine:%d" % n) in (None, b"%d" % (i - 1) if i else None)
                client.set("mine:%d" % n, i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    client = polis.client()
    assert client.get("shared") == b"4000"
    assert client.hgetall("per") == {b"w%d" % n: b"100" for n in range(40)}


def test_client_not_reading_its_replies_does_not_stall_others(polis):
    client = polis.client()
    value = b"v" * (1 << 20)
    client.set("big", value)
    slow = socket.create_connection(("127.0.0.1", polis.port))
    slow.sendall(b"GET big\r\n" * 32)  # 32 MiB of replies it does not read yet
    time.sleep(0.3)
    other = polis.client()
    for i in range(50):
        other.set("k%d" % i, i)
        assert other.get("k%d" % i) == b"%d" % i
    # Now it reads everything, in order.
    slow.settimeout(30)
    expected = (b"$%d\r\n" % len(value) + value + b"\r\n") * 32
    got = b""
    while len(got) < len(expected):
        chunk = slow.recv(1 << 20)
        assert chunk
        got += chunk
    assert got == expected
    slow.close()


def test_disconnect_mid_pipeline_keeps_acknowledged_writes(polis):
    raw = RawClient(polis.port)
    raw.sock.sendall(b"".join(b"SET p%d %d\r\n" % (i, i) for i in range(1000)))
    acked = [raw.read() for _ in range(10)]
    assert acked == [b"+OK\r\n"] * 10
    raw.close()
    client = polis.client()
    assert wait_until(lambda: client.info("clients")["connected_clients"] == 1)
    values = client.mget(["p%d" % i for i in range(10)])
    assert values == [b"%d" % i for i in range(10)]
    polis.kill9()
    polis.start()
    assert polis.client().mget(["p%d" % i for i in range(10)]) == values


def test_client_list_shows_every_connection(polis):
    conns = [polis.client() for _ in range(20)]
    for i, c in enumerate(conns):
        c.client_setname("c%d" % i)
    names = {c["name"] for c in conns[0].client_list()}
    assert {"c%d" % i for i in range(20)} <= names
    for c in conns:
        c.close()
