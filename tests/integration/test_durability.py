"""Durability of `polis server` against crashes and disk faults (issue 2, item 6).

kill -9 under a write load with --fsync always loses no acknowledged write; a log cut at a
random byte of its last record starts and loses only that record; a byte flipped in an earlier
record makes the server refuse to start, naming the file and offset; a full disk (a small
tmpfs mounted here) refuses writes with a MISCONF error while reads go on and INFO says why.
"""
import glob
import os
import random
import struct
import subprocess
import threading
import time

import pytest
import redis

from harness import PolisServer

SEGMENT_HEADER = 32
RECORD_HEADER = 32


def segments(node):
    files = sorted(glob.glob(os.path.join(node.dir, "**", "wal-*.log"), recursive=True))
    assert files, "no log segment under %s" % node.dir
    return files


def record_offsets(path):
    """Start and end offsets of every record in a segment (the format of src/storage/record.h)."""
    with open(path, "rb") as f:
        data = f.read()
    offsets = []
    off = SEGMENT_HEADER
    while off + RECORD_HEADER <= len(data) and data[off:off + RECORD_HEADER] != bytes(RECORD_HEADER):
        (length,) = struct.unpack_from("<I", data, off + 8)
        offsets.append((off, off + RECORD_HEADER + length))
        off += RECORD_HEADER + length
    return offsets


def exit_code_and_log(node, timeout=10.0):
    """Starts node expecting it to exit by itself; returns (exit code, log text)."""
    node.start(wait=False)
    try:
        code = node.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        node.kill9()
        raise AssertionError("polis kept running:\n" + node.read_log())
    return code, node.read_log()


def test_kill9_under_write_load_loses_no_acknowledged_write(polis_factory):
    node = polis_factory("--fsync", "always")
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(wid):
        client = node.client(socket_timeout=5)
        for i in range(200000):
            if stop.is_set():
                return
            key, value = "w%d:%d" % (wid, i), "v%d" % i
            try:
                client.set(key, value)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                return
            with lock:
                acked[key] = value

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(acked) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    node.kill9()
    stop.set()
    for t in threads:
        t.join(10)
    assert len(acked) > 100
    node.start()
    client = node.client()
    keys = list(acked)
    values = []
    for i in range(0, len(keys), 500):
        values += client.mget(keys[i:i + 500])
    lost = [k for k, v in zip(keys, values) if v is None or v.decode() != acked[k]]
    assert lost == [], "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:5])


def test_log_cut_at_random_byte_starts_and_loses_only_torn_record(polis_factory):
    node = polis_factory("--fsync", "always")
    client = node.client()
    for i in range(1, 121):
        client.set("k%d" % i, "value-%d" % i)
    node.kill9()
    path = segments(node)[-1]
    start, end = record_offsets(path)[-1]
    cut = random.Random(os.getpid()).randrange(start + 1, end)
    os.truncate(path, cut)
    node.start()
    client = node.client()
    assert client.get("k120") is None
    assert client.get("k119") == b"value-119"
    assert client.mget(["k%d" % i for i in range(1, 120)]) == [
        b"value-%d" % i for i in range(1, 120)]
    assert "torn record" in node.read_log()
    client.set("after", "cut")  # the log goes on after the cut
    node.kill9()
    node.start()
    assert node.client().get("after") == b"cut"


def test_flipped_byte_mid_log_refuses_to_start_naming_file_and_offset(polis_factory):
    node = polis_factory("--fsync", "always")
    client = node.client()
    for i in range(1, 101):
        client.set("k%d" % i, "value-%d" % i)
    node.kill9()
    path = segments(node)[-1]
    records = record_offsets(path)
    start, end = records[len(records) // 2]
    at = random.Random(os.getpid()).randrange(start, end)
    with open(path, "r+b") as f:
        f.seek(at)
        byte = f.read(1)[0]
        f.seek(at)
        f.write(bytes([byte ^ 0x20]))
    code, log = exit_code_and_log(node)
    assert code != 0
    expected = "corrupt record in %s at offset %d" % (os.path.basename(path), start)
    assert expected in log, log


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs mounted for the test (as root), unmounted afterwards."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_refuses_writes_keeps_reads_and_says_why(tmp_path, small_disk):
    node = PolisServer(tmp_path, "--fsync", "always", start=False, name="node")
    node.dir = str(small_disk / "data")  # the data on the small disk, the server's log not
    os.makedirs(node.dir)
    node.start()
    try:
        client = node.client()
        client.set("before", "full")
        value = "x" * 20000
        error = None
        for i in range(400):  # 8 MB into a 2 MiB disk: it fills well before the end
            try:
                client.set("big%d" % i, value)
            except redis.exceptions.ResponseError as e:
                error = str(e)
                break
        assert error is not None and error.startswith("MISCONF"), error
        with pytest.raises(redis.exceptions.ResponseError, match="MISCONF"):
            client.set("another", "write")
        assert client.get("before") == b"full"
        assert client.get("big0") == value.encode()
        info = client.execute_command("INFO", "persistence")
        info = info.decode() if isinstance(info, bytes) else str(info)
        assert "No space left on device" in info, info
    finally:
        node.stop()
