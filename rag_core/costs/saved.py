"""What the caches saved each user today (``saved`` beside ``spent`` in the ledger's day key),
added up in process as each hit is served and written by the process's flushing thread
(``costs.requests``), about once a second and at exit: a cache hit never waits on a Redis write
for a figure that is informative only, never money. ``flush`` writes what is pending now (a
reader of the figure calls it first, so this process's own hits are in what it reads)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from rag_core.costs import requests


class SavedDollars:
    def __init__(self, write: Callable[[str, float], None]) -> None:
        self.write = write  # (the user's day key, dollars): the ledger's own write
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one write at a time, in order
        self._pending: dict[str, float] = {}
        requests.written_in_background(self)

    def add(self, key: str, usd: float) -> None:
        with self._lock:
            self._pending[key] = self._pending.get(key, 0.0) + usd
        requests.wake()

    def pending(self) -> dict[str, float]:
        """What is added up and not written yet, per day key."""
        with self._lock:
            return dict(self._pending)

    def flush(self) -> bool:
        with self._flushing:
            with self._lock:
                taken, self._pending = self._pending, {}
            for key, usd in taken.items():
                self.write(key, usd)  # fails open (the ledger's outage book)
        return True
