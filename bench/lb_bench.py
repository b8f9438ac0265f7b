#!/usr/bin/python3
"""polis lb vs HAProxy vs nginx, side by side with wrk (the brief's load-balancer quality bar).

Two nginx backends (one worker each) serve a small static response on free loopback ports.
Three proxies run at once in front of both, each with one thread/worker, round robin and
keep-alive connections to the backends, each adding X-Forwarded-For and X-Forwarded-Proto:
`polis lb`, HAProxy (`balance roundrobin`, `http-reuse always`) and nginx (`upstream` with
`keepalive`). wrk (one thread, 50 connections, keep-alive) measures each in turn, and a backend
directly as the ceiling; every round runs the targets in a rotated order, so background load
hits all of them alike (many short rounds: on a shared machine a tail latency is mostly other
tenants' noise, and a median over many rounds tames it). The table shows the median of the
rounds, the CPU time each proxy spent per request (least sensitive to other load on the
machine) and polis' ratios.

    bench/lb_bench.py [--rounds 10] [--duration 3] [--connections 50] [--json FILE] [--quick]
"""
import argparse
import json
import os
import re
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
BODY = "hello from polis lb benchmark\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("nothing answers on port %d" % port)


def nginx_conf(d, body):
    temp = " ".join("%s_temp_path %s/%s;" % (k, d, k)
                    for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return ("worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
            "events { worker_connections 4096; }\nhttp {\n access_log off;\n %s\n"
            " keepalive_requests 10000000;\n%s\n}\n" % (d, d, temp, body))


class Proc:
    """A process started from a config file written into its own directory."""

    def __init__(self, name, workdir, argv_fn, conf_fn=None):
        self.name = name
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir)
        self.port = free_port()
        conf = None
        if conf_fn:
            conf = os.path.join(self.dir, "conf")
            with open(conf, "w") as f:
                f.write(conf_fn(self))
        self.log = open(os.path.join(self.dir, "log"), "wb")
        self.proc = subprocess.Popen(argv_fn(self, conf), stdout=self.log, stderr=subprocess.STDOUT)
        wait_http(self.port)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM if self.name != "nginx" else signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_all(workdir):
    backends = []
    for i in range(2):
        backends.append(Proc(
            "backend%d" % i, workdir,
            lambda p, conf: ["nginx", "-c", conf, "-p", p.dir, "-e", p.dir + "/error.log"],
            lambda p: nginx_conf(p.dir, " server { listen 127.0.0.1:%d; default_type text/plain;"
                                        " location / { return 200 \"%s\"; } }" % (p.port, BODY.strip()))))
    addrs = ["127.0.0.1:%d" % b.port for b in backends]
    proxies = []
    proxies.append(Proc(
        "polis", workdir,
        lambda p, conf: [POLIS, "lb", "--listen", "127.0.0.1:%d" % p.port, "--balance",
                         "roundrobin", "--log-level", "warning"] +
        sum([["--backend", a] for a in addrs], [])))
    proxies.append(Proc(
        "haproxy", workdir, lambda p, conf: ["haproxy", "-f", conf, "-db"],
        lambda p: "global\n nbthread 1\n maxconn 4096\ndefaults\n mode http\n"
                  " timeout connect 5s\n timeout client 60s\n timeout server 60s\n"
                  " option forwardfor\n http-reuse always\nfrontend fe\n bind 127.0.0.1:%d\n"
                  " http-request set-header X-Forwarded-Proto http\n default_backend be\n"
                  "backend be\n balance roundrobin\n%s" %
                  (p.port, "".join(" server s%d %s\n" % (i, a) for i, a in enumerate(addrs)))))
    proxies.append(Proc(
        "nginx", workdir,
        lambda p, conf: ["nginx", "-c", conf, "-p", p.dir, "-e", p.dir + "/error.log"],
        lambda p: nginx_conf(p.dir, " upstream be { %s keepalive 64; }\n server { listen 127.0.0.1:%d;"
                                    " location / { proxy_pass http://be; proxy_http_version 1.1;"
                                    " proxy_set_header Connection \"\";"
                                    " proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"
                                    " proxy_set_header X-Forwarded-Proto $scheme; } }" %
                             ("".join("server %s; " % a for a in addrs), p.port))))
    return backends, proxies


def cpu_seconds(pid):
    """User + system CPU time of a process and its children (nginx's worker)."""
    pids = [pid]
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def parse_latency(text):
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def run_wrk(port, duration, connections, pid=None):
    cpu0 = cpu_seconds(pid) if pid else 0
    out = subprocess.run(["wrk", "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency",
                          "http://127.0.0.1:%d/" % port], capture_output=True, text=True).stdout
    cpu = cpu_seconds(pid) - cpu0 if pid else 0
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = parse_latency(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = parse_latency(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    return {"rps": rps, "p50_ms": p50, "p99_ms": p99, "errors": errors.group(0) if errors else "",
            "cpu_us_per_request": cpu * 1e6 / requests if pid and requests else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--json", help="write the results to this file")
    ap.add_argument("--quick", action="store_true", help="2 rounds of 3 s")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.duration = 2, 3
    for tool in ("wrk", "haproxy", "nginx"):
        if not shutil.which(tool):
            sys.exit("lb_bench: %s is not installed (make deps)" % tool)
    workdir = tempfile.mkdtemp(prefix="polis-lb-bench-")
    backends, proxies = [], []
    try:
        backends, proxies = start_all(workdir)
        targets = [(p.name, p.port, p.proc.pid) for p in proxies] + \
            [("direct", backends[0].port, None)]
        for name, port, pid in targets:
            run_wrk(port, 1, args.connections)  # warm up: connections, pools, caches
        results = {name: [] for name, _, _ in targets}
        for r in range(args.rounds):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for name, port, pid in order:
                res = run_wrk(port, args.duration, args.connections, pid)
                results[name].append(res)
                print("round %d/%d %-8s %9.0f req/s  p50 %.3f ms  p99 %.3f ms  cpu %.1f us/req %s"
                      % (r + 1, args.rounds, name, res["rps"], res["p50_ms"], res["p99_ms"],
                         res["cpu_us_per_request"], res["errors"]), flush=True)
    finally:
        for p in proxies + backends:
            p.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {}
    for name, runs in results.items():
        summary[name] = {k: statistics.median(x[k] for x in runs)
                         for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")}
        summary[name]["errors"] = [x["errors"] for x in runs if x["errors"]]
    pol, hap = summary["polis"], summary["haproxy"]
    print("\npolis lb vs HAProxy vs nginx: wrk -t1 -c%d, %d rounds of %d s, median per target" %
          (args.connections, args.rounds, args.duration))
    print("%-10s %12s %10s %10s %14s %12s" % ("target", "requests/s", "p50 ms", "p99 ms",
                                              "cpu us/req", "polis/this"))
    for name in ("polis", "haproxy", "nginx", "direct"):
        s = summary[name]
        print("%-10s %12.0f %10.3f %10.3f %14.1f %12.2f" % (
            name, s["rps"], s["p50_ms"], s["p99_ms"], s["cpu_us_per_request"],
            pol["rps"] / s["rps"]))
    print("(cpu us/req: the proxy's own user+system CPU time per request, the figure least "
          "disturbed by other load on the machine)")
    ok = pol["rps"] >= hap["rps"] and pol["p99_ms"] <= hap["p99_ms"]
    print("\ntarget (>= 1.0x HAProxy req/s, p99 <= HAProxy's): %s (%.2fx req/s, p99 %.3f vs %.3f ms)"
          % ("met" if ok else "NOT met", pol["rps"] / hap["rps"], pol["p99_ms"], hap["p99_ms"]))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"config": vars(args), "summary": summary, "rounds": results,
                       "ratio_rps_vs_haproxy": pol["rps"] / hap["rps"], "target_met": ok}, f,
                      indent=2)


if __name__ == "__main__":
    main()
