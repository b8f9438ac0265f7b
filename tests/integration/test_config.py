"""`polis server` options: --help, a config file, flags over the file, bad options refused at
start, CONFIG GET/SET/RESETSTAT at runtime."""
import os
import subprocess

import pytest
import redis

from harness import POLIS, PolisServer


def run_polis(*args, timeout=10):
    return subprocess.run([POLIS] + list(args), capture_output=True, text=True, timeout=timeout)


def test_help_lists_every_option():
    out = run_polis("server", "--help")
    assert out.returncode == 0
    for option in ["--config", "--port", "--bind", "--dir", "--fsync", "--persistence",
                   "--maxmemory", "--maxmemory-policy", "--maxclients", "--loglevel",
                   "--proto-max-bulk-len", "--client-query-buffer-limit"]:
        assert option + " " in out.stdout, option
    assert "always|everysec|no" in out.stdout
    assert run_polis("--help").returncode == 0
    assert "server" in run_polis("--help").stdout
    assert run_polis("up", "--help").returncode == 0


@pytest.mark.parametrize("args,message", [
    (["--port", "99999"], "option 'port': argument must be between 0 and 65535 inclusive"),
    (["--fsync", "sometimes"], "option 'fsync': argument(s) must be one of the following"),
    (["--maxmemory", "lots"], "option 'maxmemory': argument must be a memory value"),
    (["--colour", "blue"], "unknown option 'colour'"),
    (["--port"], "--port needs a value"),
    (["7379"], "unexpected argument '7379'"),
    (["--config", "/nonexistent/polis.conf"], "/nonexistent/polis.conf: No such file"),
])
def test_bad_options_are_refused_at_start(args, message):
    out = run_polis("server", *args)
    assert out.returncode == 2
    assert message in out.stderr


def test_config_file_and_flags(tmp_path):
    conf = tmp_path / "polis.conf"
    conf.write_text("# polis test\nmaxmemory 10mb\nmaxmemory-policy allkeys-lru\n"
                    "loglevel warning\nmaxclients 500\n")
    node = PolisServer(tmp_path, "--config", str(conf), "--maxclients", "600")
    try:
        client = node.client()
        assert client.config_get("maxmemory") == {"maxmemory": str(10 * 1024 * 1024)}
        assert client.config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lru"
        assert client.config_get("maxclients")["maxclients"] == "600"  # the flag wins
        assert client.config_get("loglevel")["loglevel"] == "warning"
        assert client.config_get("port")["port"] == str(node.port)
        assert client.info("server")["config_file"] == str(conf)
    finally:
        node.stop()


def test_config_file_error_names_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 7000\n\nmaxclients many\n")
    out = run_polis("server", "--config", str(conf))
    assert out.returncode == 2
    assert "%s:3: option 'maxclients'" % conf in out.stderr


def test_config_get_patterns(r):
    everything = r.config_get("*")
    for name in ["port", "bind", "dir", "persistence", "fsync", "maxmemory", "maxmemory-policy",
                 "maxclients", "loglevel", "proto-max-bulk-len", "client-query-buffer-limit",
                 "appendonly", "save"]:
        assert name in everything, name
    assert everything["appendonly"] == "yes" and everything["save"] == ""
    assert everything["fsync"] == "always" and everything["persistence"] == "on"
    both = r.execute_command("CONFIG", "GET", "maxm*", "port")
    assert len(both) == 6  # three name/value pairs
    assert r.config_get("nosuch") == {}


def test_config_set_changes_runtime_options(r):
    assert r.config_set("maxmemory", "1gb") is True
    assert r.config_get("maxmemory")["maxmemory"] == str(1 << 30)
    assert r.execute_command("CONFIG", "SET", "maxclients", "1234", "loglevel", "verbose")
    assert r.config_get("maxclients")["maxclients"] == "1234"
    assert r.config_get("loglevel")["loglevel"] == "verbose"
    assert r.config_set("client-query-buffer-limit", "2mb") is True
    assert r.config_set("proto-max-bulk-len", "1mb") is True
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("port", "1")
    with pytest.raises(redis.ResponseError, match="can't set protected config"):
        r.config_set("dir", "/tmp")
    with pytest.raises(redis.ResponseError, match="can't set immutable config"):
        r.config_set("appendonly", "no")
    # All or nothing: a bad second pair leaves the first unchanged.
    with pytest.raises(redis.ResponseError, match="argument must be a memory value"):
        r.execute_command("CONFIG", "SET", "maxclients", "99", "maxmemory", "x")
    assert r.config_get("maxclients")["maxclients"] == "1234"


def test_config_set_maxclients_beyond_the_os_limit_fails(polis_factory):
    node = polis_factory()
    client = node.client()
    with pytest.raises(redis.ResponseError,
                       match="not able to handle the specified number of clients"):
        client.config_set("maxclients", "4000000000")
    assert client.config_get("maxclients")["maxclients"] == "10000"


def test_config_resetstat(r):
    for _ in range(20):
        r.ping()
    assert r.info("stats")["total_commands_processed"] >= 20
    assert r.config_resetstat() is True
    assert r.info("stats")["total_commands_processed"] <= 1


def test_raised_fd_limit_fits_maxclients(polis):
    with open("/proc/%d/limits" % polis.proc.pid) as f:
        line = next(l for l in f if l.startswith("Max open files"))
    assert int(line.split()[3]) >= 10000 + 32


def test_persistence_off_writes_no_files(polis_factory):
    node = polis_factory("--persistence", "off")
    node.client().set("k", "v")
    assert os.listdir(node.dir) == []
    assert node.client().config_get("appendonly")["appendonly"] == "no"
