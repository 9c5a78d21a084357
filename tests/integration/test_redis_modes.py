"""What a Redis Cluster changes, on both modes (``both_redis``): the client that Settings
select, per-user clear and cache sizes over every master, values written through a master that
no longer serves their slot (the notes version, the ledger's seeding)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from rag_core.cache.layers import layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.ledger import ledger_for, today
from rag_core.costs.queue import CostQueue
from rag_core.errors import BudgetExceeded
from rag_core.parts import build_redis, build_store
from rag_core.redis_kv.client import slot_owner
from rag_core.redis_kv.keys import cost_keys, notes_version_key, user_prefix
from rag_core.types import TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]


def test_the_mode_setting_selects_the_client(redis_url: str, settings: Settings,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RAG_REDIS_MODE", settings.services.redis_mode)
    client = build_redis(Settings())
    assert isinstance(client, RedisCluster) == (settings.services.redis_mode == "cluster")
    assert client is not None and client.ping()


def test_cluster_mode_on_a_single_server_is_a_coded_error(redis_server) -> None:
    from rag_core.redis_kv.client import RedisClusterUnreachable, connect

    with pytest.raises(RedisClusterUnreachable) as info:
        connect(redis_server.url, "cluster")
    assert info.value.code == "REDIS_CLUSTER_UNREACHABLE" and "standalone" in info.value.message


def test_clear_and_sizes_cover_every_master(redis_url: str, redis_client, redis_mode: str,
                                            settings: Settings) -> None:
    layers = layers_for(settings, build_redis(
        settings.with_overrides(redis_url=redis_url)), judge=judge_for(settings))
    users = [f"user{i}" for i in range(12)]
    for user in users:
        for n in range(5):
            layers.query.set(f"{user_prefix('query', user)}v1:{n}", b"x", 60)
    owners = {slot_owner(redis_client, f"{user_prefix('query', u)}v1:{n}")
              for u in users for n in range(5)}
    assert len(owners) == (3 if redis_mode == "cluster" else 1)  # spread over the shards
    assert layers.query.size() == 60
    assert layers.clear("user3") == 5  # one user's entries, wherever they live
    assert layers.query.get(f"{user_prefix('query', 'user3')}v1:0") is None
    assert layers.query.get(f"{user_prefix('query', 'user4')}v1:0") == b"x"
    assert layers.query.size() == 55
    assert layers.clear(None) == 55
    assert layers.query.size() == 0 and list(redis_client.scan_iter(match="rag:query:*")) == []


def test_a_notes_version_written_through_another_master_is_read_again(
        redis_url: str, redis_client, settings: Settings) -> None:
    layers = layers_for(settings, build_redis(
        settings.with_overrides(redis_url=redis_url)), judge=judge_for(settings))
    truth = {"amara": 7}
    reads: list[str] = []

    def read(user: str) -> int:
        reads.append(user)
        return truth[user]

    assert layers.notes.current("amara", read) == 7 and len(reads) == 1
    assert layers.notes.current("amara", read) == 7 and len(reads) == 1  # from Redis
    # what a promoted replica may hold: an older version, written through the old master
    key = notes_version_key("amara")
    redis_client.set(key, b"6@127.0.0.1:1")
    assert layers.notes.current("amara", read) == 7 and len(reads) == 2
    assert layers.notes.current("amara", read) == 7 and len(reads) == 2


def test_a_ledger_seeded_through_another_master_is_seeded_again(
        live_settings: Settings, redis_client, tmp_path: Path) -> None:
    settings = live_settings.with_overrides(user_daily_budget_usd=1.0)
    store = build_store(settings)
    try:
        ledger = ledger_for(build_redis(settings), settings, costs=store.costs,
                            queue=CostQueue(tmp_path / "queue"))
        ledger.commit(ledger.reserve("amara", 0.5), 0.5, TokenUsage(10, 10))
        user_key, global_key = cost_keys(today(), "amara")
        # a replica promoted before the last commits reached it: less spend, another seeder
        for key in (user_key, global_key):
            redis_client.hset(key, mapping={"spent": "0.1", "seeded": "127.0.0.1:1"})
        with pytest.raises(BudgetExceeded):  # 0.5 recorded + 0.6 > 1.0
            ledger.reserve("amara", 0.6)
        # seeded again from PostgreSQL
        assert reporting.spend(ledger, "amara") == pytest.approx(0.5)
        ledger.commit(ledger.reserve("amara", 0.4), 0.4, TokenUsage(10, 10))
        assert reporting.spend(ledger, "amara") == pytest.approx(0.9)
        assert store.costs.day_totals(today(), "amara")[0] == pytest.approx(0.9)
    finally:
        store.close()
