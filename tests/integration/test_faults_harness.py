"""Tests of the fault harness itself (faults.py), with redis-server as the node program: every
fault does what it claims, to the nodes it names and no others, and nothing survives cleanup.
Runs as root (network namespaces); about 20 seconds."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faults  # noqa: E402

PORT = 6379
UDP_PORT = 7000


def redis_argv():
    return [shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(PORT),
            "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no"]


@pytest.fixture
def cluster(tmp_path):
    """Three nodes, each running redis-server on its own address."""
    with faults.Cluster(3, workdir=str(tmp_path)) as c:
        for node in c.nodes:
            node.start(redis_argv())
        for node in c.nodes:
            node.wait_tcp(PORT)
        yield c


def client(node, timeout=2.0):
    return redis.Redis(host=node.ip, port=PORT, socket_timeout=timeout,
                       socket_connect_timeout=timeout)


def udp_delivered(src, dst, count=400):
    """How many of count UDP datagrams sent from src's namespace to dst arrive."""
    rx = dst.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = src.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.bind((dst.ip, UDP_PORT))
        rx.setblocking(False)
        got = 0
        for start in range(0, count, 25):  # in batches, so the receive buffer never overflows
            for i in range(start, min(start + 25, count)):
                tx.sendto(b"%d" % i, (dst.ip, UDP_PORT))
            time.sleep(0.002)
            got += drain(rx, 0)
        return got + drain(rx, 0.2)
    finally:
        rx.close()
        tx.close()


def drain(sock, wait_s):
    n = 0
    if wait_s:
        sock.settimeout(wait_s)
    else:
        sock.setblocking(False)
    while True:
        try:
            sock.recv(64)
            n += 1
        except (BlockingIOError, socket.timeout):
            return n


def gone(pid):
    """Whether pid has exited (a zombie waiting for a reaper counts as exited)."""
    return faults._exited(pid)


def reachability(c):
    """{(i, j): whether node i reaches node j over TCP} for every ordered pair."""
    return {(a.index, b.index): a.can_reach(b, PORT)
            for a in c.nodes for b in c.nodes if a is not b}


def test_nodes_reach_each_other_and_clients_reach_every_node(cluster):
    assert all(reachability(cluster).values())
    for node in cluster.nodes:
        assert client(node).ping()
    assert len({n.ip for n in cluster.nodes}) == 3
    assert all(n.ip.startswith("10.77.%d." % cluster.x) for n in cluster.nodes)


def test_partition_blocks_traffic_between_the_chosen_nodes_only(cluster):
    n1, n2, n3 = cluster.nodes
    cluster.partition([n1], [n2])
    reach = reachability(cluster)
    assert not reach[(1, 2)] and not reach[(2, 1)]
    assert reach[(1, 3)] and reach[(3, 1)] and reach[(2, 3)] and reach[(3, 2)]
    for node in cluster.nodes:  # clients on the host are never cut off
        assert client(node).ping()


def test_isolate_cuts_one_node_from_all_the_others(cluster):
    cluster.isolate(cluster.node(1))
    reach = reachability(cluster)
    assert not any(reach[p] for p in [(1, 2), (2, 1), (1, 3), (3, 1)])
    assert reach[(2, 3)] and reach[(3, 2)]


def test_one_way_partition_blocks_one_direction_only(cluster):
    n1, n2, _ = cluster.nodes
    cluster.partition([n1], [n2], one_way=True)
    assert udp_delivered(n1, n2, 50) == 0
    assert udp_delivered(n2, n1, 50) == 50
    assert not n1.can_reach(n2, PORT)  # TCP needs both ways: n2 never hears the SYN


def test_heal_restores_traffic_and_removes_every_rule(cluster):
    cluster.isolate(cluster.node(2))
    cluster.loss(0.5)
    assert not cluster.node(1).can_reach(cluster.node(2), PORT)
    cluster.heal()
    assert all(reachability(cluster).values())
    for node in cluster.nodes:
        assert "drop" not in cluster.rules(node)
    assert udp_delivered(cluster.node(1), cluster.node(2), 100) == 100


def test_loss_drops_about_the_given_fraction_from_the_given_sources(cluster):
    n1, n2, n3 = cluster.nodes
    cluster.loss(0.5, nodes=[n2], sources=[n1])
    got = udp_delivered(n1, n2, 400)
    assert 100 < got < 300, got  # 200 expected; the bounds are ten standard deviations away
    assert udp_delivered(n3, n2, 200) == 200  # not a source: untouched
    cluster.loss(0, nodes=[n2])
    assert udp_delivered(n1, n2, 200) == 200


def ping_through(sock):
    start = time.monotonic()
    sock.sendall(b"PING\r\n")
    assert sock.recv(64) == b"+PONG\r\n"
    return time.monotonic() - start


def test_delay_proxy_forwards_with_delay_and_partitions_still_apply(cluster):
    n1, n2, _ = cluster.nodes
    proxy = cluster.delay_proxy(n1, n2, PORT, delay_ms=0)
    s = n1.socket()
    s.settimeout(5)
    s.connect((proxy.host, proxy.port))
    ping_through(s)
    assert client(n2).info("clients")["connected_clients"] >= 2  # the proxy's connection
    proxy.set_delay(150)
    assert ping_through(s) >= 0.3  # held 150 ms each way
    s.close()
    assert cluster.peers_for(n1, PORT) == "2@127.0.0.1:%d,3@%s:%d" % (
        proxy.port, cluster.node(3).ip, PORT)
    assert cluster.peers_for(n1, PORT, include_self=True) == "1@%s:%d,2@127.0.0.1:%d,3@%s:%d" % (
        n1.ip, PORT, proxy.port, cluster.node(3).ip, PORT)
    cluster.partition([n1], [n2])  # the proxy dials from n1's address: the partition applies
    s = n1.socket()
    s.settimeout(1.0)
    s.connect((proxy.host, proxy.port))
    s.sendall(b"PING\r\n")
    with pytest.raises(socket.timeout):
        s.recv(64)
    s.close()


def test_kill9_sigstop_sigcont_and_restart_act_on_the_node(cluster):
    n1 = cluster.node(1)
    r = client(n1, timeout=0.5)
    n1.sigstop()
    with pytest.raises(redis.exceptions.TimeoutError):
        r.ping()
    n1.sigcont()
    assert client(n1).ping()
    first_pid = n1.proc.pid
    assert n1.kill9() == -signal.SIGKILL
    assert not n1.alive()
    with pytest.raises(redis.exceptions.ConnectionError):
        client(n1).ping()
    n1.restart().wait_tcp(PORT)
    assert n1.proc.pid != first_pid
    assert client(n1).ping()
    assert client(cluster.node(2)).ping()  # the others were never touched


def redis_cas(r, key, expect, new):
    """Compare-and-set with WATCH/MULTI: True if key held expect and now holds new."""
    with r.pipeline() as p:
        try:
            p.watch(key)
            current = p.get(key)
            if current != (expect.encode() if expect is not None else None):
                return False
            p.multi()
            p.set(key, new)
            return p.execute() is not None
        except redis.exceptions.WatchError:
            return False


def test_history_is_written_in_the_checker_format(cluster, tmp_path):
    n1 = cluster.node(1)
    h = cluster.history
    r = client(n1, timeout=0.5)
    with h.invoke(1, "write", "x", "5") as op:
        r.set("x", "5")
        op.ok()
    h.invoke(1, "read", "x").ok(r.get("x").decode())
    h.invoke(1, "read", "absent key").ok(r.get("absent key"))  # None: the key is absent
    for expect, new in [("5", "7"), ("5", "9"), ("nil", "-")]:  # values that need encoding
        op = h.invoke(2, "cas", "x", expect, new)
        op.ok(redis_cas(r, "x", expect, new))
    h.invoke(2, "cas", "absent key", faults.NIL, "1").ok(redis_cas(r, "absent key", None, "1"))
    op = h.invoke(3, "write", "x", "oops")
    try:
        r.execute_command("SET", "x")  # wrong number of arguments: certainly no effect
        op.ok()
    except redis.exceptions.ResponseError:
        op.fail()
    n1.sigstop()
    with pytest.raises(redis.exceptions.TimeoutError):
        with h.invoke(4, "write", "x", "8"):
            r.set("x", "8")  # the block leaves the op open: recorded as unknown
    n1.sigcont()
    with pytest.raises(faults.HarnessError):
        h.invoke(4, "read", "x")  # a process with an unknown op is retired
    path = h.write(str(tmp_path / "history.txt"))
    lines = open(path).read().splitlines()
    assert lines[0] == "# process op key arg1 arg2 invoke complete outcome result"
    ops = [line.split(" ") for line in lines[1:]]
    assert all(len(o) == 9 for o in ops)
    assert [o[:5] + o[7:] for o in ops] == [
        ["1", "write", "x", "5", "-", "ok", "-"],
        ["1", "read", "x", "-", "-", "ok", "5"],
        ["1", "read", "absent%20key", "-", "-", "ok", "nil"],
        ["2", "cas", "x", "5", "7", "ok", "true"],
        ["2", "cas", "x", "5", "9", "ok", "false"],
        ["2", "cas", "x", "%6Eil", "%2D", "ok", "false"],
        ["2", "cas", "absent%20key", "nil", "1", "ok", "true"],
        ["3", "write", "x", "oops", "-", "fail", "-"],
        ["4", "write", "x", "8", "-", "unknown", "-"],
    ]
    for o in ops[:-1]:
        assert 0 <= int(o[5]) <= int(o[6])
    for before, after in zip(ops[:2], ops[1:3]):  # one process's ops never overlap
        assert int(after[5]) >= int(before[6])
    assert ops[-1][6] == "-"


def test_cleanup_removes_everything_even_when_the_test_fails(tmp_path):
    pids = []
    with pytest.raises(RuntimeError, match="the test failed"):
        with faults.Cluster(2, workdir=str(tmp_path)) as c:
            for node in c.nodes:
                node.start(redis_argv())
                pids.append(node.proc.pid)
            c.nodes[0].wait_tcp(PORT)
            c.partition([c.nodes[0]])
            proxy = c.delay_proxy(c.nodes[0], c.nodes[1], PORT, delay_ms=10)
            pids.append(proxy.proc.pid)
            c.nodes[1].sigstop()
            assert c.leftovers()
            raise RuntimeError("the test failed")
    assert c.leftovers() == []
    for pid in pids:
        assert gone(pid)


def test_a_run_that_died_is_cleaned_up_by_the_next(tmp_path):
    script = ("import os, signal, sys; sys.path.insert(0, %r); import faults\n"
              "c = faults.Cluster(1, workdir=%r).setup()\n"
              "c.nodes[0].start(['sleep', '600'])\n"
              "print(c.x, c.nodes[0].proc.pid, flush=True)\n"
              "os.kill(os.getpid(), signal.SIGKILL)\n"
              % (os.path.dirname(os.path.abspath(__file__)), str(tmp_path)))
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert p.returncode == -signal.SIGKILL
    x, sleeper = (int(v) for v in p.stdout.split())
    assert os.path.exists("/run/netns/polis-f%d-n1" % x)
    faults.reclaim_stale()
    assert not os.path.exists("/run/netns/polis-f%d-n1" % x)
    assert not os.path.exists(faults._Slot.path(x))
    assert gone(sleeper)


def test_the_harness_refuses_to_run_without_root():
    where = tempfile.mkdtemp(prefix="polis-faults-noroot-")  # pytest's tmp_path is root-only
    try:
        shutil.copy(faults.__file__, where)
        os.chmod(where, 0o755)
        os.chmod(os.path.join(where, "faults.py"), 0o644)
        script = ("import sys; sys.path.insert(0, %r); import faults\n"
                  "faults.Cluster(1).setup()\n" % where)
        p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                            sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=30, cwd=where)
    finally:
        shutil.rmtree(where)
    assert p.returncode != 0
    assert "HarnessError: the fault harness must run as root" in p.stderr
