"""A Redis cache layer whose values name the master that took them, so that a value a failover
may have left stale reads as a miss (the notes version's layer, ``CacheLayers.versions``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from rag_core.cache.counters import SharedCounters
from rag_core.cache.fail_open import warn
from rag_core.cache.redis_cache import RedisCache
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient, slot_owner

# Deletes a key only while it still holds the value that was read (a newer write stays).
_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class OwnedRedisCache(RedisCache):
    """A layer whose values name the master that took them (``value@host:port`` in a cluster;
    the bare value on a single server, where :func:`slot_owner` is ``""``).

    A replica promoted by a failover may lack the master's last writes: a value it holds could
    be older than the truth without looking missing. A value written through another master
    than the one serving its slot now is therefore a miss (and deleted, unless rewritten in the
    meantime), so the caller reads it again from the source of truth. The notes version uses it
    (``CacheLayers.versions``).
    """

    def __init__(self, layer: str, client: RedisClient,
                 clock: Callable[[], float] = time.time,
                 counters: SharedCounters | None = None) -> None:
        super().__init__(layer, client, clock, counters=counters)
        self._delete_if = client.register_script(_DELETE_IF)

    def get(self, key: str) -> bytes | None:
        raw = self._fetch(key)
        if raw is None:
            return self._counted(None)
        value, sep, owner = raw.rpartition(b"@")
        if not sep:
            value, owner = raw, b""
        if owner.decode() == slot_owner(self.client, key):
            return self._counted(value)
        try:
            self._delete_if(keys=[key], args=[raw])
        except REDIS_ERRORS as exc:
            warn(self.layer, exc)
        return self._counted(None)

    def _owned(self, key: str, value: bytes) -> bytes:
        owner = slot_owner(self.client, key)
        return value + b"@" + owner.encode() if owner else value

    def put(self, key: str, value: bytes, ttl_s: int) -> bool:
        return super().put(key, self._owned(key, value), ttl_s)

    def stored(self, key: str, value: bytes) -> bytes:
        """``value`` as this layer stores it under ``key`` (what a write condition expects)."""
        return self._owned(key, value)

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        return super().add(key, self._owned(key, value), ttl_s)
