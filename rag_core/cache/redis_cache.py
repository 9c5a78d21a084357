"""The Redis cache layer, failing open: a slow or dead Redis makes a miss, never an error
(counted and logged by ``cache.fail_open``). The layer whose values name their master is
``cache.owned_cache``; the client is built by ``redis_kv.client``.

The client uses short socket timeouts (``Settings.redis_timeout_s``) so that a dead Redis costs
a request a fraction of a second, and redis-py reconnects by itself when Redis returns.

Each layer keeps an index of its keys (a sorted set scored by expiry time), so that its size is
one ZCARD away: ``cache_size{layer}`` is refreshed as entries are written (at most every
``SIZE_EVERY_S`` seconds per process), never by scanning the keyspace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rag_core.cache.base import CacheStats
from rag_core.cache.counters import SharedCounters
from rag_core.cache.fail_open import warn
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.redis_kv.codec import reply_bytes
from rag_core.redis_kv.keys import layer_index, layer_prefix, user_index
from rag_core.redis_kv.memory import held_bytes
from rag_core.redis_kv.redis_py import ResponseError
from rag_core.redis_kv.writes import Condition, Outcome, Put, Writer
from rag_core.telemetry import metrics

if TYPE_CHECKING:
    from redis.commands.core import Script

SIZE_EVERY_S = 10.0
# A key's value, or its twin's when it holds ARGV[1] (``RedisCache.get_through``).
_GET_THROUGH = """
local value = redis.call('GET', KEYS[1])
if value and value == ARGV[1] then return redis.call('GET', KEYS[2]) end
return value
"""


class RedisCache:
    enabled = True

    def __init__(self, layer: str, client: RedisClient,
                 clock: Callable[[], float] = time.time, *, max_entries: int = 0,
                 counters: SharedCounters | None = None) -> None:
        self.layer = layer
        self.client = client
        self.index = layer_index(layer)
        self.max_entries = max_entries  # 0: bounded by time only
        self.writer = Writer(client)
        self._clock = clock
        self._stats = CacheStats(layer)
        self.counters = counters  # counts shared by every process (``cache stats``)
        self._sized_at = -SIZE_EVERY_S
        self._through: Script | None = client.register_script(_GET_THROUGH)

    def _count(self, what: str) -> None:
        setattr(self._stats, what, getattr(self._stats, what) + 1)
        if self.counters is not None:
            self.counters.add(self.layer, what)

    def get(self, key: str) -> bytes | None:
        return self._counted(self._fetch(key))

    def _fetch(self, key: str) -> bytes | None:
        try:
            value = self.client.get(key)
        except REDIS_ERRORS as exc:
            self._count("errors")
            warn(self.layer, exc)
            return None
        return reply_bytes(value)

    def _counted(self, value: bytes | None) -> bytes | None:
        if value is None:
            self._count("misses")
            metrics.CACHE_MISSES.labels(layer=self.layer).inc()
            return None
        self._count("hits")
        metrics.CACHE_HITS.labels(layer=self.layer).inc()
        return value

    def get_through(self, key: str, twin: str, marker: bytes) -> bytes | None:
        """``get(key)``, or the value of ``twin`` when ``key`` holds ``marker``: one script
        (the two keys share a hash tag), or two GETs where scripts may not run."""
        try:
            if self._through is not None:
                try:
                    reply = self._through(keys=[key, twin], args=[marker])
                    return self._counted(reply_bytes(reply))
                except ResponseError:
                    self._through = None  # scripts forbidden here: the long way from now on
            value = self._fetch(key)
            if value == marker:
                value = reply_bytes(self.client.get(twin))
        except REDIS_ERRORS as exc:
            self._count("errors")
            warn(self.layer, exc)
            value = None
        return self._counted(value)

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        self.put(key, value, ttl_s)

    def put(self, key: str, value: bytes, ttl_s: int) -> bool:
        """``set`` through the one write path (:mod:`rag_core.redis_kv.writes`, the layer's
        bound applied); False when Redis did not take it."""
        return self.write([self.entry(key, value, ttl_s)]) == "written"

    def entry(self, key: str, value: bytes, ttl_s: int, *, field: str = "",
              line: bytes = b"") -> Put:
        """One write of this layer, for :meth:`write` (alone or with other layers' writes)."""
        return Put(key, value, ttl_s, self.index, self.max_entries, field, line)

    def write(self, puts: list[Put], condition: Condition | None = None
              ) -> Outcome | None:
        """Writes of this and other layers on this client in one script (all or none:
        ``not_current`` when ``condition`` fails). None when Redis failed (counted, warned)."""
        try:
            done = self.writer.write(puts, self._clock(), condition)
        except REDIS_ERRORS as exc:
            self._count("errors")
            warn(self.layer, exc)
            return None
        if done == "written":
            self._count("sets")
        if self._clock() - self._sized_at >= SIZE_EVERY_S:
            self.size()
        return done

    def add(self, key: str, value: bytes, ttl_s: int) -> bool:
        ttl = max(1, int(ttl_s))
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(key, value, ex=ttl, nx=True)
            pipe.zadd(self.index, {key: self._clock() + ttl})
            return bool(pipe.execute()[0])
        except REDIS_ERRORS as exc:
            self._count("errors")
            warn(self.layer, exc)
            return False

    def delete(self, key: str) -> None:
        try:
            self.client.delete(key)
            self.writer.unindex(self.index, [key])
        except REDIS_ERRORS as exc:
            warn(self.layer, exc)

    def user_entries(self, user_id: str) -> int:
        """The entries ``user_id`` holds in this layer (0 when Redis does not answer)."""
        try:
            return int(self.client.zcard(user_index(self.layer, user_id)))
        except REDIS_ERRORS as exc:
            warn(self.layer, exc)
            return 0

    def size(self) -> int:
        """Live entries of the layer (the index trimmed of expired keys); sets the gauge."""
        self._sized_at = self._clock()
        try:  # the write script drops passed lines with their entries; here only counted
            entries = int(self.client.zcount(self.index, f"({self._clock()}", "+inf"))
        except REDIS_ERRORS as exc:
            warn(self.layer, exc)
            return 0
        metrics.CACHE_SIZE.labels(layer=self.layer).set(entries)
        return entries

    def clear(self, prefix: str = "") -> int:
        try:
            return self.purge(prefix)
        except REDIS_ERRORS as exc:
            warn(self.layer, exc)
            return 0

    def purge(self, prefix: str = "") -> int:
        """``clear`` that raises when Redis fails (a purge that must be retried)."""
        pattern = (prefix or layer_prefix(self.layer)) + "*"
        removed = 0
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += self._unlink(batch)
                batch = []
        if batch:
            removed += self._unlink(batch)
        self.size()
        return removed

    def _unlink(self, keys: list[bytes]) -> int:
        # one key per call: in a Redis Cluster the keys of a batch live in different slots
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.unlink(key)
        removed = sum(int(n) for n in pipe.execute())
        self.writer.unindex(self.index, keys)
        return removed

    def stats(self) -> CacheStats:
        out = CacheStats(**self._stats.__dict__)
        out.entries = self.size()
        out.bytes = self.held_bytes()
        return out

    def held_bytes(self) -> int:
        """The bytes Redis holds for this layer, its index keys included (``MEMORY USAGE``
        of each, an operator's read, never on a request's path); 0 when Redis fails."""
        try:
            return held_bytes(self.client, (layer_prefix(self.layer), self.index))
        except REDIS_ERRORS as exc:
            warn(self.layer, exc)
            return 0

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except REDIS_ERRORS:
            return False
