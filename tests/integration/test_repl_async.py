"""--replication async on loopback: writes are acknowledged after the leader's own fsync and
reach the followers; a former leader that applied writes the group lost at a failover discards
its state and resynchronises from the new leader (docs/ARCHITECTURE.md, "Replication")."""
import os
import signal
import time

import pytest
import redis

from replgroup import Group, wait_until


def test_async_group_replicates_and_a_diverged_replica_resynchronises(tmp_path):
    g = Group(tmp_path, 3, args=["--replication", "async"])
    try:
        old = g.wait_leader()
        assert g.info(old)["replication"] == "async"
        r = old.client()
        r.set("shared", "1")
        followers = g.followers(old)
        for f in followers:
            g.wait_applied(f, g.info(old)["commit_index"])
        for f in followers:
            f.kill9()
        # Alone, the leader still commits on its own fsync until check-quorum makes it step
        # down (an election timeout): this write is acknowledged but no other node has it.
        r.set("lost", "x")
        old.proc.send_signal(signal.SIGSTOP)
        try:
            for f in followers:
                f.start()
            new = g.wait_leader(among=followers)
            new.client().set("after", "y")
        finally:
            old.proc.send_signal(signal.SIGCONT)
        # The old leader applied "lost"; the new leader's log does not hold it: the old leader
        # must drop its state and copy the leader's, not keep a diverged keyspace.
        assert wait_until(lambda: g.info(old)["resyncs"] >= 1, timeout=10), old.read_log()
        assert wait_until(lambda: g.info(old)["role"] == "follower" and
                          g.info(old)["applied_index"] >= g.info(new)["commit_index"])
        ro = old.client()
        ro.execute_command("READONLY")
        assert ro.get("lost") is None
        assert ro.get("after") == b"y" and ro.get("shared") == b"1"
        assert "resynchronising from the leader" in old.read_log()
        # Its vote floor (kept on disk while its log was empty) is gone once it caught up.
        assert wait_until(lambda: not os.path.exists(os.path.join(old.dir, "vote-floor")))
        # The group goes on: writes through the former leader reach everyone.
        assert old.client().set("end", "z") is True
        for node in g.nodes.values():
            assert node.client().get("end") == b"z"
    finally:
        g.stop()


def test_async_writes_are_answered_without_waiting_for_followers(tmp_path):
    g = Group(tmp_path, 3, args=["--replication", "async"])
    try:
        leader = g.wait_leader()
        pipe = leader.client().pipeline(transaction=False)
        for i in range(1000):
            pipe.set("a:%d" % i, i)
        assert all(pipe.execute())
        commit = g.info(leader)["commit_index"]
        for f in g.followers(leader):
            g.wait_applied(f, commit)
            ro = f.client()
            ro.execute_command("READONLY")
            assert ro.get("a:999") == b"999"
        # With both followers gone the leader still answers at once (a sync leader could not
        # commit), until check-quorum makes it step down after an election timeout or two.
        for f in g.followers(leader):
            f.kill9()
        start = time.monotonic()
        assert leader.client().set("alone", "1") is True
        assert time.monotonic() - start < 0.1
        assert wait_until(lambda: g.info(leader)["role"] != "leader", timeout=5)
        with pytest.raises(redis.ResponseError, match="^CLUSTERDOWN"):
            leader.client().set("later", "1")
    finally:
        g.stop()
