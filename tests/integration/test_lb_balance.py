"""polis lb distributes requests as each algorithm promises (real lb, real backends)."""
import collections
import os
import threading

from lb_helpers import backend_flags, env, wait_for  # noqa: F401  (env is a fixture)


def tally(lb, n, path="/"):
    conn = lb.conn()
    seen = collections.Counter()
    for _ in range(n):
        status, headers, _ = lb.get(path, conn=conn)
        assert status == 200
        seen[headers["X-Backend"]] += 1
    conn.close()
    return seen


def test_roundrobin_spreads_requests_evenly(env):
    backends = env.backends(4)
    lb = env.lb(*backend_flags(backends), "--balance", "roundrobin")
    assert tally(lb, 400) == {b.name: 100 for b in backends}


def test_weighted_sends_requests_in_proportion_to_weights(env):
    backends = env.backends(3)
    lb = env.lb(*backend_flags(backends, [1, 3, 6]), "--balance", "weighted")
    seen = tally(lb, 1000)
    for b, w in zip(backends, [1, 3, 6]):
        assert abs(seen[b.name] - 100 * w) <= 0.03 * 1000, seen


def slow_in_background(lb, ms, results):
    """Starts a slow request in a thread; its backend's name lands in results."""
    def run():
        status, headers, _ = lb.get("/slow?ms=%d" % ms)
        results.append((status, headers.get("X-Backend")))
    t = threading.Thread(target=run)
    t.start()
    return t


def load_one_backend(lb, backends, loaded, slow_count, ms, results):
    """Drains all but `loaded`, starts slow requests (all land on it), then readies the rest."""
    for b in backends:
        if b is not loaded:
            assert lb.api("POST", "/api/backends/main/servers/" + b.name,
                          {"state": "drain"})[0] == 200
    threads = [slow_in_background(lb, ms, results) for _ in range(slow_count)]
    assert wait_for(lambda: lb.server_state(loaded.name)["active"] == slow_count)
    for b in backends:
        if b is not loaded:
            assert lb.api("POST", "/api/backends/main/servers/" + b.name,
                          {"state": "ready"})[0] == 200
    return threads


def test_leastconn_prefers_the_backend_with_fewer_open_slow_requests(env):
    backends = env.backends(3)
    lb = env.lb(*backend_flags(backends), "--balance", "leastconn")
    results = []
    threads = load_one_backend(lb, backends, backends[0], 2, 1500, results)
    # b0 holds two slow requests: while they last, leastconn sends nothing more there.
    seen = tally(lb, 30)
    assert backends[0].name not in seen
    assert seen[backends[1].name] > 0 and seen[backends[2].name] > 0
    for t in threads:
        t.join()
    assert results == [(200, backends[0].name)] * 2


def test_random2_avoids_a_loaded_backend(env):
    backends = env.backends(3)
    lb = env.lb(*backend_flags(backends), "--balance", "random2")
    results = []
    threads = load_one_backend(lb, backends, backends[1], 3, 1500, results)
    seen = tally(lb, 40)
    # Two distinct random choices, the less loaded wins: the loaded one never does.
    assert backends[1].name not in seen
    assert sum(seen.values()) == 40
    for t in threads:
        t.join()


def one_request_from(lb, source):
    conn = lb.conn(source=source)
    status, headers, _ = lb.get("/", conn=conn)
    conn.close()
    assert status == 200
    return headers["X-Backend"]


def client_addresses(n):
    """n distinct client addresses spread over 127.0.0.0/8 (all loopback on Linux)."""
    out = []
    for i in range(n):
        v = (i * 2654435761) & 0xFFFFFF
        out.append("127.%d.%d.%d" % (v >> 16, (v >> 8) & 0xFF, max(v & 0xFF, 1)))
    return out


def test_iphash_is_sticky_and_a_fifth_backend_moves_about_a_fifth_of_clients(env):
    backends = env.backends(4)
    lb = env.lb(*backend_flags(backends), "--balance", "iphash")
    clients = client_addresses(1000)
    before = {c: one_request_from(lb, c) for c in clients}
    assert len(set(before.values())) == 4
    for c in clients[:100]:
        assert one_request_from(lb, c) == before[c]  # the same client, the same backend
    fifth = env.backend("b4")
    status, body = lb.api("POST", "/api/backends/main/servers",
                          {"name": fifth.name, "address": fifth.addr, "weight": 1})
    assert status == 201, body
    after = {c: one_request_from(lb, c) for c in clients}
    moved = [c for c in clients if after[c] != before[c]]
    assert all(after[c] == "b4" for c in moved)  # movers only go to the new backend
    assert 120 <= len(moved) <= 290, len(moved)  # about 1000/5


def test_threads_run_named_event_loops_that_all_serve(env):
    backends = env.backends(2)
    lb = env.lb(*backend_flags(backends), "--threads", "3")

    def thread_names():
        names = set()
        for tid in os.listdir("/proc/%d/task" % lb.proc.pid):
            with open("/proc/%d/task/%s/comm" % (lb.proc.pid, tid)) as f:
                names.add(f.read().strip())
        return names

    assert wait_for(lambda: {"lb-worker-1", "lb-worker-2"} <= thread_names()), thread_names()
    # Many connections: SO_REUSEPORT spreads them over the loops; every request is answered.
    seen = collections.Counter()
    for _ in range(60):
        status, headers, _ = lb.get("/")
        assert status == 200
        seen[headers["X-Backend"]] += 1
    assert set(seen) == {"b0", "b1"}
