"""Each cache layer's bound is shared fairly: while other users hold entries, one user holds at
most ``user_share`` of it, and a layer over its bound loses its biggest holder's oldest entry,
so that one user's flood of questions evicts that user's own answers and leaves everyone
else's. Through ``CacheLayers``'s own writes, in Redis (a single server and a three-master
Redis Cluster: ``both_redis``) and in process."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.answer import Answer
from rag_core.cache.layers import CacheLayers, layers_for
from rag_core.cache.memory import MemoryCache
from rag_core.cache.semantic import judge_for
from rag_core.cache.shares import user_shares
from rag_core.config import Retrieval, Settings
from rag_core.parts import build_redis
from rag_core.redis_kv.keys import user_prefix
from rag_core.redis_kv.writes import user_share
from rag_core.types import TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]
BOUND = 10


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def answer(text: str) -> Answer:
    return Answer(answer=text, citations=[], no_context=False, generator="extractive",
                  cache={}, usage=TokenUsage(), cost_usd=0.0, timings_ms={}, request_id="r")


def ask(layers: CacheLayers, user: str, n: int) -> str:
    """What a generated answer writes: its L1 key, its stale body and its semantic entry."""
    question = f"What did the sermon say about grace, question {n} of {user}?"
    params = Retrieval()  # the default search: the key any params would make here
    version = layers.notes.current(user, lambda _: 1)
    key = layers.answers.key(params, user, version, question, 5)
    layers.answers.put(key, answer(question), user_id=user, notes_version=version,
                      question=question, vector=unit(n))
    layers.vectors.vector(user, question, 384, lambda _: unit(n))
    return key


def flood(layers: CacheLayers) -> tuple[list[str], list[str]]:
    kept = [ask(layers, "bea", n) for n in range(3)]
    flooded = [ask(layers, "abe", 100 + n) for n in range(40)]
    return kept, flooded


def check_shares(layers: CacheLayers, kept: list[str], flooded: list[str]) -> None:
    for key in kept:  # every answer of the other user is still served
        assert layers.answers.get(key)[1] == "hit"
    most = BOUND - len(kept)  # the flood fills what the other user leaves, no more
    assert [layers.answers.get(k)[1] for k in flooded[-most:]] == ["hit"] * most
    assert layers.answers.get(flooded[0])[1] == "miss"  # the flood's oldest went first
    shares = user_shares(layers, "abe")
    for name in ("query", "stale", "semantic", "embedding"):
        assert shares[name]["entries"] == most, (name, shares[name])
        assert user_shares(layers, "bea")[name]["entries"] == len(kept), name
        assert shares[name]["layer_bound"] == BOUND
        assert shares[name]["most_while_shared"] == user_share(BOUND) == 8


def test_one_users_flood_leaves_the_others_answers_in_redis(redis_url: str,
                                                             settings: Settings) -> None:
    settings = settings.with_overrides(cache_max_entries=BOUND, redis_url=redis_url)
    layers = layers_for(settings, build_redis(settings), judge=judge_for(settings))
    kept, flooded = flood(layers)
    check_shares(layers, kept, flooded)
    assert layers.query.stats().entries == BOUND and layers.semantic.size() == BOUND


def test_one_users_flood_leaves_the_others_answers_in_process(settings: Settings) -> None:
    bounded = settings.with_overrides(cache_max_entries=BOUND)
    layers = layers_for(bounded, None, judge=judge_for(bounded))
    kept, flooded = flood(layers)
    for key in kept:
        assert layers.answers.get(key)[1] == "hit"
    assert layers.answers.get(flooded[0])[1] == "miss"
    assert user_shares(layers, "abe")["query"]["entries"] == BOUND - len(kept)


def test_a_user_alone_may_fill_the_layer_and_a_newcomer_still_gets_in(
        redis_url: str, settings: Settings) -> None:
    settings = settings.with_overrides(cache_max_entries=BOUND, redis_url=redis_url)
    layers = layers_for(settings, build_redis(settings), judge=judge_for(settings))
    first = [ask(layers, "abe", n) for n in range(BOUND + 5)]
    assert user_shares(layers, "abe")["query"]["entries"] == BOUND  # nobody else: all of it
    newcomer = [ask(layers, "bea", 50 + n) for n in range(4)]
    assert [layers.answers.get(k)[1] for k in newcomer] == ["hit"] * 4
    assert user_shares(layers, "abe")["query"]["entries"] == BOUND - 4
    assert layers.answers.get(first[-1])[1] == "hit"


def test_the_in_process_lru_shares_its_bound_the_same_way() -> None:
    cache = MemoryCache("query", max_entries=BOUND)
    theirs = [user_prefix("query", "bea") + f"v1:{n}" for n in range(2)]
    for key in theirs:
        cache.set(key, b"x", 60)
    for n in range(30):
        cache.set(user_prefix("query", "abe") + f"v1:{n}", b"y", 60)
    assert all(cache.get(k) == b"x" for k in theirs)
    assert cache.user_entries("abe") == user_share(BOUND)  # 8 of 10 while another holds 2
    assert cache.stats().entries == BOUND
