"""Hash commands against polis and redis-server side by side (see kvdiff.py). Orders differ
between implementations only where Redis' own order is a hash-table accident (a hash past its
small encoding): those replies are compared as sets."""
from kvdiff import assert_same, kv_servers, pair, parse  # noqa: F401


def pairs_of(flat):
    return {flat[i]: flat[i + 1] for i in range(0, len(flat), 2)}


def test_hset_hget_hmget_and_errors_match_redis(pair):
    assert_same(*pair, [
        ("HSET", "h", "a", "1"), ("HSET", "h", "a", "2", "b", "3"), ("HGET", "h", "a"),
        ("HGET", "h", "zz"), ("HGET", "nohash", "a"), ("HMGET", "h", "a", "b", "c"),
        ("HMGET", "nohash", "a", "b"), ("HSET", "h", "a"), ("HSET", "h", "a", "1", "b"),
        ("HMSET", "h", "c", "4"), ("HMSET", "h", "c"), ("HGETALL", "h"), ("HLEN", "h"),
        ("HSET", "h", "", ""), ("HGET", "h", ""), ("HSET", "h", "bin\x00f", "v\r\nx"),
        ("HGET", "h", "bin\x00f"), ("HGETALL", "h"),
        ("SET", "s", "v"), ("HSET", "s", "a", "1"), ("HGET", "s", "a"), ("HMGET", "s", "a"),
        ("HMSET", "s", "a", "1"), ("HLEN", "s"), ("HGETALL", "s"),
        ("HGET", "h"), ("HMGET", "h"), ("HSET", "h"),
    ])


def test_hsetnx_hdel_hlen_hexists_hstrlen_match_redis(pair):
    assert_same(*pair, [
        ("HSETNX", "h", "a", "1"), ("HSETNX", "h", "a", "2"), ("HGET", "h", "a"),
        ("HSET", "h", "b", "hello", "c", "x"), ("HEXISTS", "h", "b"), ("HEXISTS", "h", "q"),
        ("HEXISTS", "none", "q"), ("HSTRLEN", "h", "b"), ("HSTRLEN", "h", "q"),
        ("HSTRLEN", "none", "q"), ("HLEN", "none"),
        ("HDEL", "h", "a", "a", "q"), ("HDEL", "none", "a"), ("HLEN", "h"),
        ("HDEL", "h", "b", "c"), ("EXISTS", "h"), ("HLEN", "h"),
        ("SET", "s", "v"), ("HSETNX", "s", "a", "1"), ("HDEL", "s", "a"), ("HEXISTS", "s", "a"),
        ("HSTRLEN", "s", "a"), ("HDEL", "h"), ("HSETNX", "h", "a"),
    ])


def test_hkeys_hvals_hgetall_small_hash_order_matches_redis(pair):
    assert_same(*pair, [
        ("HSET", "h", "z", "1", "y", "2", "x", "3"), ("HDEL", "h", "y"), ("HSET", "h", "w", "4"),
        ("HKEYS", "h"), ("HVALS", "h"), ("HGETALL", "h"),
        ("HKEYS", "none"), ("HVALS", "none"), ("HGETALL", "none"),
        ("SET", "s", "v"), ("HKEYS", "s"), ("HVALS", "s"), ("HGETALL", "s"),
    ])


def test_hincrby_hincrbyfloat_match_redis(pair):
    assert_same(*pair, [
        ("HINCRBY", "h", "n", "5"), ("HINCRBY", "h", "n", "-7"), ("HGET", "h", "n"),
        ("HINCRBY", "h", "n", "x"), ("HINCRBY", "h", "n", "1.5"),
        ("HSET", "h", "s", "abc", "big", "9223372036854775807"), ("HINCRBY", "h", "s", "1"),
        ("HINCRBY", "h", "big", "1"), ("HINCRBY", "h", "big", "0"),
        ("HINCRBY", "h", "neg", "-9223372036854775808"), ("HINCRBY", "h", "neg", "-1"),
        ("HINCRBYFLOAT", "h", "f", "1.5"), ("HINCRBYFLOAT", "h", "f", "0.1"), ("HGET", "h", "f"),
        ("HINCRBYFLOAT", "h", "f", "abc"), ("HINCRBYFLOAT", "h", "f", "inf"),
        ("HINCRBYFLOAT", "h", "f", "nan"), ("HINCRBYFLOAT", "h", "s", "1"),
        ("HINCRBYFLOAT", "h", "n", "1e3"), ("HINCRBYFLOAT", "h", "g", "1.7976931348623157e308"),
        ("HINCRBYFLOAT", "h", "g", "1.7976931348623157e308"),
        ("HINCRBY", "fresh", "f", "x"), ("EXISTS", "fresh"),
        ("HINCRBYFLOAT", "fresh", "f", "x"), ("EXISTS", "fresh"),
        ("SET", "str", "v"), ("HINCRBY", "str", "f", "1"), ("HINCRBYFLOAT", "str", "f", "1"),
        ("HINCRBY", "h", "n"), ("HINCRBYFLOAT", "h", "n"),
    ])


def test_large_hash_converts_and_keeps_every_field(pair):
    a, b = pair
    fields = []
    for i in range(300):
        fields += ["field:%d" % i, "value:%d" % i]
    assert_same(a, b, [("HSET", "big", *fields[:200]), ("HSET", "big", *fields),
                       ("HLEN", "big"), ("HGET", "big", "field:250"), ("HDEL", "big", "field:1"),
                       ("HLEN", "big"), ("HSTRLEN", "big", "field:299"),
                       ("HMGET", "big", "field:0", "field:1", "nope")])
    ours, theirs = parse(a.call("HGETALL", "big")), parse(b.call("HGETALL", "big"))
    assert pairs_of(ours) == pairs_of(theirs) and len(ours) == 2 * 299
    assert sorted(parse(a.call("HKEYS", "big"))) == sorted(parse(b.call("HKEYS", "big")))
    assert sorted(parse(a.call("HVALS", "big"))) == sorted(parse(b.call("HVALS", "big")))


def test_long_value_converts_hash_and_round_trips(pair):
    a, b = pair
    long_value = "v" * 100
    assert_same(a, b, [("HSET", "h", "a", "1", "b", "2"), ("HSET", "h", "long", long_value),
                       ("HGET", "h", "long"), ("HLEN", "h"), ("HDEL", "h", "a"),
                       ("HINCRBY", "h", "b", "40"), ("HSETNX", "h", "b", "x")])
    assert sorted(parse(a.call("HKEYS", "h"))) == [b"b", b"long"]


def test_hscan_small_hash_matches_redis(pair):
    assert_same(*pair, [
        ("HSET", "h", "a1", "1", "a2", "2", "b1", "3"), ("HSCAN", "h", "0"),
        ("HSCAN", "h", "0", "MATCH", "a*"), ("HSCAN", "h", "0", "COUNT", "1"),
        ("HSCAN", "h", "0", "MATCH", "*", "COUNT", "100"), ("HSCAN", "none", "0"),
        ("HSCAN", "h", "x"), ("HSCAN", "h", "-1"), ("HSCAN", "h", "0", "COUNT", "0"),
        ("HSCAN", "h", "0", "COUNT", "x"), ("HSCAN", "h", "0", "TYPE", "string"),
        ("HSCAN", "h", "0", "MATCH"), ("HSCAN", "none", "0", "BOGUS"),
        ("SET", "s", "v"), ("HSCAN", "s", "0"), ("HSCAN", "h"),
    ])


def test_hscan_large_hash_returns_every_field(pair):
    a, _ = pair
    fields = []
    for i in range(1000):
        fields += ["f%d" % i, "v%d" % i]
    a.call("HSET", "big", *fields)
    seen, cursor, rounds = {}, b"0", 0
    while True:
        cursor, items = parse(a.call("HSCAN", "big", cursor, "COUNT", "50"))
        seen.update(pairs_of(items))
        rounds += 1
        if cursor == b"0" or rounds > 1000:
            break
    assert cursor == b"0"
    assert len(seen) == 1000 and seen[b"f7"] == b"v7"
    cursor, items = parse(a.call("HSCAN", "big", "0", "MATCH", "f99*", "COUNT", "100000"))
    assert cursor == b"0" and set(pairs_of(items)) == {b"f99"} | {b"f99%d" % i for i in range(10)}


def test_hrandfield_counts_and_errors_match_redis(pair):
    a, b = pair
    assert_same(a, b, [
        ("HRANDFIELD", "none"), ("HRANDFIELD", "none", "3"), ("HRANDFIELD", "none", "-3"),
        ("HSET", "one", "only", "v"), ("HRANDFIELD", "one"), ("HRANDFIELD", "one", "5"),
        ("HRANDFIELD", "one", "-2"), ("HRANDFIELD", "one", "1", "WITHVALUES"),
        ("HRANDFIELD", "one", "0"), ("HRANDFIELD", "one", "x"),
        ("HRANDFIELD", "one", "1", "BOGUS"), ("HRANDFIELD", "one", "1", "WITHVALUES", "x"),
        ("HRANDFIELD", "one", "-9223372036854775808"),
        ("HRANDFIELD", "one", "-9223372036854775807", "WITHVALUES"),
        ("SET", "s", "v"), ("HRANDFIELD", "s"), ("HRANDFIELD", "s", "2"),
    ])
    fields = []
    for i in range(200):
        fields += ["f%d" % i, "v%d" % i]
    for key, n in (("small", 20), ("large", 200)):
        a.call("HSET", key, *fields[:2 * n])
        distinct = parse(a.call("HRANDFIELD", key, "7"))
        assert len(distinct) == 7 and len(set(distinct)) == 7
        assert len(parse(a.call("HRANDFIELD", key, str(n + 5)))) == n
        repeated = parse(a.call("HRANDFIELD", key, "-50"))
        assert len(repeated) == 50 and set(repeated) <= {b"f%d" % i for i in range(n)}
        with_values = parse(a.call("HRANDFIELD", key, "5", "WITHVALUES"))
        assert all(with_values[i + 1] == b"v" + with_values[i][1:] for i in range(0, 10, 2))


def test_hash_resp3_replies_match_redis(pair):
    a, b = pair
    a.call("HELLO", "3")
    b.call("HELLO", "3")
    assert_same(a, b, [
        ("HSET", "h", "a", "1", "b", "2"), ("HGETALL", "h"), ("HGETALL", "none"),
        ("HRANDFIELD", "none"), ("HMGET", "h", "a", "x"), ("HGET", "h", "x"),
        ("HSCAN", "h", "0"), ("HINCRBYFLOAT", "h", "f", "2.5"),
        ("HSET", "one", "k", "v"), ("HRANDFIELD", "one", "1", "WITHVALUES"),
        ("HRANDFIELD", "one", "-2", "WITHVALUES"),
    ])
