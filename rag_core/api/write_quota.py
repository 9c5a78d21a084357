"""A per-user write quota for the notes API: every note written costs embedding time inside
the request (a 500 KB note took 32.6 s), so one user may write at most ``RAG_WRITE_QUOTA_BYTES``
of notes per ``fixed.WRITE_QUOTA_WINDOW_S`` (60 s); beyond it, 429 ``WRITE_QUOTA_EXCEEDED`` with
``Retry-After`` (the end of the window). A note counts its size in bytes (body and fields), at
least ``MIN_NOTE_COST`` (4 KiB): the default 2 MiB a minute lets an interactive user write 512
short notes a minute. 0 turns the quota off.

The counter is one Redis key per user and window (``INCRBY`` then ``EXPIRE``, shared by every
worker), or in process without Redis. If Redis fails the write goes on (the quota protects the
service, it is not worth refusing a user's notes for). ``clock`` (seconds) is settable for
tests.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from rag_core import observability as obs
from rag_core.config import Auth, fixed
from rag_core.errors import WriteQuotaExceeded
from rag_core.types import Note

log = logging.getLogger("rag_core.app")
MIN_NOTE_COST = 4096


def note_cost(note: Note) -> int:
    size = len(note.body.encode()) + sum(len(str(v).encode()) for v in note.metadata().values())
    return max(MIN_NOTE_COST, size + len(note.id.encode()))


class WriteQuota:
    def __init__(self, settings: Auth, redis: Any | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.limit = settings.write_quota_bytes
        self.window_s = fixed.WRITE_QUOTA_WINDOW_S
        self.redis = redis
        self.clock = clock
        self._local: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def charge(self, user_id: str, notes: Sequence[Note]) -> None:
        """Count ``notes`` against ``user_id``'s window, or ``WriteQuotaExceeded`` (nothing
        counted) when they do not fit."""
        if self.limit <= 0 or not notes:
            return
        cost = sum(note_cost(n) for n in notes)
        now = self.clock()
        window = int(now // self.window_s)
        retry = max(1.0, math.ceil((window + 1) * self.window_s - now))
        if cost > self.limit:
            raise WriteQuotaExceeded(
                f"These notes are {cost:,} bytes; one user may write at most {self.limit:,} "
                f"bytes of notes per {self.window_s} s (RAG_WRITE_QUOTA_BYTES). Send them in "
                "smaller batches, or ingest them with `rag-core ingest`.", retry_after=retry)
        used = self._add(user_id, window, cost)
        if used is not None and used > self.limit:
            self._add(user_id, window, -cost)
            raise WriteQuotaExceeded(
                f"The write quota of {self.limit:,} bytes of notes per {self.window_s} s is used "
                f"up; retry after {retry:.0f} s.", retry_after=retry)

    def _add(self, user_id: str, window: int, amount: int) -> int | None:
        if self.redis is None:
            with self._lock:
                self._local = {k: v for k, v in self._local.items() if k[1] >= window}
                used = self._local.get((user_id, window), 0) + amount
                self._local[(user_id, window)] = used
                return used
        key = f"rag:write_quota:{{{user_id}}}:{window}"
        try:
            pipe = self.redis.pipeline()
            pipe.incrby(key, amount)
            pipe.expire(key, self.window_s * 2)
            used, _ = pipe.execute()
            return int(used)
        except Exception as exc:  # noqa: BLE001 (a quota that cannot count lets the write on)
            obs.log_event(log, logging.WARNING, "write quota not counted: Redis failed",
                          error=type(exc).__name__)
            return None
