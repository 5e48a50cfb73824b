"""A Redis primary, its replicas and three Sentinels as real processes on loopback, for tests and benches.

    from redis_ha import RedisHA, redis_ha  # (tests/ is on sys.path) redis_ha: a pytest fixture

    with RedisHA(tmp_path, password="pw") as ha:     # started, replicas in sync, Sentinels agreed
        client = connect(ha.url())                   # redis+sentinel://:pw@127.0.0.1:P1,.../mymaster/0
        old = ha.kill_primary()                      # SIGKILL; returns its port
        new = ha.wait_for_failover(old, timeout_s=20)
        ha.start_node(old)                           # comes back; the Sentinels make it a replica

Every node runs with AOF (appendfsync everysec) as in production. `down_after_ms` and
`failover_timeout_ms` are small so a failover takes a few seconds, not the 30 s + 3 min defaults.
Sentinels need a writable config file (they rewrite it); each gets its own folder.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import pytest
import redis

from cli.procs import free_port, spawn, wait_for_port


@dataclass
class Node:
    port: int
    data_dir: Path
    args: list[str]
    proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


class RedisHA:
    def __init__(self, base: Path, *, replicas: int = 1, sentinels: int = 3, password: str | None = None,
                 master_name: str = "mymaster", quorum: int = 2, down_after_ms: int = 1000,
                 failover_timeout_ms: int = 3000) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.exe = exe
        self.base = base
        self.password = password
        self.master_name = master_name
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.nodes: dict[int, Node] = {}
        self.sentinels: dict[int, Node] = {}
        self._n_replicas = replicas
        self._n_sentinels = sentinels
        self.initial_primary = 0

    # -- lifecycle --------------------------------------------------------------------
    def start(self, timeout_s: float = 30) -> Self:
        primary = self._add_node(replica_of=None)
        self.initial_primary = primary.port
        for _ in range(self._n_replicas):
            self._add_node(replica_of=primary.port)
        self.wait_replicas_in_sync(self._n_replicas, timeout_s)
        # Sentinels last: their first INFO to the primary then already lists every replica
        # (otherwise they learn of replicas only on the next INFO, 10 s later).
        for _ in range(self._n_sentinels):
            self._add_sentinel(primary.port)
        self.wait_sentinels_agree(timeout_s)
        return self

    def stop(self) -> None:
        for node in [*self.sentinels.values(), *self.nodes.values()]:
            if node.running:
                assert node.proc is not None
                node.proc.send_signal(signal.SIGTERM)
        for node in [*self.sentinels.values(), *self.nodes.values()]:
            if node.proc is not None:
                try:
                    node.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ----------------------------------------------------------------------
    def url(self, db: int = 0) -> str:
        auth = f":{self.password}@" if self.password else ""
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinels)
        query = f"?sentinel_password={self.password}" if self.password else ""
        return f"redis+sentinel://{auth}{hosts}/{self.master_name}/{db}{query}"

    def node_client(self, port: int, **kw: object) -> redis.Redis:
        """A plain client to one data node (not through the Sentinels)."""
        return redis.Redis(host="127.0.0.1", port=port, password=self.password, socket_timeout=2,
                           socket_connect_timeout=2, **kw)  # type: ignore[arg-type]

    def sentinel_client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, password=self.password, socket_timeout=2,
                           socket_connect_timeout=2, decode_responses=True)

    def primary_port(self) -> int:
        """The primary as a majority of the running Sentinels report it."""
        votes: dict[int, int] = {}
        for port, node in self.sentinels.items():
            if not node.running:
                continue
            try:
                addr = self.sentinel_client(port).execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                                                                  self.master_name)
            except redis.RedisError:
                continue
            if addr:
                votes[int(addr[1])] = votes.get(int(addr[1]), 0) + 1
        if not votes:
            raise RuntimeError("no Sentinel answers")
        return max(votes, key=lambda p: votes[p])

    def replica_ports(self) -> list[int]:
        primary = self.primary_port()
        return [p for p in self.nodes if p != primary]

    # -- faults -------------------------------------------------------------------------
    def kill(self, port: int, sig: int = signal.SIGKILL) -> None:
        node = self.nodes.get(port) or self.sentinels[port]
        if node.running:
            assert node.proc is not None
            node.proc.send_signal(sig)
            node.proc.wait(timeout=10)

    def kill_primary(self) -> int:
        port = self.primary_port()
        self.kill(port)
        return port

    def start_node(self, port: int) -> None:
        """Start a stopped data node (or Sentinel) again on its port and data."""
        node = self.nodes.get(port) or self.sentinels[port]
        if not node.running:
            node.proc = spawn([self.exe, *node.args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_for_port(port, node.proc, 10)

    def wait_for_failover(self, old_primary: int, timeout_s: float = 20) -> int:
        """Wait until the Sentinels name a new primary that answers as one; return its port."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                port = self.primary_port()
                if port != old_primary and self._role(port) == "master":
                    return port
            except (RuntimeError, redis.RedisError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"no failover from {old_primary} within {timeout_s} s")

    def wait_replicas_in_sync(self, n: int, timeout_s: float = 20) -> None:
        """Wait until the primary has `n` replicas online (INFO replication)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                info = self.node_client(self.primary_port_or_initial()).info("replication")
                online = sum(1 for k, v in info.items()
                             if k.startswith("slave") and isinstance(v, dict) and v.get("state") == "online")
                if online >= n:
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{n} replicas not in sync after {timeout_s} s")

    def wait_sentinels_agree(self, timeout_s: float = 20) -> None:
        """Each Sentinel knows every other Sentinel and every running replica: a failover can happen."""
        replicas = sum(1 for p, n in self.nodes.items() if n.running) - 1
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            ok = True
            for port in self.sentinels:
                try:
                    state = self.sentinel_client(port).execute_command("SENTINEL", "MASTER", self.master_name)
                except redis.RedisError:
                    ok = False
                    break
                if isinstance(state, list):
                    state = dict(zip(state[::2], state[1::2], strict=True))
                if (int(state["num-other-sentinels"]) < len(self.sentinels) - 1
                        or int(state["num-slaves"]) < replicas):
                    ok = False
                    break
            if ok:
                return
            time.sleep(0.1)
        raise TimeoutError(f"Sentinels did not discover each other within {timeout_s} s")

    def primary_port_or_initial(self) -> int:
        if not self.sentinels:
            return self.initial_primary
        return self.primary_port()

    # -- internals ----------------------------------------------------------------------
    def _role(self, port: int) -> str:
        return str(self.node_client(port).info("replication")["role"])

    def _add_node(self, replica_of: int | None) -> Node:
        port = free_port()
        data = self.base / f"redis-{port}"
        data.mkdir(parents=True)
        args = [
            "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data), "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
            "--logfile", str(data / "redis.log"),
            # a replica's first sync starts at once (default: wait 5 s for more replicas to join);
            # a stopping node does not wait 10 s for lagging replicas
            "--repl-diskless-sync-delay", "0", "--shutdown-timeout", "0",
        ]
        if self.password:
            args += ["--requirepass", self.password, "--masterauth", self.password]
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        node = Node(port, data, args)
        self.nodes[port] = node
        self.start_node(port)
        return node

    def _add_sentinel(self, primary: int) -> Node:
        port = free_port()
        data = self.base / f"sentinel-{port}"
        data.mkdir(parents=True)
        conf = data / "sentinel.conf"
        lines = [
            f"port {port}", "bind 127.0.0.1", f"dir {data}", f"logfile {data / 'sentinel.log'}",
            "sentinel resolve-hostnames yes", "sentinel announce-ip 127.0.0.1",
            f"sentinel monitor {self.master_name} 127.0.0.1 {primary} {self.quorum}",
            f"sentinel down-after-milliseconds {self.master_name} {self.down_after_ms}",
            f"sentinel failover-timeout {self.master_name} {self.failover_timeout_ms}",
            f"sentinel parallel-syncs {self.master_name} 1",
        ]
        if self.password:
            # the data nodes' password, and the Sentinels' own (they use it with each other too)
            lines += [f"sentinel auth-pass {self.master_name} {self.password}", f"requirepass {self.password}"]
        conf.write_text("\n".join(lines) + "\n")
        node = Node(port, data, [str(conf), "--sentinel"])
        self.sentinels[port] = node
        self.start_node(port)
        return node


@pytest.fixture
def redis_ha(tmp_path: Path) -> Iterator[RedisHA]:
    """One primary, one replica, three Sentinels, no password; stopped after the test."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with RedisHA(tmp_path / "ha") as ha:
        yield ha
