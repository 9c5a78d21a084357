"""``rag-core cache stats`` says how many bytes each Redis layer holds: Redis's own ``MEMORY
USAGE`` of the layer's keys and index, on a single server and on a Redis Cluster (where the
keys live on three masters)."""

from __future__ import annotations

import pytest

from rag_core.cache.layers import layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings
from rag_core.redis_kv.client import shared_client
from rag_core.redis_kv.keys import user_prefix

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]

VALUE = bytes(range(256)) * 40  # 10,240 bytes that no encoding shrinks


def test_each_layer_reports_the_bytes_redis_holds_for_it(redis_url: str,
                                                         settings: Settings) -> None:
    live = settings.with_overrides(redis_url=redis_url)
    layers = layers_for(live, shared_client(redis_url, live), judge=judge_for(live))
    empty = layers.stats()
    assert {name: s.bytes for name, s in empty.items()} == {
        "query": 0, "embedding": 0, "context": 0, "semantic": 0, "stale": 0}

    for i in range(30):
        assert layers.stale.put(user_prefix("stale", f"u{i % 3}") + f"v1:{i}", VALUE, 600)
    layers.query.put(user_prefix("query", "u0") + "v1:small", b"x", 600)
    stats = layers.stats()
    stale = stats["stale"].bytes
    # every value whole, plus what Redis adds: its allocator's rounding up to a size class
    # (10 KB takes 12 KB), each key's own record and the index lines; never a multiple
    assert 30 * len(VALUE) < stale < 30 * len(VALUE) * 1.5
    assert 0 < stats["query"].bytes < 2_000  # one small entry and its index
    assert stats["embedding"].bytes == 0 and stats["stale"].entries == 30
    assert "bytes" in stats["stale"].to_dict()

    layers.stale.clear(user_prefix("stale", "u0"))  # a user's third of the entries
    after = layers.stats()["stale"].bytes
    assert 20 * len(VALUE) < after < stale * 0.75
