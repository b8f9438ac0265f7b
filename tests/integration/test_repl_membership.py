"""Membership on loopback: a fourth node added with POLIS.GROUP ADD catches up from a snapshot
streamed over the bus (the log it needs was compacted), then becomes a voter; REMOVE takes a
node out; a single node grows into a group (docs/ARCHITECTURE.md, "Replication")."""
import pytest
import redis

from harness import free_port
from replgroup import Group, wait_until

KEYS = 12000
# Behind a snapshot a leader keeps at most a quarter of --snapshot-log-size of log (group.h):
# with 1 MB, the 12,000 writes (about 500 KB of log) leave a newcomer's first entry compacted.
SMALL_LOG = ["--snapshot-log-size", "1mb"]


def fill(node, prefix, count):
    r = node.client()
    for start in range(0, count, 1000):
        pipe = r.pipeline(transaction=False)
        for i in range(start, min(start + 1000, count)):
            pipe.set("%s:%d" % (prefix, i), i)
        pipe.execute()


def test_added_node_catches_up_by_snapshot_becomes_voter_and_is_removed(tmp_path):
    g = Group(tmp_path, 3, args=SMALL_LOG)
    try:
        leader = g.wait_leader()
        fill(leader, "k", KEYS)
        assert leader.client().save() is True  # compacts the log below what a newcomer needs
        assert g.info(leader)["snapshot_index"] > 0
        port = free_port()
        newcomer = g.add_node(4, port, g.peers)  # its id is not in --peers: it waits to join
        assert g.info(newcomer)["voters"] == 0
        follower = g.followers(leader)[0]
        reply = follower.client().execute_command(  # any node: forwarded to the leader
            "POLIS.GROUP", "ADD", 4, "127.0.0.1:%d" % (port + 10000))
        assert reply in (True, b"OK")
        member = wait_until(lambda: g.info(leader).get("member4", {}).get("role") == "voter"
                            and g.info(leader)["member4"]["lag"] == 0 and g.info(leader))
        assert member, g.info(leader)
        info = g.info(newcomer)
        assert info["snapshots_installed"] >= 1 and info["voters"] == 4
        assert "installed the leader's snapshot" in newcomer.read_log()
        r = newcomer.client()
        assert r.get("k:0") == b"0" and r.get("k:%d" % (KEYS - 1)) == b"%d" % (KEYS - 1)
        leader.client().set("later", "x")
        assert r.get("later") == b"x"  # a voter now: reads through the leader see it
        with pytest.raises(redis.ResponseError, match="already a member"):
            r.execute_command("POLIS.GROUP", "ADD", 4, "127.0.0.1:%d" % (port + 10000))
        assert r.execute_command("POLIS.GROUP", "REMOVE", 4) in (True, b"OK")
        assert wait_until(lambda: "member4" not in g.info(leader) and g.info(leader)["voters"] == 3)
        with pytest.raises(redis.ResponseError, match="not a member"):
            leader.client().execute_command("POLIS.GROUP", "REMOVE", 4)
        leader.client().set("after-remove", "y")
        assert leader.client().get("after-remove") == b"y"
    finally:
        g.stop()


def test_single_node_grows_into_a_group_with_a_learner(tmp_path):
    g = Group(tmp_path, 1)
    try:
        solo = g.wait_leader()
        fill(solo, "s", 500)
        port = free_port()
        learner = g.add_node(2, port, "1@127.0.0.1:%d" % (solo.port + 10000))
        reply = solo.client().execute_command("POLIS.GROUP", "ADD", 2,
                                              "127.0.0.1:%d" % (port + 10000), "LEARNER")
        assert reply in (True, b"OK")
        assert wait_until(lambda: g.info(learner)["role"] == "learner" and
                          g.info(learner)["applied_index"] >= g.info(solo)["commit_index"])
        assert g.info(solo)["learners"] == 1 and g.info(solo)["voters"] == 1
        r = learner.client()
        r.execute_command("READONLY")
        assert r.get("s:499") == b"499"
    finally:
        g.stop()
