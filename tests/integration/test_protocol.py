"""The RESP protocol as polis speaks it: replies and error texts byte for byte as redis-server
7.0 gives them, pipelining, inline commands, RESP3, commands split at any byte, large values."""
import random
import socket
import subprocess

import pytest

from harness import PolisServer, raw_exchange
from kvdiff import RawClient

# Inputs whose replies must be identical to redis-server's, byte for byte. Each is sent on a
# fresh connection; protocol errors close it (both servers append <CLOSED> then).
SAME_AS_REDIS = [
    b"PING\r\n",
    b"PING hello\r\n",
    b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n",
    b"ping a b\r\n",
    b"echo\r\n",
    b"ECHO \"a\\x41\\tb\"\r\n",
    b"*0\r\n*-1\r\nPING\r\n",
    b"\r\n\r\nPING\r\n",
    b"NOSUCH\r\n",
    b"NOSUCH a b 'c d'\r\n",
    b"nosuch " + b"x" * 200 + b" y\r\n",
    b"get\r\n",
    b"set k\r\n",
    b"client\r\n",
    b"client foo\r\n",
    b"client setname\r\n",
    b"client setname \"a b\"\r\n",
    b"client getname\r\n",
    b"client setname x\r\nclient getname\r\n",
    b"client kill 1.2.3.4:5\r\n",
    b"client kill id x\r\n",
    b"client kill id 0\r\n",
    b"client kill id 999999\r\n",
    b"client kill foo bar\r\n",
    b"client kill id 1 skipme maybe\r\n",
    b"client list type nosuch\r\n",
    b"client list id abc\r\n",
    b"config\r\n",
    b"config get\r\n",
    b"config set maxclients\r\n",
    b"config set a b c\r\n",
    b"config set nosuch bar\r\n",
    b"config set maxmemory abc\r\n",
    b"config set maxmemory 10.5mb\r\n",
    b"config set maxclients abc\r\n",
    b"config set maxclients 0\r\n",
    b"config set proto-max-bulk-len 10\r\n",
    b"config set maxclients 10 maxclients 11\r\n",
    b"config set loglevel loud\r\n",
    b"config get nosuch*\r\n",
    b"config get maxmemory\r\n",
    b"config foo\r\n",
    b"command foo\r\n",
    b"command info nosuch\r\n",
    b"command docs nosuch\r\n",
    b"command info get\r\n",
    b"hello 4\r\n",
    b"hello x\r\n",
    b"hello 3 foo\r\n",
    b"hello 2 auth someone pass\r\n",
    b"hello 2 setname \"a b\"\r\n",
    b"select 0\r\n",
    b"select x\r\n",
    b"select 99\r\n",
    b"quit\r\nPING\r\n",
    b"reset\r\n",
    b"shutdown foo\r\n",
    b"shutdown abort\r\n",
    b"lastsave x\r\n",
    b"*1\r\n+PING\r\n",
    b"*abc\r\n",
    b"*01\r\n",
    b"*2147483648\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$x\r\n",
    b"*1\r\n$536870913\r\n",
    b"PING\r\n*1\r\n$4\r\nPI",
    b"SET k \"unbalanced\r\n",
    b"SET k 'a'b\r\n",
]


@pytest.fixture(scope="module")
def shared_polis(tmp_path_factory):
    """One node for the byte comparisons (each runs on its own connection)."""
    node = PolisServer(tmp_path_factory.mktemp("shared"))
    yield node
    node.stop()


@pytest.mark.parametrize("data", SAME_AS_REDIS, ids=lambda d: d[:30].decode(errors="replace"))
def test_reply_bytes_match_redis(shared_polis, redis_peer, data):
    # A trailing QUIT makes the server close the connection once it has answered everything,
    # so the exchange ends without waiting for a timeout (a cut command has no QUIT).
    if data.endswith(b"\r\n"):
        data += b"QUIT\r\n"
    ours = raw_exchange(shared_polis.port, data, timeout=0.3)
    theirs = raw_exchange(redis_peer.port, data, timeout=0.3)
    assert ours == theirs


def test_pipeline_of_10000_commands_answers_in_order(polis):
    client = RawClient(polis.port, timeout=30)
    parts = []
    for i in range(2500):
        key, value = b"k%d" % i, b"%d" % i
        parts.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
            len(key), key, len(value), value))
        parts.append(b"INCR k%d\r\n" % i)
        parts.append(b"GET k%d\r\n" % i)
        parts.append(b"PING\r\n")
    client.sock.sendall(b"".join(parts))
    replies = [client.read() for _ in range(10000)]
    client.close()
    for i in range(2500):
        assert replies[4 * i] == b"+OK\r\n"
        assert replies[4 * i + 1] == b":%d\r\n" % (i + 1)
        assert replies[4 * i + 2] == b"$%d\r\n%d\r\n" % (len(b"%d" % (i + 1)), i + 1)
        assert replies[4 * i + 3] == b"+PONG\r\n"


def test_writes_of_one_turn_share_a_log_entry_and_each_gets_its_own_reply(polis):
    info = polis.client().info("replication")
    first_index = info["commit_index"]
    clients = [RawClient(polis.port, timeout=30) for _ in range(4)]
    polis.client().hset("a-hash", "f", "v")
    for n, client in enumerate(clients):
        # a failing write (WRONGTYPE) and reads among the writes of the pipeline
        client.sock.sendall(b"".join(
            b"SET c%d:%d %d\r\nINCR a-hash\r\nGET c%d:%d\r\n" % (n, i, i, n, i)
            for i in range(300)))
    for n, client in enumerate(clients):
        for i in range(300):
            assert client.read() == b"+OK\r\n"
            assert client.read().startswith(b"-WRONGTYPE")
            assert client.read() == b"$%d\r\n%d\r\n" % (len(b"%d" % i), i)
        client.close()
    assert polis.client().dbsize() == 1 + 4 * 300
    # 2,401 writes; the log took them in far fewer entries
    entries = polis.client().info("replication")["commit_index"] - first_index
    assert 0 < entries < 2401 / 4


def test_pipeline_without_persistence_answers_in_order(polis_factory):
    node = polis_factory("--persistence", "off")
    client = node.client()
    pipe = client.pipeline(transaction=False)
    for i in range(10000):
        pipe.incr("counter")
    assert pipe.execute() == list(range(1, 10001))


def test_reads_wait_for_the_same_clients_pending_writes(r):
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set("key", i)
        pipe.get("key")
        pipe.append("key", "x")
        pipe.strlen("key")
    results = pipe.execute()
    for i in range(200):
        assert results[4 * i:4 * i + 4] == [True, b"%d" % i, len(b"%dx" % i), len(b"%dx" % i)]


def test_inline_commands_with_quotes(polis):
    out = raw_exchange(polis.port, b"SET greeting \"hello world\\n\"\r\nGET greeting\nSTRLEN greeting\r\n")
    assert out == b"+OK\r\n$12\r\nhello world\n\r\n:12\r\n"


def test_commands_split_at_random_points_parse_the_same(polis):
    rng = random.Random(7)
    stream = b"".join(
        b"*4\r\n$4\r\nHSET\r\n$1\r\nh\r\n$%d\r\nf%d\r\n$%d\r\n%s\r\n" % (
            len(b"f%d" % i), i, len(b"v" * i), b"v" * i)
        for i in range(1, 300))
    stream += b"HLEN h\r\n"
    client = RawClient(polis.port)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    at = 0
    while at < len(stream):
        n = rng.randint(1, 40)
        client.sock.sendall(stream[at:at + n])
        at += n
    replies = [client.read() for _ in range(300)]
    client.close()
    assert replies[:299] == [b":1\r\n"] * 299
    assert replies[299] == b":299\r\n"


def test_large_values_round_trip(r):
    value = bytes(random.Random(3).getrandbits(8) for _ in range(1 << 16)) * 160  # 10 MiB
    assert r.set("big", value)
    assert r.get("big") == value
    assert r.strlen("big") == len(value)


def test_resp3_through_redis_cli(polis):
    def cli(*args):
        return subprocess.run(["redis-cli", "-3", "--no-raw", "-p", str(polis.port)] + list(args),
                              capture_output=True, text=True, timeout=10).stdout

    assert cli("hset", "h", "f1", "v1", "f2", "v2").strip() == "(integer) 2"
    out = cli("hgetall", "h")
    assert '1# "f1" => "v1"' in out and '2# "f2" => "v2"' in out
    assert cli("get", "nosuch").strip() == "(nil)"
    assert cli("incrbyfloat", "f", "1.5").strip() == '"1.5"'
    hello = cli("hello", "3")
    assert '"proto" => (integer) 3' in hello and '"server" => "polis"' in hello


def test_hello_switches_protocol_and_back(polis):
    out = raw_exchange(polis.port, b"HELLO 3\r\nHGETALL nosuch\r\nGET nosuch\r\nHELLO 2\r\n"
                                   b"GET nosuch\r\nRESET\r\n")
    assert out.startswith(b"%7\r\n$6\r\nserver\r\n$5\r\npolis\r\n")
    assert b"*0\r\n%0\r\n_\r\n*14\r\n" in out
    assert out.endswith(b"$-1\r\n+RESET\r\n")


def test_errors_do_not_overtake_pending_writes(polis):
    out = raw_exchange(polis.port, b"SET a 1\r\nSET k\r\nNOSUCH\r\nINCR a\r\n*1\r\n+x\r\n")
    assert out == (b"+OK\r\n-ERR wrong number of arguments for 'set' command\r\n"
                   b"-ERR unknown command 'NOSUCH', with args beginning with: \r\n:2\r\n"
                   b"-ERR Protocol error: expected '$', got '+'\r\n<CLOSED>")


def test_client_that_stops_sending_still_gets_every_reply(polis):
    out = raw_exchange(polis.port, b"SET a 1\r\nGET a\r\nINCR a\r\nGET a\r\n", timeout=5,
                       half_close=True)
    assert out == b"+OK\r\n$1\r\n1\r\n:2\r\n$1\r\n2\r\n<CLOSED>"
