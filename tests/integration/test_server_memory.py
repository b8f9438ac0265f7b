"""The node's expiry and memory wiring: active expiry removes keys nobody touches (through the
log, so a restart agrees), maxmemory evicts under the *-lru/random/ttl policies and refuses
writes under noeviction with Redis' OOM error, and used_memory tracks what the process holds."""
import time

import pytest
import redis

from kvdiff import wait_until


def test_active_expiry_removes_untouched_keys_through_the_log(polis):
    client = polis.client()
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        pipe.set("short:%d" % i, "x", px=200)
    pipe.set("long", "kept", ex=1000)
    pipe.set("plain", "kept")
    pipe.execute()
    assert client.dbsize() == 502
    # Nobody reads them: only the active expiry cycle can remove them.
    assert wait_until(lambda: client.dbsize() == 2, timeout=10)
    assert client.info("stats")["expired_keys"] >= 500
    assert client.info("keyspace")["db0"]["expires"] == 1
    polis.kill9()
    polis.start()
    client = polis.client()
    assert client.dbsize() == 2
    assert client.mget("long", "plain") == [b"kept", b"kept"]


def test_active_expiry_without_persistence(polis_factory):
    node = polis_factory("--persistence", "off")
    client = node.client()
    for i in range(300):
        client.set("t%d" % i, i, px=100)
    assert wait_until(lambda: client.dbsize() == 0, timeout=10)


def fill(client, prefix, count, size):
    """Writes count keys of size bytes; returns the errors seen."""
    errors = []
    value = b"x" * size
    for start in range(0, count, 100):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 100, count)):
            pipe.set("%s:%d" % (prefix, i), value)
        for result in pipe.execute(raise_on_error=False):
            if isinstance(result, Exception):
                errors.append(str(result))
    return errors


@pytest.mark.parametrize("persistence", ["on", "off"])
def test_allkeys_lru_evicts_to_stay_under_maxmemory(polis_factory, persistence):
    node = polis_factory("--persistence", persistence, "--maxmemory-policy", "allkeys-lru")
    client = node.client()
    base = client.info("memory")["used_memory"]
    limit = base + 4 * 1024 * 1024
    client.config_set("maxmemory", limit)
    assert fill(client, "k", 4000, 4096) == []  # 16 MB into a 4 MB budget
    info = client.info()
    assert info["evicted_keys"] > 0
    # Slack: the write path's buffers (records of a 100-command pipeline) count too.
    assert info["used_memory"] <= limit + 1024 * 1024
    assert 0 < client.dbsize() < 4000
    assert client.get("k:3999") == b"x" * 4096  # the newest keys survive LRU


def test_volatile_ttl_evicts_only_keys_with_a_ttl(polis_factory):
    node = polis_factory("--persistence", "off", "--maxmemory-policy", "volatile-ttl")
    client = node.client()
    client.set("permanent", "p" * 1000)
    base = client.info("memory")["used_memory"]
    client.config_set("maxmemory", base + 2 * 1024 * 1024)
    value = b"v" * 4096
    for i in range(1500):
        client.set("v:%d" % i, value, ex=1000 + i)
    assert client.info("stats")["evicted_keys"] > 0
    assert client.get("permanent") == b"p" * 1000
    assert client.get("v:1499") == value  # the latest expiry survives volatile-ttl


def test_noeviction_refuses_writes_with_redis_error_but_serves_reads(polis_factory):
    node = polis_factory("--maxmemory-policy", "noeviction")
    client = node.client()
    client.set("before", "limit")
    client.config_set("maxmemory", client.info("memory")["used_memory"] + 512 * 1024)
    errors = fill(client, "n", 1000, 4096)
    assert errors and set(errors) == {
        "OOM command not allowed when used memory > 'maxmemory'."}
    assert client.get("before") == b"limit"
    assert client.delete("n:0") == 1  # DEL is not refused: it frees memory
    assert client.info("stats")["evicted_keys"] == 0
    with pytest.raises(redis.ResponseError, match="^OOM command not allowed"):
        client.set("another", "x" * 100000)


def test_used_memory_is_close_to_what_the_process_holds(polis_factory):
    node = polis_factory("--persistence", "off")
    client = node.client()
    before = client.info("memory")
    fill(client, "m", 20000, 1000)  # about 20 MB of values
    time.sleep(0.2)
    after = client.info("memory")
    grown_used = after["used_memory"] - before["used_memory"]
    grown_rss = after["used_memory_rss"] - before["used_memory_rss"]
    assert grown_used >= 20000 * 1000
    assert 0.8 < grown_used / grown_rss < 1.25, (grown_used, grown_rss)
