"""Fault tests of a 3-replica polis group: every node in its own network namespace (faults.py),
clients on the host recording every operation (repl_clients.py). Each test proves a behaviour
under one kind of fault, or a mix: kill -9, partitions (both ways and one way), SIGSTOP, packet
loss (nftables) and delay (the harness' proxies). What is checked: a new leader is elected and
writes resume; every acknowledged write is present afterwards and no failed one ever applies;
never two leaders in one term; replicas converge; register/CAS histories are linearizable
(build/polis-lincheck). Faults are drawn from a seed (POLIS_FAULT_SEED overrides it).
Run as root; about two and a half minutes in all."""
import os
import re
import sys
import time

import pytest
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faults  # noqa: E402
from repl_clients import (BUS_PORT, Conn, Nemesis, RegisterClients, ReplGroup,  # noqa: E402
                          SetWriters, TermWatcher, lincheck)

SEED = int(os.environ.get("POLIS_FAULT_SEED", "5"))


@pytest.fixture
def cluster(tmp_path):
    with faults.Cluster(3, workdir=str(tmp_path)) as c:
        yield c


def start_group(cluster, **kw):
    """A 3-replica group that has elected a leader and committed a write."""
    g = ReplGroup(cluster, **kw).start()
    g.wait_leader(timeout=10)
    g.wait_write(g.nodes, timeout=10)
    return g


def others(group, node):
    return [n for n in group.nodes if n is not node]


def wait_stepped_down(group, old, timeout=10.0):
    """Waits until old follows a leader other than itself at a term at least the one that
    leader was elected in; returns that leader."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leader = group.leader()
        info = group.info(old)
        if leader is not None and leader is not old and info and info.get("role") == "follower" \
                and int(info.get("leader_id", 0)) == leader.index:
            return leader
        time.sleep(0.05)
    raise AssertionError("%s did not step down and follow: %s" % (old.name, group.describe()))


def wait_for(condition, timeout, message):
    """Polls condition() until it is true; AssertionError with message() after timeout."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message())
        time.sleep(0.05)


def finish(group, watcher, *writers):
    """After the faults: a leader, every replica caught up with the same data, every writer's
    acknowledged writes present, no split brain. Returns the writers' outcome counts."""
    leader = group.wait_leader(timeout=10)
    group.wait_write(group.nodes, timeout=10)
    counts = [w.verify(leader) for w in writers]
    group.wait_caught_up(timeout=20)
    data = group.assert_converged(timeout=20)
    for w in writers:
        missing = [o.key for o in w.ops("ok") if data.get(o.key) != o.args[0]]
        assert not missing, "acknowledged writes missing on the replicas: %s" % missing[:10]
    watcher.stop()
    assert not watcher.split_brain(), "two leaders in one term: %s" % watcher.split_brain()
    return counts


def test_leader_kill9_under_write_load_elects_a_new_leader_and_keeps_acknowledged_writes(
        cluster):
    g = start_group(cluster)
    watcher = TermWatcher(g).start()
    w = SetWriters(g, clients=4, seed=SEED).start()
    time.sleep(1.5)
    old = g.wait_leader()
    kill_us = w.history.now_us()
    old.kill9()
    new = g.wait_leader(among=others(g, old), timeout=10)
    time.sleep(1.5)  # writes go on
    resumed = w.ops("ok", after_us=kill_us)
    assert len(resumed) >= 20, "writes did not resume: %d acknowledged after the kill; %s" % (
        len(resumed), g.describe())
    # Through both survivors. (Which nodes the writers use now depends on timing: a writer
    # whose forwarded write was in flight to the dead leader is closed and moves on.)
    for node in others(g, old):
        r = g.client(node)
        assert r.set("after-kill:%s" % node.name, "x"), node
        r.close()
    g.restart(old)
    time.sleep(1.0)
    w.stop()
    counts = finish(g, watcher, w)
    assert counts[0]["ok"] > len(resumed)
    assert new is not old


def test_leader_partitioned_from_both_followers_stops_acknowledging_and_steps_down(cluster):
    g = start_group(cluster)
    watcher = TermWatcher(g).start()
    old = g.wait_leader()
    majority = others(g, old)
    on_old = SetWriters(g, clients=2, nodes=[old], sticky=True, seed=SEED, prefix="old").start()
    on_rest = SetWriters(g, clients=2, nodes=majority, seed=SEED, prefix="rest").start()
    time.sleep(0.8)
    cluster.isolate(old)
    cut = (on_old.history.now_us(), on_rest.history.now_us())  # every rule is in force now
    new = g.wait_leader(among=majority, timeout=10)
    assert new is not old
    time.sleep(2.0)
    info = g.info(old)
    assert info and info.get("role") != "leader", \
        "a leader cut off from a majority still leads (check-quorum): %s" % g.describe()
    healed = on_old.history.now_us()
    cluster.heal()
    acked_alone = on_old.ops("ok", after_us=cut[0], before_us=healed)
    assert not acked_alone, "the cut-off leader acknowledged %d writes, e.g. %s" % (
        len(acked_alone), acked_alone[:3])
    assert len(on_rest.ops("ok", after_us=cut[1])) >= 10, "the majority did not take writes"
    wait_stepped_down(g, old)
    time.sleep(0.5)
    on_old.stop()
    on_rest.stop()
    counts = finish(g, watcher, on_old, on_rest)
    assert counts[0]["ok"] > 0, "writes through the old leader never resumed after healing"


def test_leader_stopped_longer_than_the_election_timeout_is_replaced_then_follows(cluster):
    g = start_group(cluster)
    watcher = TermWatcher(g).start()
    old = g.wait_leader()
    w = SetWriters(g, clients=3, seed=SEED).start()
    time.sleep(0.8)
    stop_us = w.history.now_us()
    old.sigstop()
    new = g.wait_leader(among=others(g, old), timeout=10)
    assert new is not old
    # A client whose command went to the stopped leader waits for it (outcome unknown), either
    # until its own timeout or until its node gives up on the silent leader and closes it.
    wait_for(lambda: len(w.ops("ok", after_us=stop_us)) >= 10, 10,
             lambda: "writes did not resume: %s" % g.describe())
    time.sleep(0.5)  # the stop lasts well past the election timeout (100-200 ms)
    old.sigcont()    # it wakes up believing it leads
    wait_stepped_down(g, old)
    g.wait_write([old], timeout=5)  # and serves clients again, forwarding to the new leader
    time.sleep(1.0)
    w.stop()
    finish(g, watcher, w)


def snapshot_installed(group, node):
    """Evidence that node installed a snapshot sent by its leader: the count in INFO, or its
    log line."""
    info = group.info(node, section="replication") or {}
    for k, v in info.items():
        if "snapshot" in k and "install" in k and v.isdigit() and int(v) > 0:
            return True
    return re.search(r"install\w*\b.*snapshot|snapshot.*\binstall", node.read_log(200000),
                     re.IGNORECASE) is not None


def test_follower_restarted_after_a_snapshot_catches_up_from_the_snapshot(cluster):
    g = start_group(cluster, args=["--snapshot-log-size", "1mb"])
    leader = g.wait_leader()
    follower = others(g, leader)[0]
    follower.kill9()
    r = g.client(leader, timeout=10)
    value = "x" * 64
    # Behind a snapshot the leader keeps, for slow followers, at most 10,000 entries holding a
    # quarter of the snapshot size (group.h): 30,000 writes (about 4 MB of log, a snapshot every
    # 1 MB) leave the follower's next entry behind.
    keys = 30000
    for start in range(0, keys, 1000):
        p = r.pipeline(transaction=False)
        for k in range(start, start + 1000):
            p.set("k%05d" % k, "%s%05d" % (value, k))
        assert all(p.execute())
    assert not snapshot_installed(g, follower)
    g.restart(follower)
    g.wait_caught_up(timeout=20)
    assert snapshot_installed(g, follower), "no sign of a snapshot installed in %s:\n%s" % (
        follower.name, follower.read_log(3000))
    r.set("after", "the snapshot")  # and the log after it
    g.wait_caught_up(timeout=10)
    data = g.data(follower)
    assert len(data) >= keys + 1
    assert all(data["k%05d" % k] == "%s%05d" % (value, k) for k in range(keys))
    assert data["after"] == "the snapshot"
    assert data == g.data(leader)
    r.close()


def test_follower_reads_after_readonly_answer_while_the_leader_is_partitioned_away(cluster):
    g = start_group(cluster)
    leader = g.wait_leader()
    follower, other = others(g, leader)
    r = g.client(leader)
    for k in range(100):
        r.set("k%d" % k, "v%d" % k)
    g.wait_caught_up()
    c = Conn(g, follower)
    assert c.connect()
    assert c.call("READONLY") in (b"OK", "OK")
    cluster.isolate(leader)
    answered = 0
    end = time.monotonic() + 2.0
    while time.monotonic() < end:  # the election on the majority side happens meanwhile
        k = answered % 100
        assert c.call("GET", "k%d" % k) == b"v%d" % k
        answered += 1
        time.sleep(0.02)
    cluster.isolate(follower)  # now it hears nobody: no leader anywhere it can reach
    time.sleep(0.5)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        k = answered % 100
        assert c.call("GET", "k%d" % k) == b"v%d" % k
        answered += 1
        time.sleep(0.02)
    linear = Conn(g, follower, timeout=5)
    assert linear.connect()
    with pytest.raises(redis.exceptions.ResponseError):
        linear.call("GET", "k1")  # a linearizable read needs a leader: an error, not a hang
    assert c.call("READWRITE") in (b"OK", "OK")
    with pytest.raises(redis.exceptions.ResponseError):
        c.call("GET", "k1")
    cluster.heal()
    g.wait_leader(timeout=10)
    assert c.call("GET", "k1") == b"v1"
    c.close()
    linear.close()
    r.close()


def test_register_and_cas_workload_under_mixed_faults_is_linearizable(cluster, tmp_path):
    cluster.delay_all(BUS_PORT, 0)  # every link through a proxy, for the delay faults
    g = start_group(cluster)
    watcher = TermWatcher(g).start()
    reg = RegisterClients(g, clients=6, seed=SEED, max_seconds=60).start()
    nemesis = Nemesis(g, seed=SEED)
    log = nemesis.run(20.0)
    g.wait_leader(timeout=10)
    g.wait_write(g.nodes, timeout=10)
    time.sleep(1.0)
    reg.stop()
    counts = reg.counts()
    assert counts.get("write-ok", 0) >= 50 and counts.get("cas-ok", 0) >= 20, (counts, log)
    lincheck(reg.history, str(tmp_path / "history.txt"))
    g.wait_caught_up(timeout=20)
    g.assert_converged(timeout=20)
    watcher.stop()
    assert not watcher.split_brain(), (watcher.split_brain(), log)


def test_async_replicas_converge_after_mixed_faults(cluster):
    g = start_group(cluster, replication="async")
    watcher = TermWatcher(g).start()
    w = SetWriters(g, clients=3, seed=SEED, pause_s=0.002).start()
    nemesis = Nemesis(g, seed=SEED + 1, faults_allowed=("kill_leader", "isolate_leader",
                                                        "pause_leader", "loss",
                                                        "isolate_follower", "leader_deaf"))
    log = nemesis.run(10.0)
    g.wait_leader(timeout=10)
    g.wait_write(g.nodes, timeout=10)
    time.sleep(0.5)
    w.stop()
    assert len(w.ops("ok")) >= 100, (len(w.ops("ok")), log)
    g.wait_caught_up(timeout=20)
    data = g.assert_converged(timeout=20)
    assert any(k.startswith("s:") for k in data)
    watcher.stop()
    assert not watcher.split_brain(), (watcher.split_brain(), log)


def test_async_leader_isolated_under_writes_resynchronises_after_healing(cluster):
    """An async leader applies writes no follower has; cut off, it steps down, and the new
    leader's log contradicts what it applied: it must discard its data and resynchronise
    (INFO resyncs), then hold the group's data like the others."""
    g = start_group(cluster, replication="async")
    w = SetWriters(g, clients=3, seed=SEED, pause_s=0.002).start()
    time.sleep(0.5)
    old = g.wait_leader()
    cluster.isolate(old)
    g.wait_leader(among=others(g, old), timeout=10)
    time.sleep(1.0)
    cluster.heal()
    time.sleep(0.5)
    w.stop()
    g.wait_caught_up(timeout=10)
    assert int(g.info(old)["resyncs"]) >= 1, g.info(old)
    g.assert_converged(timeout=10)
