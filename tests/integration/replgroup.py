"""A replication group of real `polis server` processes on loopback, for the test_repl_* tests.

    g = Group(tmp_path, 3)                 # nodes 1..3 on free ports, bus ports 10000 above
    leader = g.wait_leader()               # the PolisServer that leads (all agree on it)
    r = g.node(2).client()                 # any node serves any client
    g.info(leader)["member2"]["match"]     # INFO replication, parsed by redis-py
    g.stop()                               # every node (the fixture does it)
"""
import time

import redis

from harness import PolisServer, free_port


def wait_until(predicate, timeout=10.0, interval=0.02):
    """Polls predicate until it returns something true; returns it (None on timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (redis.exceptions.RedisError, OSError):
            value = None
        if value:
            return value
        time.sleep(interval)
    return None


class Group:
    def __init__(self, tmp_path, count=3, args=(), start=True):
        self.tmp_path = tmp_path
        self.args = list(args)
        self.nodes = {}
        ports = [free_port() for _ in range(count)]
        self.peers = ",".join("%d@127.0.0.1:%d" % (i + 1, p + 10000) for i, p in enumerate(ports))
        for i, port in enumerate(ports):
            self.add_node(i + 1, port, self.peers, start=False)
        if start:
            try:
                for node in self.nodes.values():
                    node.start()
            except BaseException:
                self.stop()  # a node that failed to start must not leave the others running
                raise

    def add_node(self, node_id, port, peers, start=True, extra=()):
        node = PolisServer(self.tmp_path, "--id", str(node_id), "--peers", peers,
                           *(self.args + list(extra)), port=port, start=start,
                           name="n%d" % node_id)
        node.node_id = node_id
        self.nodes[node_id] = node
        return node

    def node(self, node_id):
        return self.nodes[node_id]

    def alive(self):
        return [n for n in self.nodes.values() if n.alive()]

    @staticmethod
    def info(node):
        return node.client(socket_timeout=2).info("replication")

    def leader(self, among=None):
        """The node that says it leads and that every other live node names, or None."""
        nodes = among or self.alive()
        infos = {}
        for n in nodes:
            try:
                infos[n.node_id] = self.info(n)
            except (redis.exceptions.RedisError, OSError):
                return None
        leaders = [i for i, info in infos.items() if info["role"] == "leader"]
        if len(leaders) != 1:
            return None
        lid = leaders[0]
        if any(info["leader_id"] != lid for info in infos.values()):
            return None
        return self.nodes[lid]

    def wait_leader(self, among=None, timeout=10.0):
        leader = wait_until(lambda: self.leader(among), timeout)
        assert leader is not None, "no agreed leader among %s" % [
            n.node_id for n in (among or self.alive())]
        return leader

    def followers(self, leader):
        return [n for n in self.alive() if n is not leader]

    def wait_applied(self, node, index, timeout=10.0):
        assert wait_until(lambda: self.info(node)["applied_index"] >= index, timeout), \
            "node %d did not apply index %d" % (node.node_id, index)

    def stop(self):
        for node in self.nodes.values():
            node.stop()
