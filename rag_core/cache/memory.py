"""In-process caches: an LRU bounded in entries and bytes with per-entry TTL, and a null cache.

The bound is shared fairly, as the Redis layers share theirs (``redis_kv.writes``): while
other users hold entries, one user holds at most ``user_share`` of the entry bound, and a
layer over its bound loses the oldest entry of its biggest holder (the writer when it holds as
many as any), so that one user's flood evicts that user's own entries first."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from rag_core.cache.base import CacheStats
from rag_core.cache.counters import SharedCounters
from rag_core.redis_kv.keys import key_owner, user_prefix
from rag_core.redis_kv.writes import user_share
from rag_core.telemetry import metrics


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
        self._users: dict[str, OrderedDict[str, None]] = {}  # each user's keys, oldest first
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
                metrics.CACHE_MISSES.labels(layer=self.layer).inc()
                return None
            self._data.move_to_end(key)
            self._users[key_owner(key)].move_to_end(key)
            self._count("hits")
            metrics.CACHE_HITS.labels(layer=self.layer).inc()
            return item[1]

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if len(value) > self.max_bytes:
            return
        with self._lock:
            if key in self._data:
                self._drop(key)
            self._data[key] = (self._clock() + ttl_s, value)
            who = key_owner(key)
            self._users.setdefault(who, OrderedDict())[key] = None
            self._bytes += len(value)
            self._count("sets")
            mine, share = self._users[who], user_share(self.max_entries)
            while len(mine) > share and len(self._data) > len(mine):
                self._evict(next(iter(mine)))
            while len(self._data) > self.max_entries or self._bytes > self.max_bytes:
                biggest = max(self._users, key=lambda u: len(self._users[u]))
                victim = who if len(mine) >= len(self._users[biggest]) else biggest
                self._evict(next(iter(self._users[victim])))
            metrics.CACHE_SIZE.labels(layer=self.layer).set(len(self._data))

    def _evict(self, key: str) -> None:
        self._drop(key)
        self._count("evictions")

    def user_entries(self, user_id: str) -> int:
        """The entries ``user_id`` holds in this layer."""
        with self._lock:
            return len(self._users.get(key_owner(user_prefix(self.layer, user_id)), ()))

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
        who = key_owner(key)
        mine = self._users[who]
        del mine[key]
        if not mine:
            del self._users[who]


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

    def user_entries(self, user_id: str) -> int:
        return 0

    def stats(self) -> CacheStats:
        return CacheStats(self.layer)

    def ping(self) -> bool:
        return True
