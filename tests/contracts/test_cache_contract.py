"""The Cache contract, run by every layer implementation: in-process LRU, Redis (real server)
and the null cache of a switched-off layer. Failure behaviour of Redis is tested in
tests/integration/test_cache_redis.py."""

from __future__ import annotations

import pytest

from rag_core.cache.base import Cache
from rag_core.cache.memory import MemoryCache, NullCache
from rag_core.config import Settings
from rag_core.redis_kv.keys import user_prefix


class CacheContract:
    """Subclasses provide a fixture ``cache`` (layer "query", empty)."""

    def test_get_set_delete(self, cache: Cache) -> None:
        key = user_prefix("query", "ann") + "v1:k"
        assert cache.get(key) is None
        cache.set(key, b"\x00answer\xff", 60)
        assert cache.get(key) == (b"\x00answer\xff" if cache.enabled else None)
        cache.delete(key)
        assert cache.get(key) is None

    def test_clear_by_prefix_removes_one_users_entries(self, cache: Cache) -> None:
        mine = [user_prefix("query", "ann") + f"v1:{i}" for i in range(3)]
        theirs = user_prefix("query", "bob") + "v1:0"
        for key in [*mine, theirs]:
            cache.set(key, b"x", 60)
        removed = cache.clear(user_prefix("query", "ann"))
        assert removed == (3 if cache.enabled else 0)
        assert all(cache.get(k) is None for k in mine)
        assert cache.get(theirs) == (b"x" if cache.enabled else None)

    def test_stats_count_what_happened(self, cache: Cache) -> None:
        key = user_prefix("query", "ann") + "v1:s"
        cache.get(key)
        cache.set(key, b"x", 60)
        cache.get(key)
        stats = cache.stats()
        assert stats.layer == cache.layer == "query"
        if cache.enabled:
            assert (stats.hits, stats.misses, stats.sets) == (1, 1, 1)
        else:
            assert (stats.hits, stats.sets) == (0, 0)

    def test_ping(self, cache: Cache) -> None:
        assert cache.ping() is True


class TestMemoryCache(CacheContract):
    @pytest.fixture
    def cache(self) -> Cache:
        return MemoryCache("query", 100)


@pytest.mark.both_redis
class TestRedisCache(CacheContract):
    @pytest.fixture
    def cache(self, redis_url: str, settings: Settings) -> Cache:
        from rag_core.cache.redis_cache import RedisCache
        from rag_core.redis_kv.client import shared_client

        return RedisCache("query", shared_client(redis_url, settings))


class TestNullCache(CacheContract):
    @pytest.fixture
    def cache(self) -> Cache:
        return NullCache("query")
