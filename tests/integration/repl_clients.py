"""repl_clients: a polis Raft group run by the fault harness, and recorded clients against it.

    with faults.Cluster(3, workdir=str(tmp_path)) as c:
        g = ReplGroup(c)                            # `polis server` on every node, one group
        g.start()
        leader = g.wait_leader()
        w = SetWriters(g, threads=4).start()        # unique keys, every op recorded
        leader.kill9(); ...; w.stop()
        w.verify(g.wait_leader())                   # acknowledged present, failed absent
        reg = RegisterClients(g, seed=7).start(); ...; reg.stop()
        reg.check(str(tmp_path / "history.txt"))    # build/polis-lincheck on the history
        g.assert_converged()                        # every replica holds the same data

Outcome rules (the node's contract): a reply is ok; an error reply is fail (the command did not
and will not apply) unless it is the documented "outcome unknown" error; a timeout or a closed
connection is unknown. A client connects before it invokes an operation, so a node that cannot
be reached costs nothing: the client moves to the next node first.

Compare-and-set: polis' POLIS.CAS compares the key's version, the checker's cas its value.
Every value the clients write is unique, so a version names one value: a client reads the
version, the value and the version again (both versions equal: no write came between, so the
value is the one of that version), then runs POLIS.CAS key version new, recorded as
`cas key value new`.

Determinism: every client's choices (key, operation, values) come from a PRNG seeded by the
test's seed and the client's number; the Nemesis draws its faults from the seed too. Timing is
the real network's, so histories differ between runs; the choices do not.
"""
import os
import random
import re
import subprocess
import threading
import time

import redis

import faults

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLIS = os.path.join(ROOT, "bin", "polis")
LINCHECK = os.path.join(ROOT, "build", "polis-lincheck")
CLIENT_PORT = 7000
BUS_PORT = CLIENT_PORT + 10000
SECRET = "polis-fault-tests"
OP_TIMEOUT_S = 1.5      # a client's wait for one reply (no leader: the node answers in ~0.4 s)
CONNECT_TIMEOUT_S = 0.3

# The error replies whose write may or may not apply (docs/ARCHITECTURE.md, "Replication"):
# `UNKNOWN The write's outcome is unknown: ...` and `MISCONF Errors writing to the write-ahead
# log: ...`. Every other error reply means the command did not and will not apply.
UNKNOWN_OUTCOME = re.compile(r"^(UNKNOWN|MISCONF)\b")


def outcome_of_error(exc):
    """'fail' or 'unknown' for an exception raised by one command (see the module's rules)."""
    if isinstance(exc, redis.exceptions.BusyLoadingError):
        return "fail"  # an error reply (LOADING), though redis-py files it as a ConnectionError
    if isinstance(exc, redis.exceptions.ResponseError):
        return "unknown" if UNKNOWN_OUTCOME.search(str(exc)) else "fail"
    return "unknown"


def text(value):
    return value.decode() if isinstance(value, bytes) else value


def expect_ok(op, reply):
    """Completes a write's op: +OK is ok; any other reply is a bug in the node (the op is left
    unknown, and the client thread stops with the error)."""
    if text(reply) != "OK":
        op.unknown()
        raise AssertionError("%s %s replied %r" % (op.op, op.key, reply))
    op.ok()


class Conn:
    """One connection to one node, opened before any operation is invoked on it."""

    def __init__(self, group, node, timeout=OP_TIMEOUT_S):
        self.node = node
        self.c = redis.Connection(host=node.ip, port=group.port, socket_timeout=timeout,
                                  socket_connect_timeout=CONNECT_TIMEOUT_S)

    def connect(self):
        """True if connected (or already was)."""
        try:
            self.c.connect()
            return True
        except redis.exceptions.RedisError:
            return False

    def call(self, *args):
        """The reply of one command; raises what redis-py raises. After anything but an error
        reply the connection is closed (its state is unknown)."""
        try:
            self.c.send_command(*args)
            return self.c.read_response()
        except redis.exceptions.ResponseError:
            raise
        except BaseException:
            self.c.disconnect()
            raise

    def close(self):
        self.c.disconnect()


def parse_info(raw):
    """INFO text as a dict of strings (sections and comments skipped)."""
    out = {}
    for line in text(raw).splitlines():
        if line and not line.startswith("#") and ":" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


class ReplGroup:
    """`polis server` on every node of a faults.Cluster, as one Raft group (or, with
    replicated=False, as independent single nodes: the harness' own tests use that)."""

    def __init__(self, cluster, replication="sync", args=(), replicated=True, port=CLIENT_PORT,
                 bus_port=BUS_PORT):
        self.cluster = cluster
        self.nodes = cluster.nodes
        self.replication = replication
        self.args = list(args)
        self.replicated = replicated
        self.port = port
        self.bus_port = bus_port

    def data_dir(self, node):
        return os.path.join(self.cluster.workdir, node.name + "-data")

    def argv(self, node):
        argv = [POLIS, "server", "--port", str(self.port), "--dir", self.data_dir(node),
                "--bind", node.ip]
        if self.replicated:
            argv += ["--id", str(node.index), "--cluster-secret", SECRET,
                     "--peers", self.cluster.peers_for(node, self.bus_port, include_self=True),
                     "--replication", self.replication]
            if self.bus_port != self.port + 10000:
                argv += ["--bus-port", str(self.bus_port)]
        return argv + self.args

    def start(self, nodes=None):
        nodes = self.nodes if nodes is None else nodes
        for node in nodes:
            node.start(self.argv(node))
        for node in nodes:
            node.wait_tcp(self.port)
        return self

    def restart(self, node):
        """kill -9 (if running), then the same command line; waits until it accepts clients."""
        node.kill9()
        node.start()
        node.wait_tcp(self.port)
        return node

    def client(self, node, timeout=OP_TIMEOUT_S):
        return redis.Redis(host=node.ip, port=self.port, socket_timeout=timeout,
                           socket_connect_timeout=CONNECT_TIMEOUT_S)

    def info(self, node, section="replication", timeout=0.5):
        """INFO section of node as a dict, or None if it does not answer in time."""
        c = Conn(self, node, timeout)
        try:
            if not c.connect():
                return None
            return parse_info(c.call("INFO", section))
        except redis.exceptions.RedisError:
            return None
        finally:
            c.close()

    def roles(self, nodes=None):
        """{node: INFO replication dict or None} for nodes (default: all)."""
        return {n: self.info(n) for n in (self.nodes if nodes is None else nodes)}

    def leader(self, among=None):
        """The node of among (default: all) that reports role:leader with the highest term, or
        None. A single unreplicated node is its own leader."""
        among = self.nodes if among is None else among
        if not self.replicated:
            return among[0]
        best = None
        for node, info in self.roles(among).items():
            if info and info.get("role") == "leader":
                term = int(info.get("raft_term", 0))
                if best is None or term > best[0]:
                    best = (term, node)
        return best[1] if best else None

    def wait_leader(self, among=None, timeout=10.0):
        """Waits until a node of among reports role:leader with a term no node of among has
        passed (so not a deposed leader that has not heard yet); returns it."""
        among = self.nodes if among is None else among
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.replicated:
                return among[0]
            infos = self.roles(among)
            terms = [int(i.get("raft_term", 0)) for i in infos.values() if i]
            for node, info in infos.items():
                if info and info.get("role") == "leader" and \
                        int(info.get("raft_term", 0)) == max(terms):
                    return node
            time.sleep(0.02)
        raise AssertionError("no leader among %s within %.1f s: %s" % (
            [n.name for n in among], timeout, self.describe(among)))

    def describe(self, nodes=None):
        """One line per node: role, term, leader, commit and applied index (for messages)."""
        out = []
        for node, info in self.roles(nodes).items():
            if info is None:
                out.append("%s: no answer" % node.name)
            else:
                out.append("%s: %s" % (node.name, " ".join(
                    "%s=%s" % (k, info.get(k)) for k in
                    ("role", "raft_term", "leader_id", "commit_index", "applied_index"))))
        return "; ".join(out)

    def wait_write(self, via, timeout=10.0, key="probe"):
        """Writes key through the nodes of via in turn until one acknowledges; returns that
        node. Raises AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        n = 0
        while time.monotonic() < deadline:
            node = via[n % len(via)]
            n += 1
            c = Conn(self, node)
            try:
                if c.connect() and c.call("SET", key, "w%d" % n) in (b"OK", "OK"):
                    return node
            except redis.exceptions.RedisError:
                time.sleep(0.02)
            finally:
                c.close()
        raise AssertionError("no write through %s succeeded within %.1f s: %s" % (
            [x.name for x in via], timeout, self.describe()))

    def wait_caught_up(self, nodes=None, timeout=15.0):
        """Waits until every node of nodes answers and all report the same applied index, equal
        to the leader's commit index; returns that index."""
        nodes = self.nodes if nodes is None else nodes
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            infos = self.roles(nodes)
            if all(infos.values()):
                applied = {int(i.get("applied_index", -1)) for i in infos.values()}
                commits = [int(i.get("commit_index", -1)) for i in infos.values()
                           if i.get("role") == "leader"]
                if len(applied) == 1 and commits and commits[0] in applied:
                    return applied.pop()
            time.sleep(0.05)
        raise AssertionError("replicas did not catch up within %.1f s: %s" % (
            timeout, self.describe(nodes)))

    def data(self, node, timeout=5.0):
        """Every key of node and its string value, read on node itself (after READONLY, so a
        follower answers from its own keyspace)."""
        c = Conn(self, node, timeout)
        try:
            if not c.connect():
                raise AssertionError("%s does not accept connections" % node.name)
            if self.replicated:
                c.call("READONLY")
            keys, cursor = [], b"0"
            for _ in range(100000):
                cursor, batch = c.call("SCAN", cursor, "COUNT", "1000")
                keys += batch
                if cursor in (b"0", 0, "0"):
                    break
            out = {}
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                out.update(zip((text(k) for k in chunk), (text(v) for v in
                                                          c.call("MGET", *chunk))))
            return out
        finally:
            c.close()

    def assert_converged(self, nodes=None, timeout=20.0):
        """Waits until every node holds the same keys and values; returns them."""
        nodes = self.nodes if nodes is None else nodes
        deadline = time.monotonic() + timeout
        while True:
            datas = []
            for node in nodes:
                try:
                    datas.append(self.data(node))
                except (redis.exceptions.RedisError, AssertionError):
                    datas.append(None)
            if all(d is not None for d in datas) and all(d == datas[0] for d in datas):
                return datas[0]
            if time.monotonic() > deadline:
                raise AssertionError("replicas differ after %.1f s: %s; %s" % (
                    timeout, _diff_summary(nodes, datas), self.describe(nodes)))
            time.sleep(0.2)


def _diff_summary(nodes, datas):
    if any(d is None for d in datas):
        return "unreadable: %s" % [n.name for n, d in zip(nodes, datas) if d is None]
    keys = set().union(*datas)
    differ = sorted(k for k in keys if len({d.get(k) for d in datas}) > 1)
    return "%d keys differ, e.g. %s" % (len(differ), [
        (k, [d.get(k) for d in datas]) for k in differ[:5]])


class _Workers:
    """Client threads, each bounded in operations and time, stopped together."""

    def __init__(self, group, clients, nodes, seed, max_ops, max_seconds):
        self.group = group
        self.clients = clients
        self.nodes = list(group.nodes if nodes is None else nodes)
        self.seed = seed
        self.max_ops = max_ops
        self.max_seconds = max_seconds
        self.history = faults.History()
        self._stop = threading.Event()
        self._threads = []
        self.errors = []

    def start(self):
        self.deadline = time.monotonic() + self.max_seconds
        for i in range(self.clients):
            t = threading.Thread(target=self._guard, args=(i,), daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def _guard(self, i):
        try:
            self._client(i, random.Random(self.seed * 1000003 + i))
        except Exception as e:  # reported by stop(): a test never passes past a broken client
            self.errors.append("client %d: %r" % (i, e))

    def running(self, ops):
        return not self._stop.is_set() and ops < self.max_ops and \
            time.monotonic() < self.deadline

    def connect(self, i, attempt, sticky):
        """A connected Conn for client i: its own node first, then (unless sticky) the next
        ones in turn. None while nothing answers (after a short pause)."""
        for k in range(1 if sticky else len(self.nodes)):
            node = self.nodes[(i + attempt + k) % len(self.nodes)]
            c = Conn(self.group, node)
            if c.connect():
                return c
        time.sleep(0.05)
        return None

    def finish(self):
        """Lets every client run to its bound of operations or time, then stop()."""
        for t in self._threads:
            t.join(max(0.0, self.deadline - time.monotonic()) + OP_TIMEOUT_S * 4 + 5)
        return self.stop()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(OP_TIMEOUT_S * 4 + 5)
        assert not any(t.is_alive() for t in self._threads), "a client thread did not stop"
        assert not self.errors, "client errors: %s" % self.errors
        return self


class SetWriters(_Workers):
    """Threads writing unique keys PREFIX:CLIENT:N (value v.CLIENT.N), recording every write
    (give two writer sets different prefixes). Client i starts on nodes[i % len(nodes)]; on a
    lost connection it moves on to the next node, or with sticky=True stays on its node (to
    watch what that one node acknowledges)."""

    def __init__(self, group, clients=4, nodes=None, seed=1, sticky=False, max_ops=20000,
                 max_seconds=60.0, pause_s=0.0, prefix="s"):
        super().__init__(group, clients, nodes, seed, max_ops, max_seconds)
        self.sticky = sticky
        self.prefix = prefix
        self.pause_s = pause_s

    def _client(self, i, rng):
        process, attempt, ops, conn = 0, 0, 0, None
        while self.running(ops):
            if conn is None:
                conn = self.connect(i, attempt, self.sticky)
                if conn is None:
                    attempt += 1
                    continue
            key, value = "%s:%d:%d" % (self.prefix, i, ops), "v.%d.%d" % (i, ops)
            op = self.history.invoke("%s%d.%d" % (self.prefix, i, process), "write", key, value)
            op.node = conn.node
            ops += 1
            try:
                expect_ok(op, conn.call("SET", key, value))
            except redis.exceptions.RedisError as e:
                if outcome_of_error(e) == "fail":
                    op.fail()
                    if not isinstance(e, redis.exceptions.ResponseError):
                        conn, attempt = None, attempt + 1  # LOADING: Conn.call closed it
                else:
                    op.unknown()
                    process += 1
                    conn.close()
                    conn, attempt = None, attempt + 1
            if self.pause_s:
                time.sleep(self.pause_s)
        if conn:
            conn.close()

    def ops(self, outcome=None, node=None, after_us=None, before_us=None):
        """The recorded writes, filtered by outcome, node served, invoke time >= after_us and
        complete time < before_us."""
        return [o for o in self.history.ops
                if (outcome is None or o.outcome == outcome)
                and (node is None or getattr(o, "node", None) is node)
                and (after_us is None or o.invoke_us >= after_us)
                and (before_us is None or (o.complete_us is not None
                                           and o.complete_us < before_us))]

    def verify(self, node):
        """Reads every written key through node (linearizable reads): acknowledged writes must
        be present, failed ones absent, unknown ones either. Returns {outcome: count}."""
        ops = list(self.history.ops)
        r = self.group.client(node, timeout=10)
        try:
            found = {}
            for k in range(0, len(ops), 500):
                chunk = ops[k:k + 500]
                values = r.mget([o.key for o in chunk])
                found.update((o.key, text(v)) for o, v in zip(chunk, values))
        finally:
            r.close()
        lost = [o.key for o in ops if o.outcome == "ok" and found[o.key] != o.args[0]]
        ghosts = [o.key for o in ops if o.outcome == "fail" and found[o.key] is not None]
        wrong = [o.key for o in ops if o.outcome == "unknown" and
                 found[o.key] not in (None, o.args[0])]
        assert not lost, "%d acknowledged writes lost, e.g. %s" % (len(lost), lost[:10])
        assert not ghosts, "%d failed writes applied, e.g. %s" % (len(ghosts), ghosts[:10])
        assert not wrong, "%d keys with a value never written: %s" % (len(wrong), wrong[:10])
        counts = {"ok": 0, "fail": 0, "unknown": 0}
        for o in ops:
            counts[o.outcome or "unknown"] += 1
        return counts


class RegisterClients(_Workers):
    """Threads running reads, writes and compare-and-sets on a few registers (keys), each op
    recorded for the linearizability checker. Client i starts on nodes[i % len(nodes)] and
    moves on to the next node when its connection is lost; an unknown outcome retires its
    process id (the checker needs each process sequential)."""

    def __init__(self, group, clients=5, keys=("r0", "r1", "r2", "r3"), nodes=None, seed=1,
                 mix=(0.4, 0.3, 0.3), max_ops=3000, max_seconds=90.0, pause_s=0.005):
        super().__init__(group, clients, nodes, seed, max_ops, max_seconds)
        self.keys = list(keys)
        self.mix = mix
        self.pause_s = pause_s

    def _client(self, i, rng):
        state = {"process": 0, "attempt": 0, "conn": None, "seq": 0}
        ops = 0
        while self.running(ops):
            if state["conn"] is None:
                state["conn"] = self.connect(i, state["attempt"], False)
                if state["conn"] is None:
                    state["attempt"] += 1
                    continue
            key = rng.choice(self.keys)
            draw = rng.random()
            ops += 1
            if draw < self.mix[0]:
                self._read(i, state, key)
            elif draw < self.mix[0] + self.mix[1]:
                self._write(i, state, key)
            else:
                self._cas(i, state, key)
            time.sleep(self.pause_s)
        if state["conn"]:
            state["conn"].close()

    def _value(self, i, state):
        state["seq"] += 1
        return "p%d.%d" % (i, state["seq"])

    def _run(self, i, state, op, args, done):
        """Runs one recorded command; done(reply) completes op. False when the outcome was
        unknown (then the process is retired and the connection dropped)."""
        op.node = state["conn"].node
        try:
            done(state["conn"].call(*args))
            return True
        except redis.exceptions.RedisError as e:
            if outcome_of_error(e) == "fail":
                op.fail()
                if isinstance(e, redis.exceptions.ResponseError):
                    return True
            else:
                op.unknown()  # the checker ignores an unknown read
            self._drop(state)
            return False

    def _drop(self, state):
        state["process"] += 1
        state["conn"].close()
        state["conn"] = None
        state["attempt"] += 1

    def _pid(self, i, state):
        return "c%d.%d" % (i, state["process"])

    def _read(self, i, state, key):
        """A recorded GET; returns (True, value) when it answered."""
        op = self.history.invoke(self._pid(i, state), "read", key)
        result = {}

        def done(reply):
            result["value"] = text(reply)
            op.ok(result["value"])
        ok = self._run(i, state, op, ("GET", key), done)
        return ok and "value" in result, result.get("value")

    def _write(self, i, state, key):
        value = self._value(i, state)
        op = self.history.invoke(self._pid(i, state), "write", key, value)
        self._run(i, state, op, ("SET", key, value), lambda reply: expect_ok(op, reply))

    def _version(self, state, key):
        try:
            return int(state["conn"].call("POLIS.VERSION", key))
        except redis.exceptions.ResponseError:
            return None
        except redis.exceptions.RedisError:
            self._drop(state)
            return None

    def _cas(self, i, state, key):
        before = self._version(state, key)
        if before is None:
            return
        answered, value = self._read(i, state, key)
        if not answered or state["conn"] is None:
            return
        after = self._version(state, key)
        if after != before or state["conn"] is None:
            return  # a write came between: the value may not be the version's
        if (value is None) != (before == 0):
            raise AssertionError("POLIS.VERSION %s is %d but GET says %r" % (key, before, value))
        new = self._value(i, state)
        op = self.history.invoke(self._pid(i, state), "cas", key,
                                 faults.NIL if value is None else value, new)

        def done(reply):
            op.ok(reply is not None)
        self._run(i, state, op, ("POLIS.CAS", key, str(before), new), done)

    def counts(self):
        out = {}
        for o in self.history.ops:
            name = "%s-%s" % (o.op, o.outcome)
            out[name] = out.get(name, 0) + 1
        return out

    def check(self, path):
        """Writes the history to path and runs the linearizability checker on it; raises
        AssertionError with the checker's explanation unless it is linearizable."""
        return lincheck(self.history, path)


def lincheck(history, path):
    """Writes history to path, runs build/polis-lincheck on it, raises AssertionError unless
    linearizable. Returns the checker's output."""
    assert os.path.exists(LINCHECK), "%s is missing: run `make lincheck`" % LINCHECK
    history.write(path)
    p = subprocess.run([LINCHECK, path], capture_output=True, text=True, timeout=120)
    out = (p.stdout + p.stderr).strip()
    assert p.returncode == 0, "history %s is not linearizable (exit %d):\n%s" % (
        path, p.returncode, out[-3000:])
    return out


class TermWatcher:
    """Samples every node's INFO replication in the background and records, per term, the
    leaders named: by a node reporting role:leader (itself) and by followers (leader_id). Two
    leaders in one term is split brain."""

    def __init__(self, group, interval_s=0.02):
        self.group = group
        self.interval_s = interval_s
        self.leaders = {}   # term -> {leader id: [(node name, time), ...]}
        self.samples = 0
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        conns = {}
        while not self._stop.is_set():
            for node in self.group.nodes:
                c = conns.get(node) or Conn(self.group, node, timeout=0.2)
                conns[node] = c
                try:
                    if c.connect():
                        self.observe(node, parse_info(c.call("INFO", "replication")))
                except redis.exceptions.RedisError:
                    conns.pop(node).close()
            time.sleep(self.interval_s)
        for c in conns.values():
            c.close()

    def observe(self, node, info):
        """Records what one INFO replication of node says about its term's leader."""
        self.samples += 1
        role, term = info.get("role"), int(info.get("raft_term", 0) or 0)
        if role == "leader":
            leader = node.index
        elif role == "follower" and int(info.get("leader_id", 0) or 0) > 0:
            leader = int(info["leader_id"])
        else:
            return
        self.leaders.setdefault(term, {}).setdefault(leader, []).append(
            (node.name, time.monotonic()))

    def split_brain(self):
        """{term: leader ids} for every term in which more than one leader was seen."""
        return {t: sorted(ids) for t, ids in self.leaders.items() if len(ids) > 1}

    def terms_with_leader(self):
        return sorted(self.leaders)

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join(10)
        assert self.samples > 0, "the term watcher never got an answer"
        return self


class Nemesis:
    """Seeded faults against a group, one at a time, each undone before the next (see FAULTS).
    Delay needs delay proxies on every link: create them (cluster.delay_all(BUS_PORT, 0))
    before the group starts, so the --peers lists route through them."""

    FAULTS = ("kill_leader", "isolate_leader", "pause_leader", "loss", "delay",
              "isolate_follower", "leader_deaf")

    def __init__(self, group, seed, faults_allowed=FAULTS, hold_s=(0.4, 1.2), quiet_s=0.5):
        self.group = group
        self.cluster = group.cluster
        self.rng = random.Random(seed)
        self.allowed = list(faults_allowed)
        self.hold_s = hold_s
        self.quiet_s = quiet_s
        self.log = []   # (seconds since start, fault, detail)
        self.t0 = time.monotonic()

    def note(self, fault, detail=""):
        self.log.append((round(time.monotonic() - self.t0, 2), fault, detail))

    def run(self, seconds):
        """Injects faults for about seconds (each fault finishes), then heals everything."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            fault = self.rng.choice(self.allowed)
            hold = self.rng.uniform(*self.hold_s)
            getattr(self, fault)(hold)
            time.sleep(self.quiet_s)
        self.heal()
        return self.log

    def heal(self):
        self.cluster.heal()
        for p in self.cluster.proxies:
            if p.delay_ms:
                p.set_delay(0)
        for node in self.group.nodes:
            if node.alive():
                node.sigcont()
            else:
                self.group.restart(node)
        self.note("heal")

    def _leader(self):
        """The current leader, or a seeded pick when there is none right now."""
        return self.group.leader() or self.rng.choice(self.group.nodes)

    def kill_leader(self, hold):
        node = self._leader()
        self.note("kill -9", node.name)
        node.kill9()
        time.sleep(hold)
        self.group.restart(node)
        self.note("restart", node.name)

    def isolate_leader(self, hold):
        node = self._leader()
        self.note("isolate", node.name)
        self.cluster.isolate(node)
        time.sleep(hold)
        self.cluster.heal()

    def pause_leader(self, hold):
        node = self._leader()
        self.note("SIGSTOP", node.name)
        node.sigstop()
        time.sleep(hold)
        node.sigcont()

    def loss(self, hold):
        fraction = self.rng.choice((0.1, 0.2, 0.3))
        self.note("loss", fraction)
        self.cluster.loss(fraction)
        time.sleep(hold * 2)
        self.cluster.heal()

    def delay(self, hold):
        if not self.cluster.proxies:
            return self.loss(hold)
        delay_ms, jitter_ms = self.rng.choice(((20, 20), (50, 30), (80, 0)))
        self.note("delay", "%d+%d ms" % (delay_ms, jitter_ms))
        for p in self.cluster.proxies:
            p.set_delay(delay_ms, jitter_ms)
        time.sleep(hold * 2)
        for p in self.cluster.proxies:
            p.set_delay(0)

    def isolate_follower(self, hold):
        leader = self._leader()
        node = self.rng.choice([n for n in self.group.nodes if n is not leader])
        self.note("isolate", node.name)
        self.cluster.isolate(node)
        time.sleep(hold)
        self.cluster.heal()

    def leader_deaf(self, hold):
        """The leader stops hearing the followers (they still hear it): check-quorum's case."""
        leader = self._leader()
        others = [n for n in self.group.nodes if n is not leader]
        self.note("one-way", "%s deaf" % leader.name)
        self.cluster.partition(others, [leader], one_way=True)
        time.sleep(hold)
        self.cluster.heal()
