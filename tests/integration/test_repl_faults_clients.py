"""Tests of the recorded clients and fault schedule the replication fault tests stand on
(repl_clients.py), against single polis nodes in network namespaces: the register workload's
compare-and-set mapping gives histories the checker accepts, the checker and the write
verification do catch what they must, the split-brain detector flags two leaders in a term, and
the Nemesis leaves everything healed. Run as root (network namespaces); about 25 seconds."""
import os
import sys
import time

import pytest
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import faults  # noqa: E402
from repl_clients import (BUS_PORT, Nemesis, RegisterClients, ReplGroup, SetWriters,  # noqa: E402
                          TermWatcher, lincheck, outcome_of_error)

SEED = int(os.environ.get("POLIS_FAULT_SEED", "11"))


@pytest.fixture
def single(tmp_path):
    """One durable polis node (a group of one) in its own namespace."""
    with faults.Cluster(1, workdir=str(tmp_path)) as c:
        yield ReplGroup(c, replicated=False).start()


@pytest.fixture
def two_unreplicated(tmp_path):
    """Two independent polis nodes: clients that treat them as one group must be caught."""
    with faults.Cluster(2, workdir=str(tmp_path)) as c:
        yield ReplGroup(c, replicated=False).start()


def test_register_history_of_one_node_under_kill9_and_sigstop_is_linearizable(single, tmp_path):
    node = single.nodes[0]
    reg = RegisterClients(single, clients=4, keys=("a", "b"), seed=SEED, max_seconds=20).start()
    time.sleep(1.0)
    node.kill9()
    time.sleep(0.3)
    single.restart(node)
    time.sleep(0.8)
    node.sigstop()
    time.sleep(2.0)  # longer than a client's timeout: its operations end unknown
    node.sigcont()
    time.sleep(1.0)
    reg.stop()
    counts = reg.counts()
    for kind in ("read-ok", "write-ok", "cas-ok"):
        assert counts.get(kind, 0) > 0, counts
    assert sum(n for kind, n in counts.items() if kind.endswith("unknown")) >= 4, counts
    lincheck(reg.history, str(tmp_path / "history.txt"))
    swapped = [o for o in reg.history.ops if o.op == "cas" and o.outcome == "ok" and o.result]
    assert swapped, "no compare-and-set ever swapped: %s" % counts


def test_checker_rejects_registers_split_over_two_unreplicated_nodes(two_unreplicated,
                                                                     tmp_path):
    reg = RegisterClients(two_unreplicated, clients=4, keys=("a",), seed=SEED,
                          max_ops=150, max_seconds=20).start().finish()
    with pytest.raises(AssertionError, match="not linearizable"):
        lincheck(reg.history, str(tmp_path / "history.txt"))


def test_write_verification_finds_lost_and_ghost_writes(two_unreplicated):
    n1, n2 = two_unreplicated.nodes
    w = SetWriters(two_unreplicated, clients=2, nodes=[n1], max_ops=50).start().finish()
    assert w.verify(n1) == {"ok": 100, "fail": 0, "unknown": 0}
    with pytest.raises(AssertionError, match="100 acknowledged writes lost"):
        w.verify(n2)  # the writes went to n1 only
    ghost = w.history.invoke("x", "write", "s:ghost", "v")
    ghost.fail()
    two_unreplicated.client(n1).set("s:ghost", "v")
    with pytest.raises(AssertionError, match="1 failed writes applied"):
        w.verify(n1)


def test_error_replies_are_failures_unless_the_outcome_is_unknown():
    assert outcome_of_error(redis.exceptions.ResponseError("CLUSTERDOWN no leader")) == "fail"
    assert outcome_of_error(redis.exceptions.BusyLoadingError("LOADING")) == "fail"
    assert outcome_of_error(redis.exceptions.TimeoutError()) == "unknown"
    assert outcome_of_error(redis.exceptions.ConnectionError()) == "unknown"
    assert outcome_of_error(redis.exceptions.ResponseError(
        "NOTAPPLIED The write was not applied: leadership changed before it committed")) == "fail"
    assert outcome_of_error(redis.exceptions.ResponseError(
        "UNKNOWN The write's outcome is unknown: leadership changed and whether it committed "
        "was not learned in time; it may or may not have been applied")) == "unknown"
    assert outcome_of_error(redis.exceptions.ResponseError(
        "MISCONF Errors writing to the write-ahead log: No space left on device")) == "unknown"


def test_term_watcher_reports_two_leaders_in_one_term(two_unreplicated):
    n1, n2 = two_unreplicated.nodes
    w = TermWatcher(two_unreplicated)
    w.observe(n1, {"role": "leader", "raft_term": "3", "leader_id": "1"})
    w.observe(n2, {"role": "follower", "raft_term": "3", "leader_id": "1"})
    w.observe(n2, {"role": "candidate", "raft_term": "4", "leader_id": "0"})
    w.observe(n2, {"role": "leader", "raft_term": "5", "leader_id": "2"})
    assert w.split_brain() == {}
    w.observe(n1, {"role": "leader", "raft_term": "5", "leader_id": "1"})
    assert w.split_brain() == {5: [1, 2]}
    assert w.terms_with_leader() == [3, 5]


def test_nemesis_runs_every_fault_and_leaves_the_cluster_healed(tmp_path):
    with faults.Cluster(3, workdir=str(tmp_path)) as c:
        c.delay_all(BUS_PORT, 0)
        group = ReplGroup(c, replicated=False).start()
        nemesis = Nemesis(group, seed=SEED, hold_s=(0.1, 0.2), quiet_s=0.05)
        for fault in Nemesis.FAULTS:
            getattr(nemesis, fault)(0.1)
        nemesis.heal()
        done = {entry[1] for entry in nemesis.log}
        assert {"kill -9", "restart", "isolate", "SIGSTOP", "loss", "delay", "one-way",
                "heal"} <= done, nemesis.log
        for node in c.nodes:
            assert node.alive()
            assert "drop" not in c.rules(node)
            assert group.client(node).ping()
        assert all(p.delay_ms == 0 for p in c.proxies)
