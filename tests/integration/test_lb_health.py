"""polis lb hides failed backends: health checks, retries, and answers when none is left."""
import socket
import threading
import time

from lb_helpers import Backend, backend_flags, env, wait_for  # noqa: F401

INTERVAL_MS, FALL, RISE = 200, 2, 2


class SteadyLoad:
    """Client threads sending GETs over keep-alive connections until stopped; counts failures."""

    def __init__(self, lb, clients=3):
        self.lb, self.stop_flag = lb, threading.Event()
        self.ok, self.failures, self.seen = 0, [], set()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run) for _ in range(clients)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = self.lb.conn(timeout=10)
        while not self.stop_flag.is_set():
            try:
                status, headers, _ = self.lb.get("/", conn=conn)
                with self.lock:
                    if status == 200:
                        self.ok += 1
                        self.seen.add(headers["X-Backend"])
                    else:
                        self.failures.append(status)
            except Exception as e:  # a failed GET is what this load exists to catch
                with self.lock:
                    self.failures.append(repr(e))
                conn.close()
                conn = self.lb.conn(timeout=10)
            time.sleep(0.002)
        conn.close()

    def recent_backends(self, seconds=0.5):
        with self.lock:
            self.seen = set()
        time.sleep(seconds)
        with self.lock:
            return set(self.seen)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def test_killed_backend_is_marked_down_quickly_no_get_fails_and_it_rejoins(env):
    backends = env.backends(3)
    check = "http /healthz interval=%dms timeout=150ms rise=%d fall=%d" % (INTERVAL_MS, RISE, FALL)
    lb = env.lb(*backend_flags(backends), "--check", check)
    load = SteadyLoad(lb)
    try:
        assert wait_for(lambda: len(load.recent_backends(0.2)) == 3)
        victim = backends[1]
        victim.kill()
        killed = time.monotonic()
        assert wait_for(lambda: lb.server_state(victim.name)["state"] == "down", timeout=5)
        # Marked down within interval x fall, plus a probe timeout and scheduling slack.
        assert time.monotonic() - killed < (INTERVAL_MS * FALL + 150) / 1000 + 2.0
        assert load.recent_backends() == {"b0", "b2"}
        restarted = Backend(victim.name, victim.port)
        env.items.append(restarted)
        assert wait_for(lambda: lb.server_state(victim.name)["state"] == "up", timeout=5)
        assert wait_for(lambda: victim.name in load.recent_backends(0.3), timeout=5)
    finally:
        load.stop()
    assert load.failures == []
    assert load.ok > 100


def test_idempotent_request_is_retried_on_another_backend_but_post_is_not_replayed(env):
    backends = env.backends(2)
    lb = env.lb(*backend_flags(backends), "--passive", "off")
    # b0 drops the connection without answering: GETs are retried on b1 and succeed.
    for _ in range(4):
        status, headers, _ = lb.get("/drop?name=b0")
        assert (status, headers["X-Backend"]) == (200, "b1")
    statuses = [lb.get("/drop?name=b0", method="POST", body=b"pay")[0] for _ in range(4)]
    assert sorted(statuses) == [200, 200, 502, 502]
    assert backends[0].counts()["POST /drop"] == 2  # each failed POST reached b0 exactly once
    retries = {s["name"]: s["retries"] for s in lb.status()["backends"][0]["servers"]}
    assert retries["b0"] == 4


def test_refused_connections_move_to_another_backend(env):
    backends = env.backends(2)
    backends[1].kill()
    lb = env.lb(*backend_flags(backends), "--passive", "fails=2 cooldown=5s")
    for _ in range(10):
        status, headers, _ = lb.get("/", method="POST", body=b"x")
        assert (status, headers["X-Backend"]) == (200, "b0")  # nothing was sent: POST moves too
    assert lb.server_state("b1")["state"] == "cooldown"  # passive check took it out


def test_every_backend_down_gives_503_with_a_body_and_tcp_closes(env):
    backends = env.backends(2)
    for b in backends:
        b.kill()
    lb = env.lb(*backend_flags(backends))
    status, _, body = lb.get("/")
    assert status == 503
    assert b"no server available" in body
    tcp = env.lb(*backend_flags(backends), "--mode", "tcp", admin=False)
    s = socket.create_connection(("127.0.0.1", tcp.port), timeout=5)
    assert s.recv(10) == b""  # closed at once, nothing sent
    s.close()


def test_connect_timeout_moves_to_another_backend(env):
    good = env.backend("b0")
    # A listener that never accepts, its queue already full: new connects hang unanswered.
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(0)
    fillers = []
    for _ in range(3):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(stuck.getsockname())
        fillers.append(f)
    try:
        lb = env.lb("--backend", "127.0.0.1:%d,name=stuck" % stuck.getsockname()[1],
                    "--backend", good.addr + ",name=b0", "--timeout-connect", "300ms",
                    "--passive", "off")
        for _ in range(4):
            status, headers, _ = lb.get("/")
            assert (status, headers["X-Backend"]) == (200, "b0")
        assert lb.server_state("stuck")["errors"] >= 2
    finally:
        for f in fillers:
            f.close()
        stuck.close()
