"""polis' own commands: POLIS.VERSION (a key's version is the HLC stamp of its last write),
POLIS.CLOCK (Lamport's receive rule) and POLIS.CAS (compare-and-set on the version)."""
import time

from kvdiff import RawClient, kv_servers, pair, parse  # noqa: F401


def version(c, key):
    return parse(c.call("POLIS.VERSION", key))


def stamp_ms(stamp):
    return stamp >> 16


def test_version_is_zero_for_absent_key_and_grows_with_each_write(pair):
    a, _ = pair
    assert version(a, "k") == 0
    before_ms = int(time.time() * 1000)
    a.call("SET", "k", "v")
    v1 = version(a, "k")
    assert v1 > 0 and abs(stamp_ms(v1) - before_ms) < 5000  # a stamp reads as a time
    a.call("GET", "k")
    a.call("EXISTS", "k")
    assert version(a, "k") == v1  # reads do not change it
    a.call("SET", "k", "v", "NX")
    assert version(a, "k") == v1  # nor writes that change nothing
    a.call("APPEND", "k", "w")
    v2 = version(a, "k")
    a.call("EXPIRE", "k", "100")
    v3 = version(a, "k")
    a.call("HSET", "h", "f", "1")
    h1 = version(a, "h")
    a.call("HINCRBY", "h", "f", "1")
    h2 = version(a, "h")
    assert v1 < v2 < v3 < h1 < h2
    a.call("RENAME", "k", "k2")
    assert version(a, "k") == 0 and version(a, "k2") > h2
    a.call("DEL", "k2")
    assert version(a, "k2") == 0


def test_multi_key_write_stamps_every_key_it_changes_with_one_stamp(pair):
    a, _ = pair
    a.call("MSET", "x", "1", "y", "2", "z", "3")
    assert version(a, "x") == version(a, "y") == version(a, "z") > 0


def test_cas_writes_only_when_version_matches(pair):
    a, _ = pair
    created = parse(a.call("POLIS.CAS", "k", "0", "first"))
    assert created == version(a, "k") > 0
    assert a.call("POLIS.CAS", "k", "0", "again") == b"$-1\r\n"  # exists now: 0 no longer matches
    assert parse(a.call("GET", "k")) == b"first"
    stale = created
    a.call("SET", "k", "changed")
    assert a.call("POLIS.CAS", "k", str(stale), "lost") == b"$-1\r\n"
    assert parse(a.call("GET", "k")) == b"changed"
    current = version(a, "k")
    new = parse(a.call("POLIS.CAS", "k", str(current), "won", "EX", "100"))
    assert new > current and new == version(a, "k")
    assert parse(a.call("GET", "k")) == b"won" and 90 < parse(a.call("TTL", "k")) <= 100
    new2 = parse(a.call("POLIS.CAS", "k", str(new), "kept-ttl", "KEEPTTL"))
    assert new2 > new and parse(a.call("TTL", "k")) > 90
    parse(a.call("POLIS.CAS", "k", str(new2), "no-ttl"))
    assert parse(a.call("TTL", "k")) == -1
    a.call("HSET", "h", "f", "v")
    assert parse(a.call("POLIS.CAS", "h", str(version(a, "h")), "str")) > 0
    assert parse(a.call("TYPE", "h")) == b"string"


def test_cas_argument_errors(pair):
    a, _ = pair
    errors = {
        ("POLIS.CAS", "k", "0"): b"-ERR wrong number of arguments for 'polis.cas' command\r\n",
        ("POLIS.CAS", "k", "x", "v"): b"-ERR value is not an integer or out of range\r\n",
        ("POLIS.CAS", "k", "-1", "v"): b"-ERR value is not an integer or out of range\r\n",
        ("POLIS.CAS", "k", "0", "v", "NX"): b"-ERR syntax error\r\n",
        ("POLIS.CAS", "k", "0", "v", "GET"): b"-ERR syntax error\r\n",
        ("POLIS.CAS", "k", "0", "v", "EX"): b"-ERR syntax error\r\n",
        ("POLIS.CAS", "k", "0", "v", "EX", "0"):
            b"-ERR invalid expire time in 'polis.cas' command\r\n",
        ("POLIS.VERSION",): b"-ERR wrong number of arguments for 'polis.version' command\r\n",
        ("POLIS.CLOCK", "x"): b"-ERR value is not an integer or out of range\r\n",
        ("POLIS.CLOCK", "-5"): b"-ERR value is not an integer or out of range\r\n",
        ("POLIS.CLOCK", "1", "2"): b"-ERR syntax error\r\n",
    }
    for cmd, want in errors.items():
        assert a.call(*cmd) == want, cmd
    assert parse(a.call("EXISTS", "k")) == 0


def test_clock_obeys_lamports_receive_rule(pair):
    a, _ = pair
    a.call("SET", "k", "v")
    seen = version(a, "k")
    plain = parse(a.call("POLIS.CLOCK"))
    assert plain > seen
    future = seen + (3600 * 1000 << 16)  # a stamp from a clock an hour ahead
    merged = parse(a.call("POLIS.CLOCK", str(future)))
    assert merged > future
    a.call("SET", "after", "v")
    assert version(a, "after") > merged  # what happens after the merge is stamped later
    assert parse(a.call("POLIS.CLOCK", "0")) > version(a, "after")


def test_versions_and_clock_are_monotonic_across_restarts(polis_factory):
    node = polis_factory()
    c = RawClient(node.port)
    c.call("SET", "k", "v")
    before = parse(c.call("POLIS.VERSION", "k"))
    ahead = before + (600 * 1000 << 16)  # ten minutes ahead of the wall clock
    merged = parse(c.call("POLIS.CLOCK", str(ahead)))
    c.close()
    node.stop()
    node.start()
    c = RawClient(node.port)
    assert parse(c.call("POLIS.VERSION", "k")) == before  # versions are durable
    c.call("SET", "k2", "v")
    assert parse(c.call("POLIS.VERSION", "k2")) > merged
    assert parse(c.call("POLIS.CLOCK")) > merged
    c.close()
    node.kill9()
    node.start()
    c = RawClient(node.port)
    assert parse(c.call("POLIS.CLOCK")) > merged
    c.close()
