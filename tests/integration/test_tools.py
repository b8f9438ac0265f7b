"""Redis' own tools against polis: redis-cli (plain, RESP3, commands from stdin, --pipe mass
insertion, INFO and COMMAND DOCS for its hints) and redis-benchmark."""
import subprocess


def cli(node, *args, stdin=None):
    out = subprocess.run(["redis-cli", "-p", str(node.port)] + list(args), input=stdin,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_redis_cli_commands_and_replies(polis):
    assert cli(polis, "ping").strip() == "PONG"
    assert cli(polis, "set", "greeting", "hello world").strip() == "OK"
    assert cli(polis, "get", "greeting").strip() == "hello world"
    assert cli(polis, "--no-raw", "incr", "n").strip() == "(integer) 1"
    assert cli(polis, "--no-raw", "get", "nosuch").strip() == "(nil)"
    assert "ERR unknown command 'nosuch'" in cli(polis, "nosuch", "x")
    assert "redis_version:" in cli(polis, "info", "server")


def test_redis_cli_reads_commands_from_stdin(polis):
    out = cli(polis, stdin="SET a 1\nINCRBY a 41\nGET a\nHSET h f v\nHGETALL h\n")
    assert out.split() == ["OK", "42", "42", "1", "f", "v"]


def test_redis_cli_resp3(polis):
    cli(polis, "hset", "h", "a", "1")
    out = cli(polis, "-3", "--no-raw", "hgetall", "h")
    assert out.strip() == '1# "a" => "1"'


def test_redis_cli_pipe_mass_insertion(polis):
    lines = "".join("*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$5\r\nvalue\r\n" % (len("key:%d" % i), i)
                    for i in range(20000))
    out = cli(polis, "--pipe", stdin=lines)
    assert "errors: 0, replies: 20000" in out
    assert cli(polis, "dbsize").strip() == "20000"


def test_redis_cli_gets_command_docs_for_hints(polis):
    out = cli(polis, "--no-raw", "command", "docs", "get")
    assert '"summary"' in out and '"group"' in out
    assert int(cli(polis, "command", "count")) > 70


def test_redis_benchmark_runs_cleanly(polis):
    for pipeline in ("1", "16"):
        out = subprocess.run(
            ["redis-benchmark", "-p", str(polis.port), "-c", "20", "-n", "4000", "-P", pipeline,
             "-t", "set,get,incr,hset,ping", "-r", "1000", "--csv"],
            capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "WARNING" not in out.stderr and "ERR" not in out.stdout, out.stderr
        rows = {line.split(",")[0].strip('"'): float(line.split(",")[1].strip('"'))
                for line in out.stdout.splitlines()[1:] if line}
        for test in ("SET", "GET", "INCR", "HSET", "PING_INLINE", "PING_MBULK"):
            assert rows[test] > 0, rows
    assert int(cli(polis, "dbsize")) > 0
