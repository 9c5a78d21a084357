"""A per-user write quota for the notes API: every note written costs embedding time inside
the request (a 500 KB note took 32.6 s), so one user may write at most ``RAG_WRITE_QUOTA_BYTES``
of notes and have at most ``RAG_WRITE_QUOTA_CHUNKS`` chunks embedded per window
(``fixed.WRITE_QUOTA_WINDOW_S``, 60 s); beyond either, 429 ``WRITE_QUOTA_EXCEEDED`` with
``Retry-After`` (the end of the window). A note counts its size in bytes (body and fields), at least
``MIN_NOTE_COST`` (4 KiB): the default 2 MiB a minute lets an interactive user write 512 short
notes a minute. Chunks are the work itself: counted once the notes are chunked, before any is
embedded, for the notes that changed only (``charge_chunks``). 0 turns either off.

The counter is one Redis key per user and window (``INCRBY`` then ``EXPIRE``, shared by every
worker), or in process without Redis. If Redis fails the write goes on (the quota protects the
service, it is not worth refusing a user's notes for). ``clock`` (seconds): the windows' clock
(``parts.build_limiters`` passes a test's own).

Built once per process with the other parts (``rag_core.parts``); the notes API charges a write
through ``api.write_quota.charged_ingest``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence

from rag_core.config import Auth, fixed
from rag_core.errors import WriteQuotaExceeded
from rag_core.redis_kv.client import RedisClient
from rag_core.telemetry import logs
from rag_core.types import Note

log = logging.getLogger("rag_core.app")
MIN_NOTE_COST = 4096


def note_cost(note: Note) -> int:
    size = len(note.body.encode()) + sum(len(str(v).encode()) for v in note.metadata().values())
    return max(MIN_NOTE_COST, size + len(note.id.encode()))


class WriteQuota:
    def __init__(self, settings: Auth, redis: RedisClient | None,
                 clock: Callable[[], float] = time.time) -> None:
        self.limit = settings.write_quota_bytes
        self.chunk_limit = settings.write_quota_chunks
        self.window_s = fixed.WRITE_QUOTA_WINDOW_S
        self.redis = redis
        self.clock = clock
        self._local: dict[tuple[str, int], int] = {}  # (user and kind, window): used
        self._lock = threading.Lock()

    def _window(self) -> tuple[int, float]:
        """The current window and the seconds until the next one (at least 1)."""
        now = self.clock()
        window = int(now // self.window_s)
        return window, max(1.0, math.ceil((window + 1) * self.window_s - now))

    def charge(self, user_id: str, notes: Sequence[Note]) -> int:
        """Count ``notes`` against ``user_id``'s window, or ``WriteQuotaExceeded`` (nothing
        counted) when they do not fit. Returns the bytes counted (for ``refund``)."""
        if self.limit <= 0 or not notes:
            return 0
        cost = sum(note_cost(n) for n in notes)
        window, retry = self._window()
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
        return cost

    def refund(self, user_id: str, cost: int) -> None:
        """Give back bytes that ``charge`` counted for a write that did not happen."""
        if cost > 0:
            self._add(user_id, self._window()[0], -cost)

    def charge_chunks(self, user_id: str, chunks: int, *, single: bool = False) -> None:
        """Count ``chunks`` about to be embedded for ``user_id``, or ``WriteQuotaExceeded``
        (nothing counted) when they do not fit in the window. ``single``: the write is one
        note, which may be over the limit alone (a note of the largest body the API takes
        makes about 1,200 chunks) when it is the user's first write of the window; the
        window is then used up."""
        if self.chunk_limit <= 0 or chunks <= 0:
            return
        window, retry = self._window()
        if chunks > self.chunk_limit and single:
            used = self._add(user_id, window, chunks, "chunks")
            if used is None or used == chunks:
                return
            self._add(user_id, window, -chunks, "chunks")
        if chunks > self.chunk_limit:
            raise WriteQuotaExceeded(
                f"These notes make {chunks:,} chunks to embed; one user may have at most "
                f"{self.chunk_limit:,} embedded per {self.window_s} s "
                "(RAG_WRITE_QUOTA_CHUNKS). Send shorter notes, or ingest them with "
                "`rag-core ingest`.", retry_after=retry)
        used = self._add(user_id, window, chunks, "chunks")
        if used is not None and used > self.chunk_limit:
            self._add(user_id, window, -chunks, "chunks")
            raise WriteQuotaExceeded(
                f"The write quota of {self.chunk_limit:,} chunks embedded per {self.window_s} s "
                f"is used up; retry after {retry:.0f} s.", retry_after=retry)

    def _add(self, user_id: str, window: int, amount: int, kind: str = "") -> int | None:
        if self.redis is None:
            with self._lock:
                self._local = {k: v for k, v in self._local.items() if k[1] >= window}
                used = self._local.get((user_id + kind, window), 0) + amount
                self._local[(user_id + kind, window)] = used
                return used
        key = f"rag:write_quota:{{{user_id}}}:{window}" + (f":{kind}" if kind else "")
        try:
            pipe = self.redis.pipeline()
            pipe.incrby(key, amount)
            pipe.expire(key, self.window_s * 2)
            used, _ = pipe.execute()
            return int(used)
        except Exception as exc:  # noqa: BLE001 (a quota that cannot count lets the write on)
            logs.log_event(log, logging.WARNING, "write quota not counted: Redis failed",
                           error=type(exc).__name__)
            return None


__all__ = ["MIN_NOTE_COST", "WriteQuota", "note_cost"]
