"""Key expiry: the EXPIRE family side by side with redis-server (see kvdiff.py), logical expiry
(an expired key is never returned), active expiry, and expire times surviving a restart."""
import time

from kvdiff import RawClient, assert_same, kv_servers, pair, parse, wait_until  # noqa: F401


def test_expire_family_options_and_errors_match_redis(pair):
    now = int(time.time())
    assert_same(*pair, [
        ("EXPIRE", "nope", "100"), ("SET", "k", "v"), ("TTL", "k"), ("PTTL", "nope"),
        ("EXPIRE", "k", "100"), ("TTL", "k"), ("EXPIRE", "k", "200", "NX"), ("TTL", "k"),
        ("EXPIRE", "k", "300", "XX"), ("TTL", "k"), ("EXPIRE", "k", "100", "GT"), ("TTL", "k"),
        ("EXPIRE", "k", "400", "GT"), ("TTL", "k"), ("EXPIRE", "k", "500", "LT"),
        ("EXPIRE", "k", "50", "LT"), ("TTL", "k"),
        ("SET", "p", "v"), ("EXPIRE", "p", "100", "XX"), ("EXPIRE", "p", "100", "GT"),
        ("TTL", "p"), ("EXPIRE", "p", "100", "LT"), ("TTL", "p"), ("EXPIRE", "p", "100", "NX"),
        ("EXPIRE", "k", "10", "NX", "XX"), ("EXPIRE", "k", "10", "NX", "GT"),
        ("EXPIRE", "k", "10", "GT", "LT"), ("EXPIRE", "k", "10", "XX", "GT"),
        ("EXPIRE", "k", "10", "BOGUS"), ("EXPIRE", "k", "abc"), ("EXPIRE", "k", "1.5"),
        ("EXPIRE", "k", "10", "nx", "nx"),
        ("EXPIRE", "k", "9223372036854775807"), ("EXPIRE", "k", "-9223372036854775808"),
        ("PEXPIRE", "k", "9223372036854775807"), ("EXPIREAT", "k", "9223372036854775807"),
        ("PEXPIREAT", "k", "9223372036854775807"), ("TTL", "k"),
        ("PEXPIRE", "k", "123456789"), ("PTTL", "k"), ("TTL", "k"),
        ("EXPIREAT", "k", str(now + 1000)), ("EXPIRETIME", "k"),
        ("PEXPIREAT", "k", str((now + 2000) * 1000 + 123)), ("PEXPIRETIME", "k"),
        ("EXPIRETIME", "k"), ("EXPIRETIME", "nope"), ("PEXPIRETIME", "p"),
        ("PERSIST", "k"), ("PERSIST", "k"), ("PERSIST", "nope"), ("TTL", "k"),
        ("EXPIRE", "k", "0"), ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIRE", "k", "-10"),
        ("EXISTS", "k"), ("SET", "k", "v"), ("EXPIREAT", "k", "1"), ("EXISTS", "k"),
        ("SET", "k", "v"), ("PEXPIREAT", "k", "0"), ("GET", "k"),
        ("HSET", "h", "f", "v"), ("EXPIRE", "h", "100"), ("TTL", "h"),
        ("EXPIRE", "k"), ("TTL",), ("PTTL", "a", "b"), ("PERSIST",), ("EXPIRETIME",),
    ])


def test_expired_key_is_never_returned(pair):
    a, _ = pair
    a.call("SET", "gone", "v", "PX", "30")
    a.call("HSET", "hgone", "f", "v")
    a.call("PEXPIRE", "hgone", "30")
    a.call("SET", "kept", "v")
    time.sleep(0.08)
    checks = [
        (("GET", "gone"), b"$-1\r\n"), (("EXISTS", "gone", "hgone"), b":0\r\n"),
        (("TTL", "gone"), b":-2\r\n"), (("PTTL", "hgone"), b":-2\r\n"),
        (("TYPE", "gone"), b"+none\r\n"), (("HGET", "hgone", "f"), b"$-1\r\n"),
        (("HLEN", "hgone"), b":0\r\n"), (("STRLEN", "gone"), b":0\r\n"),
        (("KEYS", "*gone"), b"*0\r\n"), (("MGET", "gone", "kept"), b"*2\r\n$-1\r\n$1\r\nv\r\n"),
        (("GETRANGE", "gone", "0", "-1"), b"$0\r\n\r\n"), (("PERSIST", "gone"), b":0\r\n"),
        (("EXPIRE", "gone", "100"), b":0\r\n"), (("POLIS.VERSION", "gone"), b":0\r\n"),
        (("RENAME", "gone", "x"), b"-ERR no such key\r\n"), (("COPY", "gone", "x"), b":0\r\n"),
        (("SET", "gone", "new", "NX"), b"+OK\r\n"), (("GET", "gone"), b"$3\r\nnew\r\n"),
        (("TTL", "gone"), b":-1\r\n"), (("INCR", "hgone"), b":1\r\n"),
    ]
    for cmd, want in checks:
        assert a.call(*cmd) == want, cmd
    cursor, keys = b"0", []
    while True:
        cursor, batch = parse(a.call("SCAN", cursor))
        keys += batch
        if cursor == b"0":
            break
    assert sorted(keys) == [b"gone", b"hgone", b"kept"]


def test_active_expiry_removes_keys_nobody_reads(pair):
    a, _ = pair
    a.call("MSET", *[x for i in range(300) for x in ("short:%d" % i, "v")])
    for i in range(300):
        a.send("PEXPIRE", "short:%d" % i, "20")
    for _ in range(300):
        a.read()
    a.call("SET", "long", "v", "EX", "1000")
    a.call("SET", "forever", "v")
    assert wait_until(lambda: parse(a.call("DBSIZE")) == 2, timeout=10)
    assert parse(a.call("TTL", "long")) > 900
    assert parse(a.call("GET", "forever")) == b"v"


def test_expire_times_and_values_survive_restart(polis_factory):
    node = polis_factory()
    c = RawClient(node.port)
    c.call("SET", "ttl", "v", "EX", "1000")
    c.call("SET", "soon", "v", "PX", "300")
    c.call("HSET", "h", "f", "v")
    c.call("PEXPIREAT", "h", str(int(time.time() * 1000) + 500000))
    deadline = parse(c.call("PEXPIRETIME", "h"))
    c.close()
    node.stop()
    time.sleep(0.4)
    node.start()
    c = RawClient(node.port)
    assert 990 <= parse(c.call("TTL", "ttl")) <= 1000
    assert parse(c.call("PEXPIRETIME", "h")) == deadline
    assert parse(c.call("EXISTS", "soon")) == 0
    assert parse(c.call("HGET", "h", "f")) == b"v"
    c.close()
