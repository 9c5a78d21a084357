"""Notice a Redis server that restarted: its ``run_id`` changes.

A Redis that restarts from its append-only file comes back with the values it had written to
that file, which may be older than writes it was sent and never ran (a notes version written
while it was frozen, then killed). Whoever keeps a copy of PostgreSQL's truth in Redis must
then re-check it. Every new connection of a client made by ``client.connect`` asks the server
its ``run_id`` (one ``INFO server``, only when a connection is opened) and :class:`RunIdWatch`
counts the changes it has seen (``changes``): a caller compares the count before and after a
read to know whether the read may have met a restarted server. It counts the connections opened
again too (``reconnects``): one opened again after a partition meets the same ``run_id``, and
whatever the process missed meanwhile is for the caller to re-check (``cache.versions``).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any


class RunIdWatch:
    def __init__(self) -> None:
        self.run_id: str | None = None
        self.changes = 0
        self.reconnects = 0  # connections opened again (after a drop: maybe a partition)
        self._opened: weakref.WeakSet[object] = weakref.WeakSet()
        self._lock = threading.Lock()

    def opened(self, connection: object) -> None:
        """A connection opens: again if it was open before (redis-py keeps a dropped
        connection in its pool and opens it anew on next use; a pool that grows makes new
        ones, which are not counted)."""
        with self._lock:
            if connection in self._opened:
                self.reconnects += 1
            else:
                self._opened.add(connection)

    def seen(self, run_id: str) -> None:
        with self._lock:
            if self.run_id is not None and run_id != self.run_id:
                self.changes += 1
            self.run_id = run_id

    def on_connect(self, connection: Any) -> None:
        """redis-py's ``redis_connect_func``: the usual handshake, then the server's run_id."""
        self.opened(connection)
        connection.on_connect()
        connection.send_command("INFO", "server")
        self._info(connection.read_response())

    async def on_connect_async(self, connection: Any) -> None:
        """The same for a connection of an asyncio client (``redis_kv.loop_script``)."""
        self.opened(connection)
        await connection.on_connect()
        await connection.send_command("INFO", "server")
        self._info(await connection.read_response())

    def _info(self, info: object) -> None:
        text = info.decode() if isinstance(info, bytes) else str(info)
        for line in text.splitlines():
            if line.startswith("run_id:"):
                self.seen(line.split(":", 1)[1].strip())
                return


_watches: dict[int, tuple[RunIdWatch, str]] = {}


def watch_of(client: object) -> RunIdWatch | None:
    """The watch of a client made by ``client.connect`` (None for a cluster or another)."""
    found = _watches.get(id(client))
    return found[0] if found is not None else None


def url_of(client: object) -> str | None:
    """The URL a client made by ``client.connect`` was made for (None for another)."""
    found = _watches.get(id(client))
    return found[1] if found is not None else None


def register(client: object, watch: RunIdWatch, url: str = "") -> None:
    _watches[id(client)] = (watch, url)
