"""The variants of the service that ``rag_core.parts`` makes for the harness, the benchmarks and
the load tests: another generator, other settings, fresh caches on a simulated clock, a reset
breaker (in process and in Redis)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from rag_core.config import Settings
from rag_core.llm.breaker_state import OPEN, SharedBreakerStorage
from rag_core.parts import build_generator, build_redis, reset_breakers, variant
from rag_core.redis_kv.keys import breaker_prefix


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_variant_swaps_what_it_names_and_shares_the_rest(memory_parts: Any) -> None:
    other = build_generator(memory_parts.settings, None)
    made = variant(memory_parts, generator=other, sanitiser=False)
    assert made.generator is other and made.sanitiser is False
    assert made.store is memory_parts.store and made.embedder is memory_parts.embedder
    assert made.caches.query is memory_parts.caches.query  # entries shared, not rebuilt
    assert memory_parts.generator is not other  # the base is untouched (frozen)


def test_other_settings_reach_the_caches(memory_parts: Any) -> None:
    warmer = memory_parts.settings.with_overrides(llm_temperature=0.9)
    made = variant(memory_parts, settings=warmer)
    params = warmer.retrieval
    assert made.settings is warmer
    assert (made.caches.answers.key(params, "u", 1, "q", 5)
            != memory_parts.caches.answers.key(params, "u", 1, "q", 5))
    assert made.caches.truth is memory_parts.caches.truth  # one view of the notes versions


def test_fresh_caches_start_empty_and_expire_on_the_given_clock(memory_parts: Any) -> None:
    memory_parts.caches.context.set("rag:context:u:k", b"old", 60)
    clock = _Clock()
    made = variant(memory_parts, fresh_caches=True, clock=clock)
    assert made.caches is not memory_parts.caches and made.ledger is not memory_parts.ledger
    assert made.caches.context.get("rag:context:u:k") is None
    made.caches.context.set("rag:context:u:k", b"new", 60)
    assert made.caches.context.get("rag:context:u:k") == b"new"
    clock.now += 61  # simulated time, not the wall clock's
    assert made.caches.context.get("rag:context:u:k") is None


def test_a_clock_without_fresh_caches_is_an_error(memory_parts: Any) -> None:
    with pytest.raises(ValueError, match="fresh_caches"):
        variant(memory_parts, clock=_Clock())


@pytest.mark.integration
def test_a_reset_breaker_is_closed_here_and_in_redis(settings: Settings,
                                                      redis_url: str) -> None:
    live = settings.with_overrides(redis_url=redis_url)
    client = build_redis(live)
    for name in ("hf", "extractive"):  # as a run stopped during an outage leaves them
        opened = SharedBreakerStorage(client, breaker_prefix(name))
        opened.state = OPEN
        opened.increment_counter()
    reset_breakers(live)
    for name in ("hf", "extractive"):
        seen = SharedBreakerStorage(client, breaker_prefix(name))
        assert seen.state == "closed" and seen.counter == 0 and seen.opened_stamp() is None
    generator = build_generator(live, client)
    generator.storage.state = OPEN
    generator.storage.opened_at = datetime.now(UTC)  # stamped from its clock
    assert generator.state != "closed"
    made = variant(_parts_with(live, generator), reset_breaker=True)
    assert made.generator.state == "closed"
    assert SharedBreakerStorage(client, breaker_prefix("extractive")).state == "closed"


def _parts_with(settings: Settings, generator: Any) -> Any:
    from fakes import HashEmbedder

    from rag_core.parts import Parts, build_caches, build_judges, build_ledger, build_limiters
    from rag_core.store.memory import MemoryStore
    from rag_core.store.user_limits import user_limits_for
    from rag_core.tokens import default_counter

    store = MemoryStore(settings.embedding.embedding_dim)
    judges = build_judges(settings, store)
    return Parts(settings=settings, store=store,
                 embedder=HashEmbedder(settings.embedding.embedding_dim),
                 caches=build_caches(settings, None, judges.semantic), generator=generator,
                 ledger=build_ledger(settings, None, store), counter=default_counter(),
                 judges=judges, limiters=build_limiters(settings, None, user_limits_for(store)))
