"""The one-trip L1 read (``redis_cache.VersionedRead``) from the event loop.

An exact cache hit used to cost the app a hop to a worker thread (a thread woken, then the loop
woken again), on top of its one Redis round trip: on a busy machine each wake-up waits for a
core, and the hit cost three health checks. Here the same script runs on an asyncio client of
the same server, in the loop's own task, and only a hit is taken from it: anything else (a
miss, no version in Redis, a version Redis's copy may not be trusted for, a restart met, an
error) answers None, and the caller asks the long way (``AnswerLayer.lookup``, in a thread),
which counts, repairs and fails open as before. So a miss costs one more round trip, on a
path that embeds, searches and generates.

Every asyncio client's new connection reports the server's ``run_id`` to the sync client's
watch (``redis_kv.restarts``), so a restarted Redis is noticed by whichever client meets it.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rag_core.cache.redis_cache import _GET_VERSIONED, VersionedRead, _bytes, _integer
from rag_core.config import fixed
from rag_core.redis_kv.client import REDIS_ERRORS
from rag_core.redis_kv.restarts import url_of, watch_of

REST_S = 5.0  # after a failed read, the long way only for this long (one timeout, not two)
MAX_LOOPS = 8  # clients kept (one per event loop; tests run many loops)
_FAILED: tuple[type[BaseException], ...] = (*REDIS_ERRORS, OSError, TimeoutError)


class LoopRead:
    def __init__(self, read: VersionedRead, url: str) -> None:
        self.read = read
        self.url = url
        self.watch = watch_of(read.versions.client)
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, Any]] = {}
        self._rest_until = 0.0

    @classmethod
    def of(cls, read: VersionedRead | None) -> LoopRead | None:
        """The loop reader of a ``VersionedRead`` (None without one, or for a client whose URL
        is not known)."""
        url = url_of(read.versions.client) if read is not None else None
        return cls(read, url) if read is not None and url else None

    async def get(self, version_key: str, head: str, tail: str, twin: tuple[str, bytes]
                  ) -> tuple[bytes, bytes] | None:
        """``(version, value)`` when both are there, uncounted (the caller counts a hit it
        serves); None for anything else."""
        if not self.read.usable or time.monotonic() < self._rest_until:
            return None
        try:
            raw_version, raw_value = await self._script()(
                keys=[version_key], args=[head, tail, twin[0], twin[1]])
        except _FAILED:
            self._rest_until = time.monotonic() + REST_S
            return None
        version, value = _bytes(raw_version), _bytes(raw_value)
        if version is None or value is None or not _integer(version):
            return None
        return version, value

    def _script(self) -> Any:
        loop = asyncio.get_running_loop()
        found = self._clients.get(id(loop))
        if found is None or found[0] is not loop:
            import redis.asyncio  # here: the CLI and the harness never need it
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            if len(self._clients) >= MAX_LOOPS:
                self._clients.clear()
            client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=fixed.REDIS_TIMEOUT_S,
                socket_connect_timeout=fixed.REDIS_TIMEOUT_S,
                retry=Retry(NoBackoff(), 0),
                redis_connect_func=(self.watch.on_connect_async if self.watch is not None
                                    else None))
            found = self._clients[id(loop)] = (loop, client.register_script(_GET_VERSIONED))
        return found[1]
