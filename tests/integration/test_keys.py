"""Generic key commands against polis and redis-server side by side (see kvdiff.py). Replies
whose order is a hash-table accident (KEYS, SCAN) are compared as sets."""
from kvdiff import assert_same, kv_servers, pair, parse  # noqa: F401


def test_del_unlink_exists_touch_type_match_redis(pair):
    assert_same(*pair, [
        ("MSET", "a", "1", "b", "2", "c", "3"), ("HSET", "h", "f", "v"),
        ("EXISTS", "a", "a", "b", "nope"), ("TOUCH", "a", "b", "nope"),
        ("TYPE", "a"), ("TYPE", "h"), ("TYPE", "nope"),
        ("DEL", "a", "a", "nope"), ("UNLINK", "b", "h", "nope"), ("EXISTS", "a", "b", "h"),
        ("DEL",), ("UNLINK",), ("EXISTS",), ("TOUCH",), ("TYPE",), ("TYPE", "a", "b"),
    ])


def test_dbsize_flushdb_flushall_match_redis(pair):
    assert_same(*pair, [
        ("DBSIZE",), ("MSET", "a", "1", "b", "2"), ("HSET", "h", "f", "v"), ("DBSIZE",),
        ("FLUSHDB", "BOGUS"), ("FLUSHDB", "ASYNC", "SYNC"), ("FLUSHDB", "sync"), ("DBSIZE",),
        ("SET", "x", "1"), ("FLUSHALL", "ASYNC"), ("DBSIZE",), ("SET", "y", "1"),
        ("FLUSHALL", "x"), ("FLUSHALL",), ("DBSIZE",), ("DBSIZE", "x"),
    ])


def test_rename_renamenx_match_redis(pair):
    assert_same(*pair, [
        ("RENAME", "nope", "x"), ("RENAMENX", "nope", "x"),
        ("SET", "a", "1"), ("RENAME", "a", "a"), ("RENAMENX", "a", "a"), ("GET", "a"),
        ("RENAME", "a", "b"), ("GET", "a"), ("GET", "b"),
        ("SET", "c", "3"), ("RENAMENX", "b", "c"), ("RENAMENX", "b", "d"), ("MGET", "b", "c", "d"),
        ("HSET", "h", "f", "v"), ("RENAME", "h", "c"), ("TYPE", "c"), ("HGET", "c", "f"),
        ("SET", "t", "v", "EX", "100"), ("RENAME", "t", "t2"), ("TTL", "t2"), ("TTL", "t"),
        ("SET", "u", "v"), ("RENAME", "u", "t2"), ("TTL", "t2"),
        ("RENAME", "a"), ("RENAMENX", "a", "b", "c"),
    ])


def test_copy_match_redis(pair):
    assert_same(*pair, [
        ("COPY", "nope", "x"), ("SET", "a", "1"), ("COPY", "a", "a"), ("COPY", "a", "b"),
        ("GET", "b"), ("COPY", "a", "b"), ("SET", "a", "2"), ("COPY", "a", "b", "REPLACE"),
        ("GET", "b"), ("COPY", "a", "b", "DB", "0", "REPLACE"),
        ("COPY", "a", "b", "DB", "x"), ("COPY", "a", "b", "DB"), ("COPY", "a", "b", "BOGUS"),
        ("COPY", "a", "b", "DB", "99999999999"),
        ("HSET", "h", "f", "v", "g", "w"), ("COPY", "h", "h2"), ("HGETALL", "h2"),
        ("HSET", "h2", "f", "changed"), ("HGET", "h", "f"), ("HGET", "h2", "f"),
        ("SET", "t", "v", "EX", "100"), ("COPY", "t", "t2"), ("TTL", "t2"),
        ("COPY", "a"),
    ])


def test_copy_to_another_database_is_refused(pair):
    a, _ = pair
    a.call("SET", "a", "1")
    # polis has database 0 only, so every other index is out of range (Redis' own error).
    assert a.call("COPY", "a", "b", "DB", "1") == b"-ERR DB index is out of range\r\n"
    assert parse(a.call("EXISTS", "b")) == 0


def test_copy_of_large_hash_is_independent(pair):
    a, _ = pair
    fields = []
    for i in range(500):
        fields += ["f%d" % i, "v%d" % i]
    a.call("HSET", "big", *fields)
    assert parse(a.call("COPY", "big", "copy")) == 1
    a.call("HDEL", "big", "f1")
    a.call("HSET", "copy", "f2", "changed")
    assert parse(a.call("HLEN", "big")) == 499 and parse(a.call("HLEN", "copy")) == 500
    assert parse(a.call("HGET", "big", "f2")) == b"v2"
    assert parse(a.call("HGET", "copy", "f1")) == b"v1"
    assert parse(a.call("RENAME", "copy", "moved")) == b"OK"
    assert parse(a.call("HLEN", "moved")) == 500 and parse(a.call("EXISTS", "copy")) == 0


def test_keys_patterns_match_redis_as_sets(pair):
    a, b = pair
    names = ["hello", "hallo", "hxllo", "hllo", "heeeello", "h*llo", "h?llo", "h[a]llo",
             "x\\y", "a-b", "b]c", "UPPER", "lower", "", "key:1", "key:2", "key:10"]
    for c in (a, b):
        for n in names:
            c.call("SET", n, "v")
        c.call("HSET", "hash:1", "f", "v")
    patterns = ["*", "h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h[b-a]llo",
                "h\\*llo", "h\\?llo", "*[", "h[", "[", "\\", "x\\\\y", "key:?", "key:[0-9]*",
                "*-*", "b]*", "[]]*", "h[!a]llo", "UP*", "up*", "", "**", "*:1", "h[\\]]*",
                "h[a-]llo", "[a-", "h*l*o"]
    for p in patterns:
        ours, theirs = parse(a.call("KEYS", p)), parse(b.call("KEYS", p))
        assert sorted(ours) == sorted(theirs), "pattern %r" % p
    assert_same(a, b, [("KEYS",), ("KEYS", "a", "b")])


def test_scan_errors_and_options_match_redis(pair):
    assert_same(*pair, [
        ("SCAN", "x"), ("SCAN", " 1"), ("SCAN", "1x"), ("SCAN", "99999999999999999999999"),
        ("SCAN", "0", "COUNT", "0"), ("SCAN", "0", "COUNT", "x"), ("SCAN", "0", "MATCH"),
        ("SCAN", "0", "BOGUS", "1"), ("SCAN", "0", "TYPE"), ("SCAN", "0"), ("SCAN",),
        ("SET", "k", "v"), ("SCAN", "0", "TYPE", "hash"), ("SCAN", "0", "TYPE", "STRING"),
        ("SCAN", "0", "TYPE", "nosuchtype"), ("SCAN", "0", "MATCH", "k", "COUNT", "5"),
    ])


def scan_all(client, *options, limit=10000):
    cursor, seen, calls = b"0", [], 0
    while True:
        cursor, keys = parse(client.call("SCAN", cursor, *options))
        seen += keys
        calls += 1
        if cursor == b"0" or calls > limit:
            return seen, cursor


def test_scan_returns_every_key_with_match_and_type(pair):
    a, b = pair
    for c in (a, b):
        c.call("MSET", *[x for i in range(600) for x in ("s:%d" % i, "v")])
        for i in range(50):
            c.call("HSET", "h:%d" % i, "f", "v")
    for options in ((), ("COUNT", "7"), ("MATCH", "s:1*"), ("TYPE", "hash"), ("COUNT", "1000")):
        ours, cursor = scan_all(a, *options)
        assert cursor == b"0"
        theirs, _ = scan_all(b, *options)
        assert set(ours) == set(theirs), options


def test_scan_guarantee_holds_while_table_grows_and_shrinks(pair):
    a, _ = pair
    stable = ["stable:%d" % i for i in range(200)]
    a.call("MSET", *[x for k in stable for x in (k, "v")])
    cursor, seen, step = b"0", set(), 0
    while True:
        cursor, keys = parse(a.call("SCAN", cursor, "COUNT", "10"))
        seen.update(keys)
        step += 1
        if step == 3:  # grow the table several times mid-scan
            a.call("MSET", *[x for i in range(5000) for x in ("tmp:%d" % i, "v")])
        if step == 30:  # and shrink it again
            a.call("DEL", *["tmp:%d" % i for i in range(5000)])
        if cursor == b"0" or step > 5000:
            break
    assert cursor == b"0"
    assert {k.encode() for k in stable} <= seen


def test_randomkey_returns_live_keys(pair):
    a, b = pair
    assert_same(a, b, [("RANDOMKEY",), ("RANDOMKEY", "x")])
    a.call("MSET", "x", "1", "y", "2", "z", "3")
    picks = {parse(a.call("RANDOMKEY")) for _ in range(60)}
    assert picks == {b"x", b"y", b"z"}
    a.call("PEXPIRE", "x", "1")
    a.call("PEXPIRE", "y", "1")
    import time
    time.sleep(0.01)
    assert {parse(a.call("RANDOMKEY")) for _ in range(20)} == {b"z"}
