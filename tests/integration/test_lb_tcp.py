"""TCP mode: redis-cli through polis lb to two polis data nodes."""
import subprocess

from harness import PolisServer
from lb_helpers import env  # noqa: F401


def redis_cli(port, *args, stdin=None):
    out = subprocess.run(["redis-cli", "-p", str(port)] + list(args), capture_output=True,
                         text=True, timeout=10, input=stdin)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_redis_cli_set_and_get_through_the_balancer_to_two_polis_servers(env, tmp_path):
    nodes = [PolisServer(tmp_path, name="n%d" % i) for i in range(2)]
    try:
        flags = sum([["--backend", "127.0.0.1:%d,name=n%d" % (n.port, i)]
                     for i, n in enumerate(nodes)], [])
        sticky = env.lb("--mode", "tcp", "--balance", "iphash", *flags)
        assert redis_cli(sticky.port, "SET", "city", "polis") == "OK"
        assert redis_cli(sticky.port, "GET", "city") == "polis"  # same client, same node
        holders = [n for n in nodes if n.client().get("city") == b"polis"]
        assert len(holders) == 1
        big = "x" * (1 << 20)  # a value larger than any buffer, streamed both ways
        assert redis_cli(sticky.port, "-x", "SET", "big", stdin=big) == "OK"
        assert redis_cli(sticky.port, "STRLEN", "big") == str(1 << 20)
        spread = env.lb("--mode", "tcp", "--balance", "roundrobin", *flags)
        for i in range(4):
            assert redis_cli(spread.port, "SET", "k%d" % i, str(i)) == "OK"
        per_node = [sum(n.client().exists("k%d" % i) for i in range(4)) for n in nodes]
        assert per_node == [2, 2]
        status = spread.status()["backends"][0]["servers"]
        assert all(s["requests"] >= 2 for s in status)  # (plus the test's readiness probe)
    finally:
        for n in nodes:
            n.stop()
