"""A 3-replica group on loopback: election, INFO replication, writes and reads through any node,
READONLY/READWRITE, WAIT, per-client order through a follower (docs/ARCHITECTURE.md,
"Replication")."""
import subprocess
import time

import pytest
import redis

from harness import POLIS, free_port, raw_exchange
from replgroup import Group, wait_until


@pytest.fixture
def group(tmp_path):
    g = Group(tmp_path, 3)
    yield g
    g.stop()


def test_three_nodes_elect_one_leader_and_report_it(group):
    leader = group.wait_leader()
    for node in group.nodes.values():
        info = group.info(node)
        assert info["role"] == ("leader" if node is leader else "follower")
        assert info["leader_id"] == leader.node_id
        assert info["leader_address"] == "127.0.0.1:%d" % leader.port
        assert info["node_id"] == node.node_id
        assert info["replication"] == "sync"
        assert info["voters"] == 3 and info["learners"] == 0
        assert info["raft_term"] >= 1
        assert info["commit_index"] >= 1 and info["applied_index"] >= 1
        others = [i for i in group.nodes if i != node.node_id]
        for other in others:
            line = info["member%d" % other]
            assert line["id"] == other
            assert line["address"] == "127.0.0.1:%d" % (group.node(other).port + 10000)
            assert line["role"] == "voter"
    # Match, lag and state are the leader's knowledge; followers' client addresses come from
    # the node info every node sends every half second.
    info = wait_until(lambda: all(v["client"] for k, v in group.info(leader).items()
                                  if k.startswith("member")) and group.info(leader))
    for other in group.followers(leader):
        line = info["member%d" % other.node_id]
        assert line["state"] == "replicate" and line["lag"] == 0
        assert line["match"] == info["last_index"] and line["connected"] == 1
        assert line["client"] == "127.0.0.1:%d" % other.port
    assert "group 0: leader in term" in leader.read_log()


def test_writes_through_leader_and_followers_are_readable_everywhere(group):
    leader = group.wait_leader()
    followers = group.followers(leader)
    leader.client().set("via-leader", "L")
    clients = [f.client() for f in followers]
    for f, r in zip(followers, clients):
        assert r.set("via-%d" % f.node_id, f.node_id) is True  # forwarded
        assert r.incr("counter") >= 1
    keys = ["via-leader"] + ["via-%d" % f.node_id for f in followers]
    expected = [b"L"] + [str(f.node_id).encode() for f in followers]
    for node in group.nodes.values():
        # Linearizable reads: a follower forwards them, so it sees every acknowledged write.
        assert node.client().mget(keys) == expected
        assert node.client().get("counter") == b"2"
    assert group.info(leader)["forwarded_clients"] >= len(clients)  # one per follower client
    for r in clients:
        r.connection_pool.disconnect()
    assert wait_until(lambda: group.info(leader)["forwarded_clients"] == 0)


def test_readonly_serves_local_state_and_readwrite_turns_it_off(group):
    leader = group.wait_leader()
    follower = group.followers(leader)[0]
    leader.client().set("k", "v1")
    index = group.info(leader)["commit_index"]
    group.wait_applied(follower, index)
    r = follower.client()
    assert r.execute_command("READONLY") is True
    assert r.get("k") == b"v1"
    # With the other two nodes gone there is no leader: local reads still answer, others wait
    # about two election timeouts, then fail without effect.
    for node in group.nodes.values():
        if node is not follower:
            node.kill9()
    assert r.get("k") == b"v1"
    assert r.execute_command("READWRITE") is True
    start = time.monotonic()
    with pytest.raises(redis.ResponseError, match="^CLUSTERDOWN No leader"):
        r.get("k")
    assert time.monotonic() - start >= 0.3
    with pytest.raises(redis.ResponseError, match="^CLUSTERDOWN"):
        r.set("k", "v2")
    assert r.execute_command("READONLY") is True
    assert r.get("k") == b"v1"
    assert r.execute_command("RESET") in ("RESET", b"RESET")  # it leaves READONLY, as Redis
    with pytest.raises(redis.ResponseError, match="^CLUSTERDOWN"):
        r.get("k")


def test_wait_counts_the_replicas_holding_the_last_write(group):
    leader = group.wait_leader()
    follower = group.followers(leader)[0]
    for node in (leader, follower):
        r = node.client()
        r.set("w", node.node_id)
        assert r.wait(2, 2000) == 2
        start = time.monotonic()
        assert r.wait(3, 200) == 2  # only two replicas exist: answered at the timeout
        assert time.monotonic() - start >= 0.15
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        leader.client().wait(1, -1)


def test_follower_keeps_a_pipelines_replies_in_order(group):
    leader = group.wait_leader()
    follower = group.followers(leader)[0]
    pipe = follower.client().pipeline(transaction=False)
    for i in range(200):
        pipe.set("p%d" % i, i)
        pipe.incr("seq")
        pipe.get("p%d" % i)
        if i % 50 == 0:
            pipe.ping()  # answered by the follower itself, in its place
    results = pipe.execute()
    expected = []
    for i in range(200):
        expected += [True, i + 1, str(i).encode()]
        if i % 50 == 0:
            expected.append(True)
    assert results == expected
    # RESP3 replies come back as the client asked for them (HELLO is the follower's own).
    out = raw_exchange(follower.port, b"HELLO 3\r\nHGETALL nohash\r\nGET nokey\r\n")
    assert out.endswith(b"%0\r\n_\r\n"), out


def test_group_status_reports_members(group):
    leader = group.wait_leader()
    st = group.followers(leader)[0].client().execute_command("POLIS.GROUP", "STATUS")
    fields = dict(zip(st[0::2], st[1::2]))
    assert fields[b"role"] == b"follower" and fields[b"leader_id"] == leader.node_id
    assert fields[b"replication"] == b"sync"
    members = [dict(zip(m[0::2], m[1::2])) for m in fields[b"members"]]
    assert sorted(m[b"id"] for m in members) == sorted(
        i for i in group.nodes if i != fields[b"node_id"])
    help_lines = leader.client().execute_command("POLIS.GROUP", "HELP")
    assert any(b"TRANSFER" in line for line in help_lines)


def test_start_is_refused_without_secret_for_remote_peers_and_for_caches(tmp_path):
    port = free_port()
    cases = [
        (["--peers", "1@127.0.0.1:%d,2@10.255.0.2:17000" % (port + 10000)],
         "no cluster secret is set"),
        (["--persistence", "off", "--peers", "1@127.0.0.1:%d" % (port + 10000)],
         "--peers needs persistence"),
        (["--peers", "1@127.0.0.1:%d,garbage" % (port + 10000)], "--peers: bad peer"),
    ]
    for i, (args, message) in enumerate(cases):
        out = subprocess.run([POLIS, "server", "--port", str(port), "--dir",
                              str(tmp_path / ("d%d" % i))] + args,
                             capture_output=True, text=True, timeout=10)
        assert out.returncode != 0 and message in out.stderr, out.stderr
