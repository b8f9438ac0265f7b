"""Fixtures shared by every integration test. Each test gets fresh processes; all are stopped."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import PolisServer  # noqa: E402
from kvdiff import RedisPeer  # noqa: E402


@pytest.fixture
def polis_factory(tmp_path):
    """polis_factory(*args, name=...) starts a `polis server`; all are stopped after the test."""
    started = []

    def make(*args, **kw):
        node = PolisServer(tmp_path, *args, **kw)
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()


@pytest.fixture
def polis(polis_factory):
    """A durable node (fsync always) on a free port."""
    return polis_factory()


@pytest.fixture
def r(polis):
    """A redis-py client on the `polis` fixture's node, RESP2, bytes replies."""
    client = polis.client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def redis_peer(tmp_path_factory):
    """A redis-server to compare replies with, shared by the tests of a module."""
    peer = RedisPeer(tmp_path_factory.mktemp("peer"))
    yield peer
    peer.stop()
