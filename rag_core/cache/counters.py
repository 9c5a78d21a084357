"""Cache counts shared by every process of a deployment: one Redis hash.

Each process used to keep its hits and misses to itself, so ``rag-core cache stats`` (a process
that serves nothing) showed 0 hits while the server was answering from the cache. Now every
layer adds its counts here: they gather in memory and go to one hash
(:func:`rag_core.redis_kv.keys.cache_counters_key`, one field per ``<layer>.<count>``, e.g.
``query.hits``) with ``HINCRBY`` in one pipeline, at most ``flush_s`` seconds after the first
unsent count (a timer thread), when the parts close, and before a read. A request therefore
pays no Redis round trip for its counts. A Redis that fails keeps the counts for the next
flush: counting never fails a request.
"""

from __future__ import annotations

import threading
from collections import Counter

from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient

COUNTS = ("hits", "misses", "sets", "evictions", "errors")


class SharedCounters:
    def __init__(self, client: RedisClient, key: str, *, flush_s: float = 1.0) -> None:
        self.client = client
        self.key = key
        self.flush_s = flush_s
        self._pending: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def add(self, layer: str, count: str, n: int = 1) -> None:
        with self._lock:
            self._pending[f"{layer}.{count}"] += n
            if self._timer is None and not self._closed:
                self._timer = threading.Timer(self.flush_s, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> bool:
        """Send the counts gathered so far; False (and kept for later) when Redis fails."""
        with self._lock:
            sending, self._pending = self._pending, Counter()
            if self._timer is not None and self._timer is not threading.current_thread():
                self._timer.cancel()
            self._timer = None
        if not sending:
            return True
        try:
            pipe = self.client.pipeline(transaction=False)
            for name, n in sending.items():
                pipe.hincrby(self.key, name, n)
            pipe.execute()
        except REDIS_ERRORS:
            with self._lock:
                self._pending.update(sending)
            return False
        return True

    def read(self) -> dict[str, dict[str, int]]:
        """``{layer: {count: n}}`` over every process (this one's unsent counts included);
        empty when Redis cannot be read."""
        sent = self.flush()
        try:
            raw = self.client.hgetall(self.key)
        except REDIS_ERRORS:
            raw = {}
        out: dict[str, dict[str, int]] = {}
        for name, value in raw.items():
            text = name.decode() if isinstance(name, bytes) else str(name)
            layer, _, count = text.rpartition(".")
            out.setdefault(layer, {})[count] = int(value)
        if not sent:
            with self._lock:
                for name, n in self._pending.items():
                    layer, _, count = name.rpartition(".")
                    counts = out.setdefault(layer, {})
                    counts[count] = counts.get(count, 0) + n
        return out

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.flush()
