"""Redis cache layers that fail open: a slow or dead Redis makes a miss, never an error.

The client uses short socket timeouts (``Settings.redis_timeout_s``) so that a dead Redis costs
a request a fraction of a second, and redis-py reconnects by itself when Redis returns.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

from rag_core import observability as obs
from rag_core.cache.base import CacheStats
from rag_core.config import Settings

log = logging.getLogger("rag_core.cache")

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def make_redis_client(url: str, settings: Settings) -> redis.Redis:
    """One shared client (and connection pool) per URL per process; values stay bytes."""
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_timeout=settings.redis_timeout_s,
                socket_connect_timeout=settings.redis_timeout_s,
                health_check_interval=5,
                retry_on_timeout=False,
            )
            _clients[url] = client
        return client


class _WarnOnce:
    """Log a backend failure at most once per ``interval`` seconds per layer."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}

    def __call__(self, layer: str, exc: Exception) -> None:
        obs.CACHE_ERRORS.labels(layer=layer).inc()
        now = time.monotonic()
        if now - self._last.get(layer, -1e9) >= self.interval:
            self._last[layer] = now
            obs.log_event(log, logging.WARNING, "cache backend unavailable; serving uncached",
                          layer=layer, error=type(exc).__name__)


warn = _WarnOnce()


class RedisCache:
    enabled = True

    def __init__(self, layer: str, client: redis.Redis) -> None:
        self.layer = layer
        self.client = client
        self._stats = CacheStats(layer)

    def get(self, key: str) -> bytes | None:
        try:
            value = self.client.get(key)
        except redis.RedisError as exc:
            self._stats.errors += 1
            warn(self.layer, exc)
            value = None
        if value is None:
            self._stats.misses += 1
            obs.CACHE_MISSES.labels(layer=self.layer).inc()
            return None
        self._stats.hits += 1
        obs.CACHE_HITS.labels(layer=self.layer).inc()
        return value.encode() if isinstance(value, str) else bytes(value)

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            self.client.set(key, value, ex=max(1, int(ttl_s)))
            self._stats.sets += 1
        except redis.RedisError as exc:
            self._stats.errors += 1
            warn(self.layer, exc)

    def delete(self, key: str) -> None:
        try:
            self.client.delete(key)
        except redis.RedisError as exc:
            warn(self.layer, exc)

    def clear(self, prefix: str = "") -> int:
        pattern = (prefix or f"rag:{self.layer}:") + "*"
        removed = 0
        try:
            batch: list[bytes] = []
            for key in self.client.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    removed += int(self.client.unlink(*batch))
                    batch = []
            if batch:
                removed += int(self.client.unlink(*batch))
        except redis.RedisError as exc:
            warn(self.layer, exc)
        return removed

    def stats(self) -> CacheStats:
        out = CacheStats(**self._stats.__dict__)
        try:
            out.entries = sum(1 for _ in self.client.scan_iter(match=f"rag:{self.layer}:*",
                                                               count=1000))
            obs.CACHE_SIZE.labels(layer=self.layer).set(out.entries)
        except redis.RedisError as exc:
            warn(self.layer, exc)
        return out

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
