"""Shared pytest harness: start real bin/polis processes on free loopback ports, always clean up.

    node = PolisServer(tmp_path, "--fsync", "always")   # starts and waits until PING answers
    r = node.client()                                   # a redis.Redis on it
    node.kill9(); node.start()                          # crash and restart on the same dir/port
    node.stop()                                         # SIGTERM, wait; SIGKILL after a timeout
"""
import os
import signal
import socket
import subprocess
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLIS = os.path.join(ROOT, "bin", "polis")


def free_port():
    """A TCP port that is free on 127.0.0.1 now (and whose +10000 bus port is too)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 > 65535:
            continue
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 10000))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def wait_port(port, timeout=10.0, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.02)
    return False


class PolisServer:
    """One `polis server` process with its own data directory and port."""

    def __init__(self, tmp_path, *args, port=None, start=True, name="node"):
        self.dir = os.path.join(str(tmp_path), name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.args = list(args)
        self.proc = None
        self.log_path = os.path.join(str(tmp_path), name + ".log")
        if start:
            self.start()

    def command(self):
        return [POLIS, "server", "--port", str(self.port), "--dir", self.dir] + self.args

    def start(self, wait=True, timeout=15.0):
        assert self.proc is None or self.proc.poll() is not None
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("polis exited with %s:\n%s" % (self.proc.returncode, self.read_log()))
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.02)
        raise RuntimeError("polis did not answer PING on %d:\n%s" % (self.port, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def client(self, **kw):
        kw.setdefault("socket_timeout", 10)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout=10.0):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()
        return self.proc.returncode if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def raw_exchange(port, data, timeout=0.5, host="127.0.0.1"):
    """Sends raw bytes on a fresh connection; returns everything received until the server
    closes (then b"<CLOSED>" is appended) or nothing arrives for `timeout` seconds."""
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(data)
        s.settimeout(timeout)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out + b"<CLOSED>"
                out += chunk
        except socket.timeout:
            return out
        except ConnectionResetError:
            return out + b"<RESET>"
