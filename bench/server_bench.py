#!/usr/bin/python3
"""Data node vs redis-server, side by side with redis-benchmark (the brief's first quality bar).

Beside throughput it reports each server's CPU time per request, which a busy machine disturbs
much less. For each persistence setting (off: polis --persistence off vs redis --save '' --appendonly no;
always: polis --fsync always vs redis --appendonly yes --appendfsync always) both servers run
at once on free loopback ports; every round runs each test against polis then redis (then the
order flips next round) with the same parameters. The table shows the median of the rounds and
the ratio polis/redis. Then memory: 1,000,000 keys of 100-byte values loaded into each
(persistence off), used_memory and RSS per key.

    bench/server_bench.py [--rounds 3] [--requests 200000] [--json FILE] [--quick]
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
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLIS = os.path.join(ROOT, "bin", "polis")
TESTS = ["set", "get", "incr", "hset"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ping(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server on %d exited" % port)
        out = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True)
        if out.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise RuntimeError("server on %d did not answer" % port)


class Server:
    def __init__(self, kind, mode, workdir):
        self.kind, self.port = kind, free_port()
        d = os.path.join(workdir, "%s-%s" % (kind, mode))
        os.makedirs(d, exist_ok=True)
        if kind == "polis":
            cmd = [POLIS, "server", "--port", str(self.port), "--dir", d, "--loglevel", "warning"]
            cmd += ["--persistence", "off"] if mode == "off" else ["--fsync", "always"]
        else:
            cmd = ["redis-server", "--port", str(self.port), "--dir", d, "--save", "",
                   "--logfile", os.path.join(d, "redis.log"), "--protected-mode", "no"]
            cmd += ["--appendonly", "no"] if mode == "off" else \
                ["--appendonly", "yes", "--appendfsync", "always"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ping(self.port, self.proc)

    def info(self, field):
        out = subprocess.run(["redis-cli", "-p", str(self.port), "info", "memory"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith(field + ":"):
                return int(line.split(":")[1])
        return 0

    def rss(self):
        with open("/proc/%d/statm" % self.proc.pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def cpu_seconds(self):
        """User + system CPU time the server has used so far."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_benchmark(server, test, pipeline, requests):
    """Requests/s, and the server's CPU microseconds per request (a figure that a busy machine
    disturbs much less than throughput)."""
    cmd = ["redis-benchmark", "-p", str(server.port), "-c", "50", "-n", str(requests), "-P",
           str(pipeline), "-t", test, "-r", "100000", "--csv"]
    cpu_before = server.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout
    cpu_us = (server.cpu_seconds() - cpu_before) * 1e6 / requests
    for line in out.splitlines():
        cells = [c.strip('"') for c in line.split(",")]
        if len(cells) >= 2 and cells[0].lower().startswith(test):
            return float(cells[1]), cpu_us
    raise RuntimeError("no result from redis-benchmark: " + out)


def throughput_rows(args, workdir):
    rows = []
    for mode in ["off", "always"]:
        servers = {k: Server(k, mode, workdir) for k in ("polis", "redis")}
        requests = args.requests if mode == "off" else max(args.requests // 4, 10000)
        try:
            for pipeline in (1, 16):
                for test in TESTS:
                    figures = {"polis": [], "redis": []}
                    cpu = {"polis": [], "redis": []}
                    for rnd in range(args.rounds):
                        order = ("polis", "redis") if rnd % 2 == 0 else ("redis", "polis")
                        for kind in order:
                            n = requests * (4 if pipeline == 16 and mode == "off" else 1)
                            rps, cpu_us = run_benchmark(servers[kind], test, pipeline, n)
                            figures[kind].append(rps)
                            cpu[kind].append(cpu_us)
                    p, r = statistics.median(figures["polis"]), statistics.median(figures["redis"])
                    pc, rc = statistics.median(cpu["polis"]), statistics.median(cpu["redis"])
                    row = {"persistence": mode, "test": test.upper(), "pipeline": pipeline,
                           "polis_rps": p, "redis_rps": r, "ratio": p / r,
                           "polis_cpu_us": pc, "redis_cpu_us": rc}
                    rows.append(row)
                    print("  %-7s %-5s P%-3d polis %10.0f  redis %10.0f  ratio %.2f   "
                          "cpu/req polis %.2f us redis %.2f us" % (
                              mode, test.upper(), pipeline, p, r, p / r, pc, rc), flush=True)
        finally:
            for s in servers.values():
                s.stop()
    return rows


def load_keys(port, count, workdir):
    path = os.path.join(workdir, "load-%d.resp" % count)
    if not os.path.exists(path):
        value = b"v" * 100
        with open(path, "wb") as f:
            for i in range(count):
                key = b"key:%012d" % i
                f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(key), key, value))
    with open(path, "rb") as f:
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f,
                       stdout=subprocess.DEVNULL, check=True, timeout=600)


def memory_rows(args, workdir):
    rows = []
    for kind in ("polis", "redis"):
        s = Server(kind, "off", workdir)
        try:
            base_used, base_rss = s.info("used_memory"), s.rss()
            load_keys(s.port, args.keys, workdir)
            used, rss = s.info("used_memory"), s.rss()
            rows.append({"server": kind, "keys": args.keys,
                         "used_per_key": (used - base_used) / args.keys,
                         "rss_per_key": (rss - base_rss) / args.keys})
        finally:
            s.stop()
    p, r = rows
    print("  memory per key (%d keys x 100 B): used_memory polis %.1f B redis %.1f B (%.2fx); "
          "RSS polis %.1f B redis %.1f B (%.2fx)" % (
              args.keys, p["used_per_key"], r["used_per_key"], p["used_per_key"] / r["used_per_key"],
              p["rss_per_key"], r["rss_per_key"], p["rss_per_key"] / r["rss_per_key"]))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200000)
    ap.add_argument("--keys", type=int, default=1000000)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true", help="1 round, fewer requests and keys")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.requests, args.keys = 1, 50000, 100000
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if not shutil.which(tool):
            sys.exit("missing %s: run `make deps`" % tool)
    workdir = tempfile.mkdtemp(prefix="polis-bench-")
    try:
        print("data node vs redis-server (redis-benchmark -c 50, median of %d rounds, "
              "requests/s)" % args.rounds, flush=True)
        rows = throughput_rows(args, workdir)
        mem = memory_rows(args, workdir)
        print()
        print("| persistence | test | pipeline | polis req/s | redis req/s | ratio "
              "| CPU us/req polis | redis |")
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            print("| %s | %s | %d | %.0f | %.0f | %.2f | %.2f | %.2f |" % (
                row["persistence"], row["test"], row["pipeline"], row["polis_rps"],
                row["redis_rps"], row["ratio"], row["polis_cpu_us"], row["redis_cpu_us"]))
        p, r = mem
        print("| memory/key | %d keys x 100 B | | used %.0f B | used %.0f B | %.2f | RSS %.0f B "
              "| RSS %.0f B |" % (args.keys, p["used_per_key"], r["used_per_key"],
                                  p["used_per_key"] / r["used_per_key"], p["rss_per_key"],
                                  r["rss_per_key"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"throughput": rows, "memory": mem}, f, indent=2)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
