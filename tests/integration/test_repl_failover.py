"""Failover on loopback: the leader killed with -9 (a new leader, acknowledged writes kept), a node
restarted with its directory (it rejoins with its identity and catches up), leadership handed
over on request and when the leader is stopped with SIGTERM (docs/ARCHITECTURE.md,
"Replication")."""
import subprocess
import time

import pytest
import redis

from harness import POLIS
from replgroup import Group, wait_until


@pytest.fixture
def group(tmp_path):
    g = Group(tmp_path, 3)
    yield g
    g.stop()


def write_keys(node, prefix, count):
    pipe = node.client().pipeline(transaction=False)
    for i in range(count):
        pipe.set("%s:%d" % (prefix, i), i)
    assert all(pipe.execute())


def test_leader_killed_new_leader_keeps_every_acknowledged_write(group):
    old = group.wait_leader()
    survivor = group.followers(old)[0]
    write_keys(old, "before", 300)
    write_keys(survivor, "forwarded", 100)
    old.kill9()
    r = survivor.client()
    deadline = time.monotonic() + 10
    while True:  # the first write that succeeds after the kill
        try:
            r.set("after", "1")
            break
        except (redis.ConnectionError, redis.ResponseError):
            assert time.monotonic() < deadline, "no write succeeded after the leader died"
            r = survivor.client()
            time.sleep(0.01)
    new = group.wait_leader()
    assert new is not old and group.info(new)["raft_term"] > 1
    for node in group.alive():
        values = node.client().mget(["before:%d" % i for i in range(300)] +
                                    ["forwarded:%d" % i for i in range(100)] + ["after"])
        assert values == [str(i).encode() for i in range(300)] + \
            [str(i).encode() for i in range(100)] + [b"1"]
    assert "leader in term" in new.read_log()


def test_restarted_node_rejoins_with_its_directory_and_catches_up(group):
    leader = group.wait_leader()
    follower = group.followers(leader)[0]
    write_keys(leader, "a", 100)
    follower.kill9()
    write_keys(leader, "b", 500)
    follower.start()  # the same command line and directory
    index = group.info(leader)["commit_index"]
    group.wait_applied(follower, index)
    r = follower.client()
    r.execute_command("READONLY")
    assert r.get("a:99") == b"99" and r.get("b:499") == b"499"
    assert group.info(follower)["node_id"] == follower.node_id
    assert wait_until(lambda: group.info(leader)["member%d" % follower.node_id]["lag"] == 0)


def test_directory_keeps_its_identity_and_refuses_another_id(group, tmp_path):
    group.wait_leader()
    node = group.node(2)
    node.stop()
    out = subprocess.run([POLIS, "server", "--id", "5", "--port", str(node.port), "--dir",
                          node.dir, "--peers", group.peers], capture_output=True, text=True,
                         timeout=10)
    assert out.returncode != 0
    assert "belongs to node 2; refusing to start it as node 5" in out.stderr
    # Without --id the directory's own id is used.
    node.args = ["--peers", group.peers]
    node.start()
    assert group.info(node)["node_id"] == 2
    group.wait_leader()


def test_transfer_on_command_moves_leadership(group):
    leader = group.wait_leader()
    target = group.followers(leader)[0]
    reply = group.followers(leader)[1].client().execute_command(
        "POLIS.GROUP", "TRANSFER", target.node_id)  # forwarded to the leader
    assert reply in (True, b"OK")
    assert group.wait_leader() is target
    with pytest.raises(redis.ResponseError, match="not another voter"):
        target.client().execute_command("POLIS.GROUP", "TRANSFER", 99)
    assert target.client().execute_command("POLIS.GROUP", "TRANSFER") in (True, b"OK")
    assert group.wait_leader() is not target


def test_sigterm_of_the_leader_hands_leadership_over_first(group):
    leader = group.wait_leader()
    write_keys(leader, "k", 50)
    term = group.info(leader)["raft_term"]
    assert leader.stop() == 0
    assert "handing leadership to node" in leader.read_log()
    others = group.alive()
    new = group.wait_leader(among=others, timeout=2)
    # A transfer elects the target at once: one term later, no election timeout spent.
    assert group.info(new)["raft_term"] == term + 1
    assert new.client().get("k:49") == b"49"
