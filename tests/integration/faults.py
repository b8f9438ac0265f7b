"""faults: a reusable fault-injection harness for polis' integration tests (pytest, run as root).

Every node runs (any command line) in its own network namespace, joined to the others by a Linux
bridge, so nodes talk over real TCP/IP between distinct addresses, and the harness can break that
network the way real networks break:

    with Cluster(3) as c:                       # namespaces, veths, a bridge, nft tables
        a, b, d = c.nodes                       # a.ip == "10.77.X.1", ...
        a.start(["bin/polis", "server", "--bind", a.ip, ...])
        c.partition([a])                        # a <-/-> everyone else, both directions
        c.partition([a], [b], one_way=True)     # b stops hearing a; a still hears b
        c.heal()                                # every partition and loss rule removed
        c.loss(0.2, nodes=[b])                  # b drops 20% of packets from the other nodes
        p = c.delay_proxy(a, b, 17001, delay_ms=50)  # a reaches b:17001 at 127.0.0.1:p.port
        a.sigstop(); a.sigcont(); a.kill9(); a.restart()
        h = c.history; op = h.invoke(1, "write", "x", 5); ...; op.ok()
        h.write("history.txt")                  # for build/polis-lincheck

Addressing: run slot X (1..250) is unique among live runs on the machine (a lock file under
/run/polis-faults), so parallel runs never collide: subnet 10.77.X.0/24, node i at 10.77.X.i,
the host at 10.77.X.254 on bridge `pfXbr`, namespaces `polis-fX-nI`, host-side veths `pfXnI`.
Clients run in the host namespace (the test process), so partitions never cut the test's own
clients off: they model a network split between nodes, not between nodes and clients.

Faults are nftables rules in each node's namespace (table `inet polis_faults`, chain `input`),
dropping by source address: a partition drops, on each receiving node, packets from the nodes on
the other side; loss drops a fraction with `numgen random`. Delay: this kernel has no `tc netem`,
so delay is a user-space TCP proxy run inside the source node's namespace (listening on its
127.0.0.1, forwarding to the destination node's address after delay_ms each way). Point the
source node's peer address at the proxy (`--peers 2@127.0.0.1:PROXYPORT`); because the proxy
dials from the source's namespace, partitions and loss still apply to delayed traffic.

Cleanup (processes, proxies, nft tables, veths, namespaces, bridge, lock file) runs when the
`with` block ends, even on failure, at interpreter exit for anything still open, and for runs that
died without cleaning up (their lock file names a dead pid) when the next run starts.

History format: the one build/polis-lincheck reads (see "History files" in docs/ARCHITECTURE.md),
one operation per line, nine whitespace-separated fields:

    # process op key arg1 arg2 invoke complete outcome result
    1 write x 5 - 1200 1850 ok -
    2 read x - - 1300 1900 ok 5
    3 cas x 5 7 1400 - unknown -
    4 cas x 7 9 1500 1700 ok false

op is read, write or cas (the checker's register model; History records any op name, for other
checkers); arg1 is the value written or the value a cas expects, arg2 the value a cas sets, `-`
when absent; times are microseconds since the history began (monotonic); complete is `-` when the
outcome is `unknown` (the op may take effect any time after its invocation); outcome is `ok`,
`fail` (certainly had no effect) or `unknown`; result is the value an ok read returned (`nil` when
the key was absent), `true`/`false` for an ok cas, else `-`. Values are percent-encoded so each is
one token: bytes outside [A-Za-z0-9._:/+=@-] become %XX, and so does the first byte of a value
that would read as a keyword (`-`, `nil`, `true`, `false`); an empty value is a lone `%`.
Tokens are at most HISTORY_TOKEN_MAX bytes.

Run as a script, this module is also the delay proxy:
    python3 faults.py proxy LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS JITTER_MS
"""
import asyncio
import atexit
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

SUBNET = "10.77"
STATE_DIR = "/run/polis-faults"
SLOTS = range(1, 251)
HOST_OCTET = 254
NODES_MAX = 200
NFT_TABLE = "polis_faults"
LOSS_SCALE = 1000  # loss fractions are applied in thousandths
HISTORY_TOKEN_MAX = 256  # the checker's limit on one field
KILL_WAIT_S = 5  # how long cleanup waits for killed processes to exit

_live_clusters = set()
_libc = None


class HarnessError(RuntimeError):
    """The environment cannot run the fault harness, or a network command failed."""


def _tool(name):
    path = shutil.which(name) or next(
        (p for p in ("/usr/sbin/" + name, "/sbin/" + name) if os.path.exists(p)), None)
    if not path:
        raise HarnessError("the fault harness needs `%s` (install iproute2 and nftables: "
                           "scripts/install-deps.sh)" % name)
    return path


def check_environment():
    """Raises HarnessError with a clear message unless namespaces, bridges and nft can work."""
    if os.geteuid() != 0:
        raise HarnessError("the fault harness must run as root (it creates network namespaces, "
                           "a bridge and nftables rules): run `sudo /usr/bin/python3 -m pytest "
                           "tests/integration`")
    for name in ("ip", "nft"):
        _tool(name)
    if not os.path.exists("/proc/self/ns/net"):
        raise HarnessError("this kernel has no network namespaces (/proc/self/ns/net missing)")


def _run(argv, input=None, check=True, timeout=20):
    """Runs a command and returns its CompletedProcess; raises HarnessError when it fails."""
    p = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise HarnessError("`%s` failed (%d): %s" % (" ".join(argv), p.returncode,
                                                    (p.stderr or p.stdout).strip()))
    return p


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _setns(fd):
    global _libc
    if _libc is None:
        import ctypes
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
        import ctypes
        err = ctypes.get_errno()
        raise OSError(err, "setns: " + os.strerror(err))


def _socket_in_namespace(ns, family, kind):
    """A socket that lives in namespace ns (a socket keeps the namespace it was created in)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open("/run/netns/" + ns, os.O_RDONLY)
    try:
        _setns(target)
        try:
            return socket.socket(family, kind)
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


class _Slot:
    """A run slot X, held through the lock file STATE_DIR/slot-X naming our pid."""

    def __init__(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        routes = _run([_tool("ip"), "-4", "route", "show"]).stdout
        order = list(SLOTS)
        random.shuffle(order)
        for x in order:
            if ("%s.%d." % (SUBNET, x)) in routes and not self._stale(x):
                continue
            if self._claim(x):
                self.x = x
                return
        raise HarnessError("no free fault-harness slot (all of %s.1-250.0/24 are in use)" % SUBNET)

    @staticmethod
    def path(x):
        return os.path.join(STATE_DIR, "slot-%d" % x)

    @classmethod
    def _stale(cls, x):
        try:
            with open(cls.path(x)) as f:
                pid = int(f.read().strip() or "0")
        except (OSError, ValueError):
            return False
        return pid <= 0 or not _pid_alive(pid)

    @classmethod
    def reclaim_if_stale(cls, x):
        """Removes what a dead run in slot x left, and its lock file."""
        if cls._stale(x):
            _remove_leftovers(x)
            try:
                os.unlink(cls.path(x))
            except FileNotFoundError:
                pass

    def _claim(self, x):
        self.reclaim_if_stale(x)
        try:
            fd = os.open(self.path(x), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        _remove_leftovers(x)  # names of a run that died before writing its lock file
        return True

    def release(self):
        try:
            os.unlink(self.path(self.x))
        except FileNotFoundError:
            pass


def _names(x):
    return {"bridge": "pf%dbr" % x, "ns_prefix": "polis-f%d-n" % x, "veth_prefix": "pf%dn" % x}


def _remove_leftovers(x):
    """Removes every namespace, process, veth and bridge a run in slot x may have left."""
    names = _names(x)
    ip = _tool("ip")
    for ns in _run([ip, "netns", "list"], check=False).stdout.split():
        if ns.startswith(names["ns_prefix"]):
            _kill_namespace_processes(ns)
            _run([ip, "netns", "del", ns], check=False)
    for line in _run([ip, "-o", "link", "show"], check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            link = parts[1].strip().split("@")[0]
            if link.startswith(names["veth_prefix"]) or link == names["bridge"]:
                _run([ip, "link", "del", link], check=False)


def reclaim_stale():
    """Removes what runs that died without cleaning up left behind (their lock file names a dead
    pid). Cluster.setup calls it; safe to call any time."""
    if not os.path.isdir(STATE_DIR):
        return
    for entry in os.listdir(STATE_DIR):
        if entry.startswith("slot-") and entry[5:].isdigit():
            _Slot.reclaim_if_stale(int(entry[5:]))


def _exited(pid):
    """Whether pid has exited (a zombie waiting for its reaper counts as exited)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _kill_namespace_processes(ns):
    """SIGKILLs every process in ns and waits (at most KILL_WAIT_S) until they have exited: a
    signal is delivered asynchronously, and a namespace outlives its last process."""
    out = _run([_tool("ip"), "netns", "pids", ns], check=False).stdout
    pids = [int(pid) for pid in out.split() if pid.isdigit()]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + KILL_WAIT_S
    while any(not _exited(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def _encode(token):
    """Percent-encodes one history value (see the module docstring)."""
    raw = token if isinstance(token, bytes) else str(token).encode()
    if raw == b"":
        return "%"  # an empty value, distinct from none
    safe = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/+=@-"
    out = "".join(chr(c) if c in safe else "%%%02X" % c for c in raw)
    if out in ("-", "nil", "true", "false"):
        out = "%%%02X" % raw[0] + out[1:]
    if len(out) > HISTORY_TOKEN_MAX:
        raise HarnessError("history value longer than %d bytes once encoded: %r..."
                           % (HISTORY_TOKEN_MAX, out[:40]))
    return out


class _Nil:
    """The absent value as an operation argument (a cas that expects the key absent)."""

    def __repr__(self):
        return "NIL"


NIL = _Nil()


class Op:
    """One client operation of a History: complete it once with ok(), fail() or unknown()."""

    def __init__(self, history, process, op, key, args):
        self.history = history
        self.process = process
        self.op = op
        self.key = key
        self.args = list(args)
        self.invoke_us = history.now_us()
        self.complete_us = None
        self.outcome = None
        self.result = None

    def _complete(self, outcome, result):
        if self.outcome is not None:
            raise HarnessError("operation completed twice: %r" % self)
        self.outcome = outcome
        self.result = result
        self.complete_us = None if outcome == "unknown" else self.history.now_us()
        self.history._completed(self)
        return self

    def ok(self, result=None):
        return self._complete("ok", result)

    def fail(self, result=None):
        """The operation certainly had no effect (an error reply before anything was written)."""
        return self._complete("fail", result)

    def unknown(self):
        """The outcome is not known (timeout, lost connection): it may or may not take effect."""
        return self._complete("unknown", None)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if self.outcome is None:
            self.unknown()
        return False

    def line(self):
        args = ["nil" if a is NIL else "-" if a is None else _encode(a)
                for a in self.args] + ["-", "-"]
        complete = "-" if self.complete_us is None else str(self.complete_us)
        if self.outcome != "ok":
            result = "-"
        elif isinstance(self.result, bool):
            result = "true" if self.result else "false"
        elif self.result is None:
            result = "nil" if self.op == "read" else "-"
        else:
            result = _encode(self.result)
        return " ".join([_encode(self.process), _encode(self.op), _encode(self.key), args[0],
                         args[1], str(self.invoke_us), complete, self.outcome or "unknown",
                         result])

    def __repr__(self):
        return "Op(%s)" % self.line()


class History:
    """Records client operations (thread-safe) and writes them for the linearizability checker.

        op = history.invoke(process, "write", "x", 5)
        try:
            r.set("x", 5); op.ok()
        except redis.ResponseError: op.fail()
        except redis.RedisError: op.unknown()      # timeouts, lost connections

    or `with history.invoke(...) as op:` which records `unknown` if the block leaves it open.
    """

    HEADER = "# process op key arg1 arg2 invoke complete outcome result\n"

    def __init__(self):
        self.t0 = time.monotonic_ns()
        self.ops = []
        self._open = {}
        self._retired = set()
        self._lock = threading.Lock()

    def now_us(self):
        return (time.monotonic_ns() - self.t0) // 1000

    def invoke(self, process, op, key, *args):
        """Records the invocation of op on key by process, with at most two args (write: the
        value; cas: expected, new; NIL is the absent value, as a cas expecting no key). Complete the returned Op with ok(result), fail() or
        unknown(); ok(result) takes the value read (None: the key was absent) or, for a cas,
        True/False."""
        if len(args) > 2:
            raise HarnessError("an operation has at most two arguments")
        with self._lock:
            if process in self._open:
                raise HarnessError("process %r already has an operation in flight" % (process,))
            if process in self._retired:
                raise HarnessError("process %r had an unknown outcome: use a new id" % (process,))
            o = Op(self, process, op, key, args)
            self._open[process] = o
            self.ops.append(o)
            return o

    def _completed(self, o):
        with self._lock:
            self._open.pop(o.process, None)
            if o.outcome == "unknown":
                self._retired.add(o.process)

    def lines(self):
        with self._lock:
            return [o.line() for o in self.ops]

    def write(self, path):
        """Writes the history (operations still open are written as unknown)."""
        with open(path, "w") as f:
            f.write(self.HEADER)
            for line in self.lines():
                f.write(line + "\n")
        return path


class Node:
    """One node: a network namespace with one address, and at most one program running in it."""

    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = "n%d" % index
        self.ns = cluster.names["ns_prefix"] + str(index)
        self.veth = cluster.names["veth_prefix"] + str(index)
        self.ip = "%s.%d.%d" % (SUBNET, cluster.x, index)
        self.proc = None
        self.argv = None
        self.env = None
        self.log_path = os.path.join(cluster.workdir, self.name + ".log")
        self._log = None

    def __repr__(self):
        return "Node(%s %s)" % (self.name, self.ip)

    # Processes

    def start(self, argv=None, env=None, cwd=None):
        """Starts argv (or the previous command line) in this node's namespace; output goes to
        log_path. Returns self. The program's pid is self.proc.pid (ip netns exec execs it)."""
        if self.alive():
            raise HarnessError("%s is already running" % self.name)
        self.argv = list(argv if argv is not None else self.argv or [])
        if not self.argv:
            raise HarnessError("no command line for %s" % self.name)
        self.env = env if env is not None else self.env
        self._close_log()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([_tool("ip"), "netns", "exec", self.ns] + self.argv,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=cwd,
                                     start_new_session=True)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        """Sends sig to the node's process group (the program and any children)."""
        if self.proc is None or self.proc.poll() is not None:
            raise HarnessError("%s is not running" % self.name)
        os.killpg(self.proc.pid, sig)

    def kill9(self, wait=True):
        """kill -9: the process dies at once, nothing flushed."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
            if wait:
                self.proc.wait(10)
        return self.proc.returncode if self.proc else None

    def sigstop(self):
        """SIGSTOP: the process freezes (its sockets stay open, the kernel still ACKs)."""
        self.signal(signal.SIGSTOP)

    def sigcont(self):
        self.signal(signal.SIGCONT)

    def terminate(self, timeout=10.0):
        """SIGTERM (after SIGCONT, in case it was stopped), then SIGKILL after timeout."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        os.killpg(self.proc.pid, signal.SIGCONT)
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
        return self.proc.returncode

    def restart(self, graceful=False):
        """Kills the process (-9, or SIGTERM when graceful) and starts the same command line."""
        if graceful:
            self.terminate()
        else:
            self.kill9()
        return self.start()

    def read_log(self, tail=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")[-tail:]
        except OSError:
            return ""

    def _close_log(self):
        if self._log:
            self._log.close()
            self._log = None

    # Network

    def socket(self, family=socket.AF_INET, kind=socket.SOCK_STREAM):
        """A socket inside this node's namespace (traffic from it has this node's address)."""
        return _socket_in_namespace(self.ns, family, kind)

    def can_reach(self, other, port, timeout=0.3):
        """Whether a TCP connection from this node to other:port completes within timeout."""
        s = self.socket()
        s.settimeout(timeout)
        try:
            s.connect((other.ip if isinstance(other, Node) else other, port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    def run(self, argv, timeout=20, check=False):
        """Runs a short command inside the namespace and returns its CompletedProcess."""
        return _run([_tool("ip"), "netns", "exec", self.ns] + list(argv), check=check,
                    timeout=timeout)

    def wait_tcp(self, port, timeout=10.0):
        """Waits until the node accepts TCP on port from the host (the clients' side)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise HarnessError("%s exited with %s:\n%s" % (self.name, self.proc.returncode,
                                                               self.read_log()))
            try:
                with socket.create_connection((self.ip, port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise HarnessError("%s did not accept on %s:%d:\n%s" % (self.name, self.ip, port,
                                                                self.read_log()))


class Proxy:
    """A delaying TCP proxy in src's namespace: connect to (host, port) from src to reach
    dst:target_port, every byte held delay_ms (+ up to jitter_ms) in each direction."""

    def __init__(self, cluster, src, dst, target_port, delay_ms, jitter_ms, listen_port):
        self.src = src
        self.dst = dst
        self.host = "127.0.0.1"
        self.port = listen_port
        self.target_port = target_port
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms
        argv = [_tool("ip"), "netns", "exec", src.ns, sys.executable, os.path.abspath(__file__),
                "proxy", self.host, str(listen_port), dst.ip, str(target_port), str(delay_ms),
                str(jitter_ms)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                     start_new_session=True)
        self._expect("ready")

    def _expect(self, word):
        line = self.proc.stdout.readline().strip()
        if line != word:
            self.close()
            raise HarnessError("delay proxy said %r, expected %r" % (line, word))

    def set_delay(self, delay_ms, jitter_ms=0):
        """Changes the delay of bytes read from now on (bytes already held keep theirs)."""
        self.proc.stdin.write("delay %d %d\n" % (delay_ms, jitter_ms))
        self.proc.stdin.flush()
        self._expect("ok")
        self.delay_ms = delay_ms
        self.jitter_ms = jitter_ms

    def close(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, BrokenPipeError):
                pass


class Cluster:
    """n nodes in their own network namespaces on one bridge; a context manager (see module)."""

    def __init__(self, n, workdir=None):
        if not 1 <= n <= NODES_MAX:
            raise HarnessError("a cluster has 1..%d nodes" % NODES_MAX)
        self.n = n
        self.workdir = workdir
        self.nodes = []
        self.history = History()
        self.proxies = []
        self.slot = None
        self.x = None
        self.names = None
        self._blocked = {}  # node -> set of source addresses it drops
        self._loss = {}     # node -> (thousandths, set of source addresses)
        self._next_proxy_port = {}
        self._proxy_for = {}  # (src, dst, target port) -> Proxy
        self._closed = False

    def __enter__(self):
        self.setup()
        return self

    def __exit__(self, kind, value, tb):
        self.close()
        return False

    def setup(self):
        check_environment()
        _install_sigterm_exit()
        if self.workdir is None:
            import tempfile
            self.workdir = tempfile.mkdtemp(prefix="polis-faults-")
        os.makedirs(self.workdir, exist_ok=True)
        _live_clusters.add(self)
        try:
            reclaim_stale()
            self.slot = _Slot()
            self.x = self.slot.x
            self.names = _names(self.x)
            self.host_ip = "%s.%d.%d" % (SUBNET, self.x, HOST_OCTET)
            ip = _tool("ip")
            br = self.names["bridge"]
            _run([ip, "link", "add", br, "type", "bridge"])
            _run([ip, "addr", "add", self.host_ip + "/24", "dev", br])
            _run([ip, "link", "set", br, "up"])
            for _ in range(self.n):
                self.add_node()
        except BaseException:
            self.close()
            raise
        return self

    def add_node(self):
        """Adds one more node (a namespace on the bridge, nothing running) and returns it."""
        index = len(self.nodes) + 1
        if index > NODES_MAX:
            raise HarnessError("a cluster has at most %d nodes" % NODES_MAX)
        node = Node(self, index)
        self.nodes.append(node)
        ip = _tool("ip")
        _run([ip, "-batch", "-"], input="\n".join([
            "netns add %s" % node.ns,
            "link add %s type veth peer name eth0 netns %s" % (node.veth, node.ns),
            "link set %s master %s up" % (node.veth, self.names["bridge"]),
        ]) + "\n")
        _run([ip, "-n", node.ns, "-batch", "-"], input="\n".join([
            "addr add %s/24 dev eth0" % node.ip,
            "link set eth0 up",
            "link set lo up",
        ]) + "\n")
        _run([ip, "netns", "exec", node.ns, _tool("nft"), "-f", "-"], input=(
            "table inet %s {\n chain input {\n  type filter hook input priority 0; "
            "policy accept;\n }\n}\n" % NFT_TABLE))
        self._blocked[node] = set()
        return node

    def node(self, i):
        """Node i, counting from 1 like the addresses."""
        return self.nodes[i - 1]

    # Faults

    def _as_nodes(self, group):
        if group is None:
            return []
        if isinstance(group, Node):
            return [group]
        return [g if isinstance(g, Node) else self.node(g) for g in group]

    def partition(self, group, others=None, one_way=False):
        """Cuts group off from others (default: every node not in group). Both directions, or
        with one_way=True only traffic from group to others (others stop hearing group).
        Partitions add up until heal()."""
        group = self._as_nodes(group)
        others = self._as_nodes(others) if others is not None else [
            n for n in self.nodes if n not in group]
        if set(group) & set(others):
            raise HarnessError("a node cannot be on both sides of a partition")
        for receiver in others:
            self._blocked[receiver].update(n.ip for n in group)
        if not one_way:
            for receiver in group:
                self._blocked[receiver].update(n.ip for n in others)
        self._apply(set(group) | set(others))

    def isolate(self, node):
        """Cuts one node off from all the others, both directions."""
        self.partition([node])

    def loss(self, fraction, nodes=None, sources=None):
        """Makes each of nodes (default: all) drop `fraction` (0..1) of the packets it receives
        from sources (default: the other nodes; clients on the host are not affected unless
        "host" is listed). fraction 0 removes the rule."""
        if not 0 <= fraction <= 1:
            raise HarnessError("loss fraction must be within 0..1")
        targets = self._as_nodes(nodes) if nodes is not None else list(self.nodes)
        for node in targets:
            if sources is None:
                addrs = {n.ip for n in self.nodes if n is not node}
            else:
                addrs = {self.host_ip if s == "host" else self._as_nodes(s)[0].ip
                         for s in sources}
            if fraction == 0:
                self._loss.pop(node, None)
            else:
                self._loss[node] = (int(round(fraction * LOSS_SCALE)), addrs)
        self._apply(targets)

    def heal(self):
        """Removes every partition and loss rule."""
        for node in self.nodes:
            self._blocked[node] = set()
        self._loss.clear()
        self._apply(self.nodes)

    def rules(self, node):
        """The nft ruleset now in force in node's namespace (for tests and debugging)."""
        return node.run([_tool("nft"), "list", "table", "inet", NFT_TABLE], check=True).stdout

    def _apply(self, nodes):
        for node in nodes:
            lines = ["flush chain inet %s input" % NFT_TABLE]
            if self._blocked[node]:
                lines.append("add rule inet %s input ip saddr { %s } drop" % (
                    NFT_TABLE, ", ".join(sorted(self._blocked[node]))))
            if node in self._loss:
                thousandths, addrs = self._loss[node]
                lines.append("add rule inet %s input ip saddr { %s } numgen random mod %d < %d "
                             "drop" % (NFT_TABLE, ", ".join(sorted(addrs)), LOSS_SCALE,
                                       thousandths))
            _run([_tool("ip"), "netns", "exec", node.ns, _tool("nft"), "-f", "-"],
                 input="\n".join(lines) + "\n")

    def delay_proxy(self, src, dst, port, delay_ms, jitter_ms=0, listen_port=None):
        """Starts a delaying proxy in src's namespace towards dst:port (see Proxy). Give src's
        program ("127.0.0.1", proxy.port) as dst's address. Closed with the cluster."""
        src = self._as_nodes(src)[0]
        dst = self._as_nodes(dst)[0]
        if listen_port is None:
            listen_port = self._next_proxy_port.get(src, 30000)
            self._next_proxy_port[src] = listen_port + 1
        proxy = Proxy(self, src, dst, port, delay_ms, jitter_ms, listen_port)
        self.proxies.append(proxy)
        self._proxy_for[(src, dst, port)] = proxy
        return proxy

    def delay_all(self, port, delay_ms, jitter_ms=0):
        """A delay proxy for every ordered pair of nodes towards `port` (an int, or a function
        of the destination node); peers_for() then routes through them."""
        for src in self.nodes:
            for dst in self.nodes:
                if src is not dst:
                    self.delay_proxy(src, dst, port(dst) if callable(port) else port,
                                     delay_ms, jitter_ms)
        return [p for p in self.proxies if p.delay_ms == delay_ms]

    def peers_for(self, node, port, include_self=False):
        """The peer list "ID@HOST:PORT,..." node should be given for every other node (ID is the
        node's index), through a delay proxy wherever one exists from node to that peer.
        port is the peers' bus port: an int, or a function of the peer node. With
        include_self the list names node too (at its own address), in index order, as a
        `--peers` list of a group's voters does."""
        parts = []
        for peer in self.nodes:
            target = port(peer) if callable(port) else port
            if peer is node:
                if include_self:
                    parts.append("%d@%s:%d" % (peer.index, peer.ip, target))
                continue
            proxy = self._proxy_for.get((node, peer, target))
            host, p = (proxy.host, proxy.port) if proxy else (peer.ip, target)
            parts.append("%d@%s:%d" % (peer.index, host, p))
        return ",".join(parts)

    # Cleanup

    def close(self):
        """Stops everything and removes every trace; safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        errors = []
        for proxy in self.proxies:
            _collect(errors, proxy.close)
        for node in self.nodes:
            _collect(errors, node.kill9)
            node._close_log()
        if self.x is not None:
            for node in self.nodes:
                _collect(errors, _kill_namespace_processes, node.ns)
            ip = _tool("ip")
            for node in self.nodes:
                _run([ip, "link", "del", node.veth], check=False)
                _run([ip, "netns", "del", node.ns], check=False)
            _run([ip, "link", "del", self.names["bridge"]], check=False)
            _collect(errors, _remove_leftovers, self.x)
        if self.slot is not None:
            self.slot.release()
        _live_clusters.discard(self)
        if errors:
            raise HarnessError("cleanup had errors: %s" % "; ".join(errors))

    def leftovers(self):
        """What of this run still exists (namespaces, links): empty after close()."""
        if self.x is None:
            return []
        names = _names(self.x)
        ip = _tool("ip")
        found = [ns for ns in _run([ip, "netns", "list"], check=False).stdout.split()
                 if ns.startswith(names["ns_prefix"])]
        for line in _run([ip, "-o", "link", "show"], check=False).stdout.splitlines():
            parts = line.split(":")
            link = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
            if link.startswith(names["veth_prefix"]) or link == names["bridge"]:
                found.append(link)
        if os.path.exists(_Slot.path(self.x)):
            found.append(_Slot.path(self.x))
        return found


def _collect(errors, fn, *args):
    try:
        fn(*args)
    except Exception as e:  # cleanup goes on; the errors are reported together
        errors.append("%s: %s" % (getattr(fn, "__name__", fn), e))


def _close_all_at_exit():
    for cluster in list(_live_clusters):
        try:
            cluster.close()
        except Exception as e:
            sys.stderr.write("faults: cleanup at exit: %s\n" % e)


atexit.register(_close_all_at_exit)


def _install_sigterm_exit():
    """Turns SIGTERM into a normal exit so atexit cleanup runs (only if nobody handles it)."""
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


# The delay proxy (runs as its own process inside the source node's namespace).

class _Delay:
    def __init__(self, delay_ms, jitter_ms):
        self.set(delay_ms, jitter_ms)

    def set(self, delay_ms, jitter_ms):
        self.delay_s = delay_ms / 1000.0
        self.jitter_s = jitter_ms / 1000.0

    def draw(self):
        return self.delay_s + (random.random() * self.jitter_s if self.jitter_s else 0.0)


async def _proxy_pipe(reader, writer, delay):
    """Copies reader to writer, each chunk held for its delay; order is kept (a chunk never
    leaves before the one read before it)."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def pump_in():
        last_due = 0.0
        while True:
            try:
                data = await reader.read(65536)
            except OSError:
                data = b""
            last_due = max(last_due, loop.time() + delay.draw())
            await queue.put((last_due, data))
            if not data:
                return

    async def pump_out():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
            except OSError:
                return

    await asyncio.gather(pump_in(), pump_out())


async def _proxy_serve(listen_host, listen_port, target_host, target_port, delay):
    async def handle(client_reader, client_writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(_proxy_pipe(client_reader, up_writer, delay),
                                 _proxy_pipe(up_reader, client_writer, delay))
        finally:
            client_writer.close()
            up_writer.close()

    server = await asyncio.start_server(handle, listen_host, listen_port, reuse_address=True)
    loop = asyncio.get_running_loop()
    control = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(control), sys.stdin)
    print("ready", flush=True)
    async with server:
        while True:
            line = await control.readline()
            if not line:
                return  # the harness went away
            words = line.decode().split()
            if len(words) == 3 and words[0] == "delay":
                delay.set(int(words[1]), int(words[2]))
                print("ok", flush=True)
            else:
                print("error", flush=True)


def _proxy_main(args):
    listen_host, listen_port, target_host, target_port, delay_ms, jitter_ms = args
    delay = _Delay(int(delay_ms), int(jitter_ms))
    asyncio.run(_proxy_serve(listen_host, int(listen_port), target_host, int(target_port), delay))


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "proxy":
        _proxy_main(sys.argv[2:])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)
