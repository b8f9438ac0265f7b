"""Server-level commands of `polis server`: connection commands, COMMAND, INFO, TIME, SAVE,
BGSAVE, LASTSAVE, SHUTDOWN, signals, and the write path's wiring (group commit, writes going
through the log)."""
import glob
import os
import signal
import threading
import time

import pytest
import redis

from harness import raw_exchange
from kvdiff import RawClient, parse, wait_until


def test_connection_commands(r):
    assert r.ping() is True
    assert r.echo(b"bin\x00ary") == b"bin\x00ary"
    assert r.execute_command("SELECT", 0) is True
    with pytest.raises(redis.ResponseError, match="^DB index is out of range$"):
        r.execute_command("SELECT", 1)
    seconds, micros = r.time()
    assert abs(seconds - time.time()) < 5 and 0 <= micros < 1000000


def test_quit_answers_then_closes(polis):
    out = raw_exchange(polis.port, b"PING hi\r\nPING\r\nQUIT\r\nPING\r\n")
    assert out == b"$2\r\nhi\r\n+PONG\r\n+OK\r\n<CLOSED>"


def test_hello_sets_protocol_and_name(polis):
    out = raw_exchange(polis.port, b"HELLO 3 AUTH default anything SETNAME app\r\n"
                                   b"CLIENT GETNAME\r\nCLIENT INFO\r\n")
    assert out.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\npolis\r\n$7\r\nversion\r\n")
    assert b"$5\r\nproto\r\n:3\r\n" in out
    assert b"$3\r\napp\r\n=" in out  # GETNAME, then INFO as a RESP3 verbatim string
    assert b" name=app " in out and b" resp=3\n" in out


def test_reset_restores_defaults(polis):
    out = raw_exchange(polis.port, b"HELLO 3 SETNAME x\r\nRESET\r\nCLIENT GETNAME\r\nGET nosuch\r\n")
    assert out.endswith(b"+RESET\r\n$-1\r\n$-1\r\n")


def test_client_id_list_info_and_kill(polis):
    a, b = polis.client(), polis.client()
    a.client_setname("alpha")
    id_a, id_b = a.client_id(), b.client_id()
    assert id_b > id_a > 0
    listed = {c["id"]: c for c in b.client_list()}
    assert listed[str(id_a)]["name"] == "alpha"
    assert listed[str(id_b)]["cmd"] == "client|list"
    assert b.client_info()["id"] == id_b
    assert [c["id"] for c in b.client_list(client_id=[str(id_a)])] == [str(id_a)]
    assert b.execute_command("CLIENT", "LIST", "TYPE", "pubsub") == b""
    addr_a = listed[str(id_a)]["addr"]
    assert b.execute_command("CLIENT", "KILL", addr_a) == b"OK"
    assert wait_until(lambda: str(id_a) not in {c["id"] for c in b.client_list()})
    c = polis.client()
    id_c = c.client_id()
    assert b.execute_command("CLIENT", "KILL", "ID", id_c) == 1
    assert b.execute_command("CLIENT", "KILL", "ID", id_c) == 0
    # SKIPME yes (the default) spares the caller; TYPE normal matches everyone else.
    polis.client().ping()
    assert b.execute_command("CLIENT", "KILL", "TYPE", "normal") >= 0
    assert b.ping()


def test_client_kill_self_answers_first(polis):
    out = raw_exchange(polis.port, b"CLIENT KILL ID 0\r\nCLIENT ID\r\n", timeout=0.3)
    client_id = int(out.split(b"\r\n")[1][1:])
    out = raw_exchange(polis.port, b"CLIENT KILL SKIPME no TYPE normal\r\nPING\r\n")
    assert out.startswith(b":") and out.endswith(b"<CLOSED>") and b"PONG" not in out
    assert client_id > 0


def test_command_count_info_and_docs(polis):
    raw = RawClient(polis.port)
    count = parse(raw.call("COMMAND", "COUNT"))
    listing = parse(raw.call("COMMAND"))
    assert len(listing) == count
    names = {entry[0] for entry in listing}
    for name in [b"get", b"set", b"hset", b"ping", b"client", b"config", b"info", b"command",
                 b"shutdown", b"flushall", b"dbsize"]:
        assert name in names
    (get,) = parse(raw.call("COMMAND", "INFO", "get"))
    assert get[:6] == [b"get", 2, [b"readonly", b"fast"], 1, 1, 1]
    (client,) = parse(raw.call("COMMAND", "INFO", "client"))
    assert {sub[0] for sub in client[9]} >= {b"client|kill", b"client|list", b"client|setname"}
    assert parse(raw.call("COMMAND", "INFO", "nosuch")) == [None]
    docs = parse(raw.call("COMMAND", "DOCS", "set", "config"))
    docs = dict(zip(docs[::2], docs[1::2]))
    set_doc = dict(zip(docs[b"set"][::2], docs[b"set"][1::2]))
    assert set_doc[b"group"] == b"string" and set_doc[b"since"]
    config_doc = dict(zip(docs[b"config"][::2], docs[b"config"][1::2]))
    assert b"subcommands" in config_doc
    assert parse(raw.call("COMMAND", "HELP"))[0].startswith(b"COMMAND <subcommand>")
    raw.close()


def test_info_sections(polis, r):
    r.set("k", "v")
    r.set("t", "v", ex=100)
    info = r.info()
    for field in ["redis_version", "polis_version", "tcp_port", "uptime_in_seconds",
                  "connected_clients", "maxclients", "used_memory", "used_memory_rss",
                  "maxmemory_policy", "aof_enabled", "wal_fsync", "wal_last_index",
                  "total_commands_processed", "instantaneous_ops_per_sec", "keyspace_hits",
                  "expired_keys", "evicted_keys", "used_cpu_user", "db0", "hlc_last",
                  "group_commits"]:
        assert field in info, field
    assert info["db0"]["keys"] == 2 and info["db0"]["expires"] == 1
    assert 0 < info["db0"]["avg_ttl"] <= 100000
    assert info["aof_enabled"] == 1 and info["wal_write_status"] == "ok"
    only = r.info("keyspace")
    assert list(only) == ["db0"]
    raw = RawClient(polis.port)
    text = parse(raw.call("INFO", "server", "clients")).decode()
    raw.close()
    assert text.startswith("# Server\r\n") and "# Clients\r\n" in text and "# Memory" not in text
    r.config_resetstat()
    assert r.info("stats")["total_commands_processed"] <= 1


def test_save_bgsave_lastsave(polis, r):
    r.set("a", "1")
    before = r.lastsave()
    assert r.save() is True
    assert glob.glob(os.path.join(polis.dir, "snap-*.snap"))
    assert r.lastsave() >= before
    r.set("b", "2")
    assert r.bgsave() is True
    assert wait_until(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == 0)
    persistence = r.info("persistence")
    assert persistence["wal_snapshot_index"] == persistence["wal_last_index"]
    polis.kill9()
    polis.start()
    assert polis.client().mget("a", "b") == [b"1", b"2"]


def test_save_without_persistence_is_refused(polis_factory):
    node = polis_factory("--persistence", "off")
    client = node.client()
    with pytest.raises(redis.ResponseError, match="persistence is off"):
        client.save()
    assert client.info("persistence")["aof_enabled"] == 0


def test_shutdown_exits_cleanly_and_keeps_data(polis):
    client = polis.client()
    client.set("kept", "yes")
    client.shutdown()  # redis-py returns once the server has closed the connection
    assert polis.proc.wait(10) == 0
    assert "bye bye" in polis.read_log()
    polis.start()
    assert polis.client().get("kept") == b"yes"


def test_sigterm_and_sigint_stop_cleanly(polis):
    polis.client().set("x", "1")
    polis.proc.send_signal(signal.SIGINT)
    assert polis.proc.wait(10) == 0
    polis.start()
    assert polis.client().get("x") == b"1"
    polis.proc.send_signal(signal.SIGTERM)
    assert polis.proc.wait(10) == 0


def test_flushall_goes_through_the_log(polis, r):
    r.mset({"a": 1, "b": 2})
    assert r.dbsize() == 2
    r.flushall()
    r.set("c", 3)
    polis.kill9()
    polis.start()
    client = polis.client()
    assert client.dbsize() == 1 and client.get("c") == b"3"


def test_concurrent_writers_share_fsyncs(polis):
    errors = []

    def writer(n):
        try:
            client = polis.client()
            for i in range(150):
                client.set("w%d:%d" % (n, i), i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    info = polis.client().info()
    records, commits = int(info["group_commit_records"]), int(info["group_commits"])
    assert records == 16 * 150
    assert int(info["wal_fsyncs"]) <= commits + 2  # one fsync per group commit
    assert commits < records  # several writers' records shared one commit
    assert int(info["group_commit_max_batch"]) > 1


def test_writes_apply_in_log_order_across_restart(polis):
    client = polis.client()
    pipe = client.pipeline(transaction=False)
    for i in range(500):
        pipe.incr("n")
        pipe.hset("h", "f%d" % (i % 7), i)
    pipe.execute()
    polis.kill9()
    polis.start()
    client = polis.client()
    assert client.get("n") == b"500"
    assert client.hget("h", "f0") == b"497"
