"""The pools and the host, read every ``interval`` seconds by a daemon thread while the app
runs (and once at its start, before it reports ready): the PostgreSQL pool's stats
(``rag_core.telemetry.pool``) and the free space, memory and cores of the machine
(``rag_core.telemetry.host``). The Redis connections are read with Redis' memory
(``rag_core.redis_kv.memory.MemoryWatch``). A reading that fails is logged once and tried again
at the next turn: watching never stops the service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from rag_core.config import Services, Settings
from rag_core.telemetry import host, logs
from rag_core.telemetry.pool import PoolReading

log = logging.getLogger("rag_core.telemetry.watch")
INTERVAL_S = 15.0  # a scrape every 15 s sees figures at most one turn old


def watched_folders(services: Services) -> dict[str, Path]:
    """The folders the process writes: the state folder, and the embedded PostgreSQL's data
    where the settings name no database (``DATABASE_URL``: the operator's exporter watches
    that disk)."""
    state = Path(services.state_dir)
    folders = {"state": state}
    if not services.database_url:
        folders["postgres"] = state / "pgdata"
    return folders


class HostWatch:
    def __init__(self, folders: Mapping[str, Path],
                 pool_stats: Callable[[], Mapping[str, int] | None] | None = None,
                 interval: float = INTERVAL_S) -> None:
        self.folders = dict(folders)
        self.pool_stats = pool_stats
        self.reading = PoolReading()
        self.interval = interval
        self._failed: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-watch", daemon=True)

    @classmethod
    def of(cls, settings: Settings, store: object, interval: float = INTERVAL_S) -> HostWatch:
        """The watch of an app: its settings' folders and its store's pool (a store without a
        pool, the in-memory one, has none to watch)."""
        stats = getattr(getattr(store, "pool", None), "stats", None)
        return cls(watched_folders(settings.services), stats if callable(stats) else None,
                   interval)

    def refresh(self) -> None:
        self._guarded("host", lambda: host.refresh(self.folders))
        if self.pool_stats is not None:
            read = self.pool_stats
            self._guarded("pool", lambda: self.reading.record(read()))

    def _guarded(self, what: str, action: Callable[[], None]) -> None:
        try:
            action()
            self._failed.discard(what)
        except Exception as exc:  # noqa: BLE001 (a figure missed must not stop the service)
            if what not in self._failed:
                self._failed.add(what)
                logs.log_event(log, logging.WARNING, f"{what} figures not read",
                               error=type(exc).__name__)

    def start(self) -> HostWatch:
        self.refresh()
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()


__all__ = ["INTERVAL_S", "HostWatch", "watched_folders"]
