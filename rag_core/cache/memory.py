"""In-process caches: an LRU bounded in entries and bytes with per-entry TTL, and a null cache."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from rag_core import observability as obs
from rag_core.cache.base import CacheStats
from rag_core.cache.counters import SharedCounters


class MemoryCache:
    enabled = True

    def __init__(self, layer: str, max_entries: int = 10_000, max_bytes: int = 64 << 20,
                 clock: Callable[[], float] = time.monotonic,
                 counters: SharedCounters | None = None) -> None:
        self.layer = layer
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._data: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._stats = CacheStats(layer)
        self.counters = counters  # counts shared by every process (``cache stats``)

    def _count(self, what: str) -> None:
        setattr(self._stats, what, getattr(self._stats, what) + 1)
        if self.counters is not None:
            self.counters.add(self.layer, what)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[0] <= self._clock():
                self._drop(key)
                item = None
            if item is None:
                self._count("misses")
                obs.CACHE_MISSES.labels(layer=self.layer).inc()
                return None
            self._data.move_to_end(key)
            self._count("hits")
            obs.CACHE_HITS.labels(layer=self.layer).inc()
            return item[1]

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (self._clock() + ttl_s, value)
            self._bytes += len(value)
            self._count("sets")
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                oldest = next(iter(self._data))
                self._drop(oldest)
                self._count("evictions")
            obs.CACHE_SIZE.labels(layer=self.layer).set(len(self._data))

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        with self._lock:
            item = self._data.get(key)
            if item is not None and item[0] > self._clock():
                return False
        self.set(key, value, ttl_s)
        return True

    def delete(self, key: str) -> None:
        with self._lock:
            if key in self._data:
                self._drop(key)

    def clear(self, prefix: str = "") -> int:
        with self._lock:
            doomed = [k for k in self._data if k.startswith(prefix)]
            for key in doomed:
                self._drop(key)
            return len(doomed)

    def stats(self) -> CacheStats:
        with self._lock:
            self._stats.entries = len(self._data)
            self._stats.bytes = self._bytes
            return CacheStats(**self._stats.__dict__)

    def ping(self) -> bool:
        return True

    def _drop(self, key: str) -> None:
        _, value = self._data.pop(key)
        self._bytes -= len(value)


class NullCache:
    """A layer that is switched off: every outcome is "off"."""

    enabled = False

    def __init__(self, layer: str) -> None:
        self.layer = layer

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        return None

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        return False

    def delete(self, key: str) -> None:
        return None

    def clear(self, prefix: str = "") -> int:
        return 0

    def stats(self) -> CacheStats:
        return CacheStats(self.layer)

    def ping(self) -> bool:
        return True
