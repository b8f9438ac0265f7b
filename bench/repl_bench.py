#!/usr/bin/python3
"""3-replica polis group vs a single durable node, and failover time (the brief's Raft bars).

Throughput: a single node (`--fsync always`, no peers), a 3-replica group in sync mode (majority
commit) and one in async mode (the leader replies after its own durable append) run at once on
loopback; redis-benchmark (-c 50, SET, pipeline 1 and 16) drives each group's leader. Every
round measures the three in a rotated order; the table shows the median of the rounds and each
group's ratio to the single node (target: sync >= 0.5x).

Failover: on the sync group, kill -9 the leader, then start a write on a fresh connection to a
survivor every 10 ms (overlapping, in turn) until one is acknowledged; the time from the kill to
that acknowledgement is one failover. The killed node is restarted and caught up before the
next kill. Median and max over --kills (target: median under 1 s).

Before the rounds, every setup takes --warmup SETs (pipeline 16), enough for each node to hold
the whole key range and pass its first snapshot: the rounds measure running nodes, not the
one-time growth of a fresh node's memory.

    bench/repl_bench.py [--rounds 5] [--requests 100000] [--kills 20] [--warmup 1500000]
                        [--json FILE] [--quick]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLIS = os.path.join(ROOT, "bin", "polis")
SECRET = "polis-bench"
BUS_OFFSET = 10000
SETUPS = ("single", "sync", "async")
LABELS = {"single": "single node, fsync always", "sync": "3 replicas, sync",
          "async": "3 replicas, async"}


def free_ports(count):
    """count client ports free on 127.0.0.1, each with its bus port (+10000) free too."""
    ports, held = [], []
    while len(ports) < count:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        held.append(s)
        if port + BUS_OFFSET > 65535 or port in ports:
            continue
        try:
            with socket.socket() as b:
                b.bind(("127.0.0.1", port + BUS_OFFSET))
        except OSError:
            continue
        ports.append(port)
    for s in held:
        s.close()
    return ports


def redis_call(port, *args, timeout=1.0):
    """One command on a fresh connection: the reply as text, or raises OSError/RuntimeError."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(encode(args))
        return read_reply(s.makefile("rb"))


def encode(args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def read_reply(f):
    line = f.readline()
    if not line:
        raise OSError("connection closed")
    kind, rest = line[:1], line[1:-2].decode()
    if kind == b"-":
        raise RuntimeError(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode()
    return rest


class Node:
    def __init__(self, workdir, name, port, extra):
        self.name, self.port = name, port
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.argv = [POLIS, "server", "--port", str(port), "--dir", self.dir, "--bind",
                     "127.0.0.1", "--loglevel", "warning"] + extra
        self.log = open(os.path.join(workdir, name + ".log"), "ab")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s" % (self.name, self.proc.returncode))
            try:
                redis_call(self.port, "PING", timeout=0.5)
                return
            except (OSError, RuntimeError):
                time.sleep(0.02)
        raise RuntimeError("%s did not answer" % self.name)

    def info(self):
        try:
            raw = redis_call(self.port, "INFO", "replication", timeout=0.5)
        except (OSError, RuntimeError):
            return {}
        return dict(line.split(":", 1) for line in raw.splitlines() if ":" in line)

    def cpu_seconds(self):
        """User + system CPU time of the running process so far (0 when it is not running)."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.log.close()


class Group:
    """A 3-replica group (or, with mode "single", one node without peers) on loopback."""

    def __init__(self, workdir, mode):
        self.mode = mode
        ports = free_ports(1 if mode == "single" else 3)
        if mode == "single":
            self.nodes = [Node(workdir, "single", ports[0], ["--fsync", "always"])]
            return
        peers = ",".join("%d@127.0.0.1:%d" % (i + 1, p + BUS_OFFSET) for i, p in enumerate(ports))
        self.nodes = [Node(workdir, "%s-%d" % (mode, i + 1), p,
                           ["--id", str(i + 1), "--peers", peers, "--cluster-secret", SECRET,
                            "--replication", mode]) for i, p in enumerate(ports)]

    def leader(self, among=None, timeout=20.0):
        if self.mode == "single":
            return self.nodes[0]
        among = self.nodes if among is None else among
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [(n, n.info()) for n in among]
            top = max((int(i.get("raft_term", 0)) for _, i in infos), default=0)
            for node, info in infos:
                if info.get("role") == "leader" and int(info.get("raft_term", 0)) == top:
                    return node
            time.sleep(0.02)
        raise RuntimeError("no leader in the %s group" % self.mode)

    def wait_caught_up(self, timeout=30.0):
        """Every node answers and applied the same index (the leader's commit index)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = [n.info() for n in self.nodes]
            applied = {i.get("applied_index") for i in infos}
            commits = {i.get("commit_index") for i in infos if i.get("role") == "leader"}
            if all(infos) and len(applied) == 1 and applied == commits:
                return
            time.sleep(0.05)
        raise RuntimeError("the %s group did not catch up" % self.mode)

    def cpu_seconds(self):
        return sum(n.cpu_seconds() for n in self.nodes)

    def stop(self):
        for n in self.nodes:
            n.stop()


def run_benchmark(port, pipeline, requests):
    """(requests/s, p50 ms, p99 ms) of redis-benchmark SET against port; RuntimeError with
    redis-benchmark's own words when it gave no result (it stops at an error reply)."""
    cmd = ["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-P",
           str(pipeline), "-t", "set", "-r", "100000", "--csv"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    lines = [[c.strip('"') for c in line.split(",")] for line in p.stdout.splitlines()]
    head = lines[0] if lines else []
    for cells in lines[1:]:
        if cells[0].upper().startswith("SET") and "p99_latency_ms" in head:
            row = dict(zip(head, cells))
            return float(row["rps"]), float(row["p50_latency_ms"]), float(row["p99_latency_ms"])
    raise RuntimeError("no SET result from redis-benchmark: %s %s" % (
        p.stdout.strip()[-300:], p.stderr.strip()[-300:]))


def measure(group, pipeline, requests, log):
    """run_benchmark against the group's leader, and the CPU microseconds all the group's
    processes spent per request; a run cut short by a leader change (the machine's load can
    delay a heartbeat past the election timeout) is noted and run again against the new
    leader, at most 3 times."""
    for attempt in range(3):
        try:
            cpu = group.cpu_seconds()
            rps, p50, p99 = run_benchmark(group.leader().port, pipeline, requests)
            return rps, p50, p99, (group.cpu_seconds() - cpu) * 1e6 / requests
        except RuntimeError as e:
            log.append("%s P%d: %s" % (group.mode, pipeline, e))
            print("  (%s P%d run again: %s)" % (group.mode, pipeline, str(e)[-160:]), flush=True)
    raise RuntimeError("redis-benchmark failed 3 times on the %s group" % group.mode)


def warm_up(groups, requests):
    """requests SETs at pipeline 16 on every setup before anything is measured: each node then
    holds the whole key range and has taken its first snapshot, so the rounds see a running
    node (memory and log in their steady cycle), not the first growth of a fresh one. A warm-up
    cut short by a leader change is noted, not repeated: it has written most of its keys."""
    for mode in SETUPS:
        try:
            run_benchmark(groups[mode].leader().port, 16, requests)
        except RuntimeError as e:
            print("  (%s warm-up cut short: %s)" % (mode, str(e)[-160:]), flush=True)


def throughput(groups, args, reruns):
    rows = []
    for pipeline in (1, 16):
        figures = {m: [] for m in SETUPS}
        for rnd in range(args.rounds):
            order = SETUPS[rnd % 3:] + SETUPS[:rnd % 3]
            for mode in order:
                figures[mode].append(measure(groups[mode], pipeline, args.requests * (
                    2 if pipeline == 16 else 1), reruns))
        base = statistics.median(f[0] for f in figures["single"])
        for mode in SETUPS:
            rps = statistics.median(f[0] for f in figures[mode])
            row = {"setup": mode, "pipeline": pipeline, "rps": rps,
                   "p50_ms": statistics.median(f[1] for f in figures[mode]),
                   "p99_ms": statistics.median(f[2] for f in figures[mode]),
                   "cpu_us": statistics.median(f[3] for f in figures[mode]),
                   "ratio": rps / base}
            rows.append(row)
            print("  P%-3d %-27s %9.0f req/s  p50 %6.3f ms  p99 %6.3f ms  cpu/req %5.1f us  "
                  "%.2fx" % (pipeline, LABELS[mode], rps, row["p50_ms"], row["p99_ms"],
                             row["cpu_us"], row["ratio"]), flush=True)
    return rows


def first_write(survivors, t0, n, interval_s=0.01, timeout_s=30.0):
    """Starts a write on a fresh connection to a survivor (in turn) every interval_s, each in
    its own thread, until one is acknowledged; returns the monotonic time of the first
    acknowledgement. A write that reaches a follower while it still forwards to the dead leader
    waits for that forward (its outcome is unknown) and must not hold up the measurement, hence
    the overlapping attempts."""
    done = threading.Event()
    acked = []
    lock = threading.Lock()

    def attempt(node, k):
        try:
            if redis_call(node.port, "SET", "failover", "kill-%d-%d" % (n, k),
                          timeout=5.0) == "OK":
                with lock:
                    acked.append(time.monotonic())
                done.set()
        except (OSError, RuntimeError):
            pass  # an error reply (no leader yet) or a dropped connection: later ones retry

    threads = []
    k = 0
    while not done.is_set() and time.monotonic() < t0 + timeout_s:
        t = threading.Thread(target=attempt, args=(survivors[k % len(survivors)], k), daemon=True)
        t.start()
        threads.append(t)
        k += 1
        done.wait(interval_s)
    for t in threads:
        t.join(6.0)
    if not acked:
        raise RuntimeError("no write acknowledged within %.0f s after kill %d" % (timeout_s, n))
    return min(acked)


def failover(group, kills):
    times = []
    for n in range(kills):
        group.wait_caught_up()
        leader = group.leader()
        survivors = [x for x in group.nodes if x is not leader]
        t0 = time.monotonic()
        leader.kill9()
        times.append((first_write(survivors, t0, n) - t0) * 1000)
        leader.start()
        print("  kill %2d: %s killed, first write after %.0f ms" % (n + 1, leader.name,
                                                                   times[-1]), flush=True)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=100000)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=1500000,
                    help="SETs on each setup before the rounds (0: measure fresh nodes)")
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="1 round, fewer requests, 5 kills")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.requests, args.kills, args.warmup = 1, 20000, 5, 0
    if not shutil.which("redis-benchmark"):
        sys.exit("missing redis-benchmark: run `make deps`")
    workdir = tempfile.mkdtemp(prefix="polis-repl-bench-")
    groups = {}
    try:
        for mode in SETUPS:
            groups[mode] = Group(workdir, mode)
        for mode in SETUPS:
            groups[mode].leader()
        if args.warmup > 0:
            print("warm-up: %d SETs on each setup" % args.warmup, flush=True)
            warm_up(groups, args.warmup)
        print("SET, redis-benchmark -c 50 against the leader, median of %d rounds" % args.rounds,
              flush=True)
        reruns = []
        rows = throughput(groups, args, reruns)
        print("failover: kill -9 the leader, time to the first acknowledged write "
              "(%d kills)" % args.kills, flush=True)
        times = failover(groups["sync"], args.kills)
        fo = {"kills": len(times), "times_ms": times, "median_ms": statistics.median(times),
              "max_ms": max(times)}
        print()
        print("| setup | pipeline | SET req/s | p50 ms | p99 ms | CPU us/req (all nodes) "
              "| ratio to single node |")
        print("|---|---|---|---|---|---|---|")
        for row in rows:
            print("| %s | %d | %.0f | %.3f | %.3f | %.1f | %.2f |" % (
                LABELS[row["setup"]], row["pipeline"], row["rps"], row["p50_ms"],
                row["p99_ms"], row["cpu_us"], row["ratio"]))
        print()
        print("| failover (kill -9 leader -> first acknowledged write) | kills | median ms "
              "| max ms |")
        print("|---|---|---|---|")
        print("| 3 replicas, sync | %d | %.0f | %.0f |" % (fo["kills"], fo["median_ms"],
                                                         fo["max_ms"]))
        if reruns:
            print("\n%d benchmark runs were cut short by a leader change and run again" %
                  len(reruns))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"throughput": rows, "failover": fo, "reruns": reruns}, f, indent=2)
    finally:
        for g in groups.values():
            g.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
