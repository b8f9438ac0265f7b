"""`polis up --replicas 3` on loopback: three child processes form a group, the command prints
each node's role and the leader, and Ctrl-C stops them all (docs/ARCHITECTURE.md,
"Replication")."""
import os
import re
import signal
import socket
import subprocess
import time

import redis

from harness import POLIS, free_port


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_up_replicas_3_starts_a_group_and_ctrl_c_stops_it(tmp_path):
    base = None
    for _ in range(50):  # three consecutive free ports, and their bus ports
        base = free_port()
        if all(not port_open(base + i) and not port_open(base + 10000 + i) for i in range(3)):
            break
    data = str(tmp_path / "data")
    proc = subprocess.Popen([POLIS, "up", "--replicas", "3", "--port", str(base), "--dir", data],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.strip().startswith("stop:") or not line:
                break
        text = "".join(lines)
        nodes = re.findall(r"node (\d) +port (\d+) +(leader|follower|candidate)", text)
        assert [(int(n), int(p)) for n, p, _ in nodes] == [(i + 1, base + i) for i in range(3)], text
        assert [role for _, _, role in nodes].count("leader") == 1, text
        leader = re.search(r"leader: +node (\d) \(port (\d+)\)", text)
        assert leader and int(leader.group(2)) == base + int(leader.group(1)) - 1, text
        r = redis.Redis(port=base, socket_timeout=5)
        assert r.set("hello", "world") is True
        assert redis.Redis(port=base + 2, socket_timeout=5).get("hello") == b"world"
        for i in range(3):
            assert os.path.isdir(os.path.join(data, "node%d" % (i + 1)))
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        assert "all nodes stopped" in out
        for i in range(3):
            assert not port_open(base + i)
    finally:
        if proc.poll() is None:  # a failure above: stop the group the way a user would
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
