"""``redis_memory_used_bytes`` / ``redis_memory_max_bytes`` and ``redis_connected_clients`` /
``redis_config_maxclients`` read from a real Redis's INFO."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from rag_core.procs import wait_until
from rag_core.redis_kv.memory import MemoryWatch, client_figures, memory_figures, refresh
from rag_core.telemetry import metrics


def test_the_gauges_follow_a_real_redis(redis_factory: Any) -> None:
    server = redis_factory()
    client = redis.Redis.from_url(server.url)
    client.config_set("maxmemory", 64 * 1024 * 1024)
    assert refresh(client)
    used = metrics.REGISTRY.get_sample_value("redis_memory_used_bytes")
    assert used and used == pytest.approx(client.info("memory")["used_memory"], rel=0.2)
    assert metrics.REGISTRY.get_sample_value("redis_memory_max_bytes") == 64 * 1024 * 1024
    assert metrics.REGISTRY.get_sample_value("redis_connected_clients") == 1  # this test's client
    client.config_set("maxclients", 321)
    others = [redis.Redis.from_url(server.url) for _ in range(3)]
    for other in others:
        other.ping()
    assert refresh(client)
    assert metrics.REGISTRY.get_sample_value("redis_connected_clients") == 4
    assert metrics.REGISTRY.get_sample_value("redis_config_maxclients") == 321
    for other in others:
        other.close()

    client.set("big", b"x" * 2_000_000)
    watch = MemoryWatch(client, interval=0.05).start()
    try:
        wait_until(lambda: (metrics.REGISTRY.get_sample_value("redis_memory_used_bytes")
                            or 0) >= used + 2_000_000, 10, "the watch to see the new key")
    finally:
        watch.stop()


def test_a_redis_that_is_gone_leaves_the_gauges_alone(redis_factory: Any) -> None:
    server = redis_factory()
    client = redis.Redis.from_url(server.url, socket_timeout=0.5, socket_connect_timeout=0.5)
    server.stop()
    assert refresh(client) is False


def test_a_cluster_answer_gives_the_fullest_node() -> None:
    info = {"a:1": {"used_memory": 10, "maxmemory": 100},
            "b:2": {"used_memory": 90, "maxmemory": 100},
            "c:3": {"used_memory": 50, "maxmemory": 0}}
    assert memory_figures(info) == (90.0, 100.0)
    assert memory_figures({"used_memory": 7, "maxmemory": 0}) == (7.0, 0.0)
    clients = {"a:1": {"connected_clients": 5, "maxclients": 10},
               "b:2": {"connected_clients": 8, "maxclients": 100}}
    assert client_figures(clients) == (5.0, 10.0)
