"""String commands against polis and redis-server side by side: replies must be the same bytes,
errors included (see kvdiff.py)."""
import time

from kvdiff import assert_same, kv_servers, pair, parse  # noqa: F401

BIG = "x" * 300


def test_get_set_basic_and_wrongtype_match_redis(pair):
    assert_same(*pair, [
        ("GET", "missing"), ("SET", "k", "v"), ("GET", "k"), ("SET", "k", ""), ("GET", "k"),
        ("SET", "k", BIG), ("GET", "k"), ("SET", "k", "short"), ("GET", "k"),
        ("SET", "k", b"bin\x00ary\r\n"), ("GET", "k"),
        ("HSET", "h", "f", "v"), ("GET", "h"), ("SET", "h", "now-a-string"), ("GET", "h"),
        ("TYPE", "h"), ("GET",), ("SET", "k"),
    ])


def test_set_options_and_syntax_errors_match_redis(pair):
    assert_same(*pair, [
        ("SET", "k", "v", "NX"), ("SET", "k", "v2", "NX"), ("GET", "k"),
        ("SET", "k", "v3", "XX"), ("SET", "other", "v", "XX"), ("GET", "k"), ("EXISTS", "other"),
        ("SET", "k", "v", "NX", "XX"), ("SET", "k", "v", "XX", "NX"), ("SET", "k", "v", "nx", "nx"),
        ("SET", "k", "v", "EX", "10", "PX", "100"), ("SET", "k", "v", "EX"),
        ("SET", "k", "v", "KEEPTTL", "EX", "10"), ("SET", "k", "v", "EX", "10", "KEEPTTL"),
        ("SET", "k", "v", "PERSIST"), ("SET", "k", "v", "BOGUS"),
        ("SET", "k", "v", "EX", "0"), ("SET", "k", "v", "EX", "-5"), ("SET", "k", "v", "PX", "0"),
        ("SET", "k", "v", "EX", "abc"), ("SET", "k", "v", "EX", "1.5"),
        ("SET", "k", "v", "EX", "9223372036854775807"),
        ("SET", "k", "v", "PX", "9223372036854775807"),
        ("SET", "k", "v", "EXAT", "0"), ("SET", "k", "v", "PXAT", "-1"),
        ("SET", "k", "v", "EX", "100", "EX", "200"), ("TTL", "k"),
        ("SET", "k", "v2", "GET"), ("SET", "nokey", "v", "GET"), ("SET", "k", "v3", "NX", "GET"),
        ("SET", "absent", "v", "XX", "GET"), ("EXISTS", "absent"),
        ("HSET", "h", "f", "v"), ("SET", "h", "v", "GET"), ("TYPE", "h"),
        ("SET", "k", "v", "KEEPTTL"), ("TTL", "k"), ("SET", "k", "v"), ("TTL", "k"),
    ])


def test_set_expire_units_set_the_same_ttl_as_redis(pair):
    a, b = pair
    now = int(time.time())
    assert_same(a, b, [
        ("SET", "ex", "v", "EX", "100"), ("TTL", "ex"),
        ("SET", "px", "v", "PX", "100000"), ("TTL", "px"),
        ("SET", "exat", "v", "EXAT", str(now + 100)), ("EXPIRETIME", "exat"),
        ("SET", "pxat", "v", "PXAT", str(now * 1000 + 100000)), ("PEXPIRETIME", "pxat"),
        ("SET", "past", "v", "EXAT", "1"), ("GET", "past"), ("EXISTS", "past"),
        ("SET", "k", "v", "EX", "100"), ("SET", "k", "v2", "KEEPTTL"), ("TTL", "k"),
        ("SET", "k", "v3", "XX", "KEEPTTL", "GET"), ("TTL", "k"),
    ])


def test_setnx_setex_psetex_getset_getdel_match_redis(pair):
    assert_same(*pair, [
        ("SETNX", "k", "1"), ("SETNX", "k", "2"), ("GET", "k"),
        ("SETEX", "e", "100", "v"), ("TTL", "e"), ("SETEX", "e", "0", "v"),
        ("SETEX", "e", "-1", "v"), ("SETEX", "e", "x", "v"), ("SETEX", "e", "100"),
        ("PSETEX", "p", "100000", "v"), ("TTL", "p"), ("PSETEX", "p", "0", "v"),
        ("GETSET", "k", "new"), ("GETSET", "nothing", "v"), ("GET", "nothing"),
        ("HSET", "h", "f", "v"), ("GETSET", "h", "v"), ("SETNX", "h", "v"),
        ("GETDEL", "k"), ("GETDEL", "k"), ("EXISTS", "k"), ("GETDEL", "h"), ("EXISTS", "h"),
    ])


def test_getex_options_match_redis(pair):
    now = int(time.time())
    assert_same(*pair, [
        ("GETEX", "missing"), ("GETEX", "missing", "EX", "10"),
        ("SET", "k", "v"), ("GETEX", "k"), ("TTL", "k"),
        ("GETEX", "k", "EX", "100"), ("TTL", "k"), ("GETEX", "k", "PX", "200000"), ("TTL", "k"),
        ("GETEX", "k", "EXAT", str(now + 300)), ("EXPIRETIME", "k"),
        ("GETEX", "k", "PXAT", str((now + 400) * 1000)), ("EXPIRETIME", "k"),
        ("GETEX", "k", "PERSIST"), ("TTL", "k"),
        ("GETEX", "k", "EX", "0"), ("GETEX", "k", "EX", "-1"), ("GETEX", "k", "EX", "x"),
        ("GETEX", "k", "NX"), ("GETEX", "k", "KEEPTTL"), ("GETEX", "k", "GET"),
        ("GETEX", "k", "EX", "10", "PERSIST"), ("GETEX", "k", "PERSIST", "EX", "10"),
        ("GETEX", "k", "EX"), ("GETEX", "k", "EXAT", "1"), ("EXISTS", "k"),
        ("HSET", "h", "f", "v"), ("GETEX", "h"), ("GETEX", "h", "EX", "0"),
    ])


def test_mget_mset_msetnx_match_redis(pair):
    assert_same(*pair, [
        ("MSET", "a", "1", "b", "2", "c", "3"), ("MGET", "a", "b", "c", "d"),
        ("MSET", "a", "1", "b"), ("MSET", "a"), ("MSETNX", "x", "1", "y"),
        ("MSET", "a", "first", "a", "second"), ("GET", "a"),
        ("MSETNX", "x", "1", "y", "2"), ("MSETNX", "y", "9", "z", "9"), ("MGET", "x", "y", "z"),
        ("HSET", "h", "f", "v"), ("MGET", "h", "a"), ("MSET", "h", "str"), ("TYPE", "h"),
        ("SET", "t", "v", "EX", "100"), ("MSET", "t", "w"), ("TTL", "t"),
    ])


def test_append_strlen_match_redis(pair):
    assert_same(*pair, [
        ("APPEND", "k", "hello"), ("APPEND", "k", " world"), ("GET", "k"), ("STRLEN", "k"),
        ("APPEND", "k", ""), ("STRLEN", "missing"), ("APPEND", "e", ""), ("EXISTS", "e"),
        ("HSET", "h", "f", "v"), ("APPEND", "h", "x"), ("STRLEN", "h"),
        ("SET", "t", "v", "EX", "100"), ("APPEND", "t", "w"), ("TTL", "t"),
    ] + [("APPEND", "grow", "0123456789abcdef" * 8)] * 40 + [("STRLEN", "grow"), ("GET", "grow")])


def test_getrange_setrange_match_redis(pair):
    ranges = [(0, -1), (0, 3), (-3, -1), (5, 2), (-1, -5), (-100, 100), (3, 3), (100, 200),
              (0, 0), (-1, -1), (1, -1), (-9223372036854775808, 9223372036854775807)]
    cmds = [("SET", "k", "Hello World")]
    cmds += [("GETRANGE", "k", str(s), str(e)) for s, e in ranges]
    cmds += [("SET", "empty", ""), ("GETRANGE", "empty", "0", "-1"), ("GETRANGE", "none", "0", "5"),
             ("GETRANGE", "k", "a", "1"), ("GETRANGE", "k", "0", "1.5"),
             ("SETRANGE", "k", "6", "Redis"), ("GET", "k"), ("SETRANGE", "k", "20", "!"), ("GET", "k"),
             ("SETRANGE", "new", "3", "abc"), ("GET", "new"), ("SETRANGE", "new2", "3", ""),
             ("EXISTS", "new2"), ("SETRANGE", "k", "0", ""), ("SETRANGE", "k", "-1", "x"),
             ("SETRANGE", "k", "x", "x"), ("SETRANGE", "k", "536870911", "xx"),
             ("SETRANGE", "k", "536870912", "x"),
             ("HSET", "h", "f", "v"), ("GETRANGE", "h", "0", "1"), ("SETRANGE", "h", "0", "x")]
    assert_same(*pair, cmds)


def test_incr_family_and_overflow_match_redis(pair):
    assert_same(*pair, [
        ("INCR", "n"), ("INCR", "n"), ("DECR", "n"), ("INCRBY", "n", "10"), ("DECRBY", "n", "3"),
        ("INCRBY", "n", "-20"), ("GET", "n"), ("DECR", "fresh"),
        ("SET", "s", "abc"), ("INCR", "s"), ("SET", "s", " 1"), ("INCR", "s"),
        ("SET", "s", "01"), ("INCR", "s"), ("SET", "s", "+1"), ("INCR", "s"),
        ("SET", "s", "-0"), ("INCR", "s"), ("SET", "s", "1.0"), ("INCR", "s"),
        ("SET", "s", "99999999999999999999"), ("INCR", "s"),
        ("SET", "m", "9223372036854775807"), ("INCR", "m"), ("INCRBY", "m", "0"),
        ("SET", "m", "-9223372036854775808"), ("DECR", "m"), ("DECRBY", "m", "1"),
        ("DECRBY", "x", "-9223372036854775808"), ("INCRBY", "x", "-9223372036854775808"),
        ("INCRBY", "x", "abc"), ("INCRBY", "x", "9223372036854775808"), ("DECRBY", "x", ""),
        ("HSET", "h", "f", "v"), ("INCR", "h"), ("INCRBY", "h", "x"),
        ("SET", "t", "5", "EX", "100"), ("INCR", "t"), ("TTL", "t"),
        ("SET", "w", "9"), ("INCR", "w"), ("GET", "w"), ("DECR", "w"), ("GET", "w"),
    ])


def test_incrbyfloat_formatting_and_errors_match_redis(pair):
    assert_same(*pair, [
        ("INCRBYFLOAT", "f", "10.5"), ("INCRBYFLOAT", "f", "0.1"), ("INCRBYFLOAT", "f", "-5"),
        ("INCRBYFLOAT", "f", "5.0e3"), ("INCRBYFLOAT", "f", "2.0e-2"), ("GET", "f"),
        ("SET", "g", "3.0"), ("INCRBYFLOAT", "g", "1"), ("SET", "g", "1e3"),
        ("INCRBYFLOAT", "g", "0"), ("INCRBYFLOAT", "g", "abc"), ("INCRBYFLOAT", "g", ""),
        ("INCRBYFLOAT", "g", " 1"), ("INCRBYFLOAT", "g", "inf"), ("INCRBYFLOAT", "g", "nan"),
        ("INCRBYFLOAT", "g", "1.7976931348623157e308"), ("GET", "g"),
        ("SET", "s", "text"), ("INCRBYFLOAT", "s", "1"), ("INCRBYFLOAT", "z", "-0.0"),
        ("INCRBYFLOAT", "z", "0.3"), ("INCRBYFLOAT", "z", "-0.3"), ("GET", "z"),
        ("HSET", "h", "f", "v"), ("INCRBYFLOAT", "h", "1"),
        ("SET", "t", "1", "EX", "100"), ("INCRBYFLOAT", "t", "1.5"), ("TTL", "t"),
    ])


def test_arity_errors_match_redis(pair):
    assert_same(*pair, [
        ("GET", "a", "b"), ("SETNX", "a"), ("SETEX", "a", "1"), ("PSETEX", "a"),
        ("GETSET", "a"), ("GETDEL",), ("GETEX",), ("MGET",), ("MSET",), ("MSETNX", "a"),
        ("APPEND", "a"), ("STRLEN",), ("GETRANGE", "a", "1"), ("SETRANGE", "a", "1"),
        ("INCR",), ("DECR", "a", "b"), ("INCRBY", "a"), ("DECRBY", "a"), ("INCRBYFLOAT", "a"),
    ])


def test_resp3_replies_match_redis(pair):
    a, b = pair
    a.call("HELLO", "3")
    b.call("HELLO", "3")
    assert_same(a, b, [
        ("GET", "missing"), ("SET", "k", "v"), ("SET", "k", "w", "GET"), ("MGET", "k", "nope"),
        ("SET", "n", "v", "NX"), ("INCRBYFLOAT", "f", "1.5"), ("GETEX", "nope"),
    ])


def test_large_value_round_trips(pair):
    a, _ = pair
    value = bytes(range(256)) * 4096  # 1 MiB, every byte value
    assert a.call("SET", "big", value) == b"+OK\r\n"
    assert parse(a.call("GET", "big")) == value
    assert parse(a.call("STRLEN", "big")) == len(value)
