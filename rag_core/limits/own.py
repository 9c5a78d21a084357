"""A user's own limits, read through a short cache: a change made with ``rag-core limits set``
(or ``clear``) reaches every process within ``OWN_LIMITS_TTL_S`` (5 s), without a restart, and
a question costs a database round trip only when its user's entry is older than that (a
question limited afterwards costs nothing more). The read goes to a worker thread; when the
database fails, the last value read is kept (none: the tier's or the defaults apply) and read
again after the same time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

from rag_core.limits.policy import RateLimits
from rag_core.store.user_limits import UserLimitsTable
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.limits")
OWN_LIMITS_TTL_S = 5.0  # the bound is 10 s
MAX_ENTRIES = 50_000  # users whose entries are kept; beyond it the oldest half is dropped


class OwnLimits:
    def __init__(self, table: UserLimitsTable, *, ttl_s: float = OWN_LIMITS_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.ttl_s = ttl_s
        self.clock = clock
        self._entries: dict[str, tuple[float, RateLimits | None]] = {}
        self._lock = threading.Lock()

    def cached(self, user: str) -> tuple[bool, RateLimits | None]:
        """Whether a fresh entry is held for ``user``, and its limits."""
        entry = self._entries.get(user)
        if entry is not None and self.clock() - entry[0] < self.ttl_s:
            return True, entry[1]
        return False, entry[1] if entry is not None else None

    async def get(self, user: str) -> RateLimits | None:
        """The user's own limits (None: none of their own), from the cache while it is fresh."""
        fresh, limits = self.cached(user)
        if fresh:
            return limits
        return await run_in_threadpool(self.read, user)

    def read(self, user: str) -> RateLimits | None:
        """The user's own limits from the table, kept for the next ``ttl_s``."""
        _, kept = self.cached(user)
        try:
            row = self.table.get(user)
            kept = RateLimits(*row) if row is not None else None
        except Exception as exc:  # noqa: BLE001 (a limit must not fail a question)
            logs.log_event(log, logging.WARNING, "own limits not read: the database failed",
                           error=type(exc).__name__)
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                oldest = sorted(self._entries, key=lambda u: self._entries[u][0])
                for name in oldest[: MAX_ENTRIES // 2]:
                    del self._entries[name]
            self._entries[user] = (self.clock(), kept)
        return kept
