"""Operating polis lb: reload and runtime changes under load, drain on SIGTERM, admin pages."""
import http.client
import os
import threading
import time

from harness import free_port
from lb_helpers import backend_flags, env, wait_for  # noqa: F401
from test_lb_health import SteadyLoad


def config_text(backends, extra_frontend="", balance="roundrobin"):
    servers = "".join("    server %s %s\n" % (b.name, b.addr) for b in backends)
    return ("grace 5s\nthreads 2\n\nfrontend web\n    listen 127.0.0.1:$PORT\n    use-backend app\n\n%s"
            "backend app\n    balance %s\n%s" % (extra_frontend, balance, servers))


class NewConnectionLoad(SteadyLoad):
    """Like SteadyLoad, but a new client connection for every request."""

    def run(self):
        while not self.stop_flag.is_set():
            try:
                status, headers, _ = self.lb.get("/")
                with self.lock:
                    if status == 200:
                        self.ok += 1
                        self.seen.add(headers["X-Backend"])
                    else:
                        self.failures.append(status)
            except Exception as e:  # a failed request is what this load exists to catch
                with self.lock:
                    self.failures.append(repr(e))
            time.sleep(0.002)


def test_sighup_reload_under_load_drops_nothing_and_applies_the_new_file(env):
    backends = env.backends(3)
    lb = env.lb(config=config_text(backends[:2]))
    loads = [SteadyLoad(lb, clients=2), NewConnectionLoad(lb, clients=2)]
    try:
        time.sleep(0.3)
        new_port = free_port()
        extra = "frontend more\n    listen 127.0.0.1:%d\n    use-backend app\n\n" % new_port
        lb.write_config(config_text(backends, extra, balance="leastconn"))
        for _ in range(3):  # several reloads in a row, each under load
            lb.reload()
            time.sleep(0.3)
        assert wait_for(lambda: "b2" in loads[0].recent_backends(0.3) | loads[1].recent_backends(0.1))
        status = lb.status()
        assert status["generation"] == 4
        assert status["backends"][0]["balance"] == "leastconn"
        assert [f["name"] for f in status["frontends"]] == ["web", "more"]
        assert lb.get("/", conn=http.client.HTTPConnection("127.0.0.1", new_port, timeout=5))[0] == 200
    finally:
        for load in loads:
            load.stop()
    assert loads[0].failures == [] and loads[1].failures == []
    assert loads[0].ok > 50 and loads[1].ok > 50


def test_broken_config_on_reload_keeps_the_running_one(env):
    backends = env.backends(1)
    lb = env.lb(config=config_text(backends))
    lb.write_config("frontend web\n    listen 127.0.0.1:$PORT\n    use-backend nowhere\n")
    lb.reload()
    assert wait_for(lambda: "reload failed" in lb.read_log())
    assert lb.get("/")[0] == 200
    assert lb.status()["generation"] == 1


def test_runtime_api_adds_drains_reweights_and_removes_servers(env):
    backends = env.backends(2)
    lb = env.lb(*backend_flags(backends[:1]), "--balance", "weighted")
    status, body = lb.api("POST", "/api/backends/main/servers",
                          {"name": "b1", "address": backends[1].addr, "weight": 3})
    assert status == 201, body
    seen = [lb.get("/")[1]["X-Backend"] for _ in range(40)]
    assert seen.count("b1") == 30 and seen.count("b0") == 10
    # Drain b1 while it holds a slow request: the request finishes, nothing new arrives.
    # (b0 is drained first, so the slow request lands on b1.)
    assert lb.api("POST", "/api/backends/main/servers/b0", {"state": "drain"})[0] == 200
    slow = []
    t = threading.Thread(target=lambda: slow.append(lb.get("/slow?ms=800")))
    t.start()
    assert wait_for(lambda: lb.server_state("b1")["active"] == 1)
    assert lb.api("POST", "/api/backends/main/servers/b0", {"state": "ready"})[0] == 200
    assert lb.api("POST", "/api/backends/main/servers/b1", {"state": "drain"})[0] == 200
    assert lb.server_state("b1")["state"] == "drain"
    assert {lb.get("/")[1]["X-Backend"] for _ in range(10)} == {"b0"}
    t.join()
    assert slow[0][0] == 200 and slow[0][1]["X-Backend"] == "b1"
    assert lb.api("POST", "/api/backends/main/servers/b1", {"weight": 7})[0] == 200
    assert lb.server_state("b1")["weight"] == 7
    assert lb.api("DELETE", "/api/backends/main/servers/b1")[0] == 200
    assert lb.server_state("b1") is None
    assert lb.api("DELETE", "/api/backends/main/servers/b1")[0] == 404
    assert lb.api("POST", "/api/backends/nope/servers", {"name": "x", "address": "1.2.3.4:5"})[0] == 404
    assert lb.api("POST", "/api/backends/main/servers", {"name": "b0", "address": "1.2.3.4:5"})[0] == 409
    assert lb.api("POST", "/api/backends/main/servers/b0", {"bogus": 1})[0] == 400


def test_sigterm_lets_requests_in_flight_finish_then_exits(env):
    b = env.backend("b0")
    lb = env.lb(*backend_flags([b]))
    result = []
    t = threading.Thread(target=lambda: result.append(lb.get("/slow?ms=700")))
    t.start()
    assert wait_for(lambda: lb.server_state("b0")["active"] == 1)
    lb.proc.send_signal(15)
    time.sleep(0.2)
    try:
        lb.get("/")
        accepted = True
    except OSError:
        accepted = False
    assert not accepted  # the listener is closed at once
    t.join()
    assert result[0][0] == 200
    assert lb.proc.wait(10) == 0


def test_admin_pages_show_every_server_and_prometheus_metrics(env):
    backends = env.backends(2)
    log = os.path.join(str(env.tmp), "access.log")
    lb = env.lb(*backend_flags(backends), "--access-log", log)
    for _ in range(10):
        lb.get("/")
    status, page = lb.api("GET", "/")
    assert status == 200 and b"<table>" in page and b"b0" in page and b"b1" in page
    status, metrics = lb.api("GET", "/metrics")
    text = metrics.decode()
    assert status == 200
    assert 'polis_lb_server_requests_total{backend="main",server="b0"} 5' in text
    assert 'polis_lb_server_up{backend="main",server="b1"} 1' in text
    assert "polis_lb_requests_total 10\n" in text
    assert 'polis_lb_server_response_seconds{backend="main",server="b0",quantile="0.99"}' in text
    servers = lb.status()["backends"][0]["servers"]
    assert [s["responses"]["2xx"] for s in servers] == [5, 5]
    assert all(s["latency_ms"]["p99"] > 0 for s in servers)
    assert lb.api("GET", "/nope")[0] == 404
    assert wait_for(lambda: os.path.exists(log) and len(open(log).readlines()) == 10)
    line = open(log).readline()
    assert '"GET /"' in line and " 200 " in line and "main/b" in line
