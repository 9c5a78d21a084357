"""An answer is never served under settings it was not made with: each setting that shapes an
answer (the semantic mode and thresholds, the model's temperature, the no-context floor)
changed between the write and the read is a miss on the exact-question cache and on the stale
store, against the real Redis."""

from __future__ import annotations

import pytest

from rag_core.answer import Answer
from rag_core.cache.layers import CacheLayers, layers_for
from rag_core.cache.semantic import judge_for
from rag_core.config import Settings
from rag_core.parts import build_redis
from rag_core.types import TokenUsage

pytestmark = pytest.mark.integration

USER = "amara"
QUESTION = "What did Pastor Okafor say about faith?"
VERSION = 4

# (written under, read under): each pair changes one answer-shaping setting
SWITCHES: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    "semantic mode loose -> strict": ({"semantic_mode": "loose"}, {"semantic_mode": "strict"}),
    "semantic mode strict -> off": ({"semantic_mode": "strict"}, {"semantic_mode": "off"}),
    "semantic threshold": ({"semantic_cache_threshold": 0.6},
                           {"semantic_cache_threshold": 0.7}),
    "llm temperature": ({"llm_temperature": 0.2}, {"llm_temperature": 0.7}),
    "no-context floor": ({"similarity_threshold": 0.25}, {"similarity_threshold": 0.3}),
}


def _answer() -> Answer:
    return Answer(answer="Faith is trust.", citations=[], no_context=False,
                  generator="extractive", cache={}, usage=TokenUsage(), cost_usd=0.0,
                  timings_ms={}, request_id="r")


def _layers(settings: Settings, url: str) -> CacheLayers:
    return layers_for(settings, build_redis(settings.with_overrides(
        redis_url=url)), judge=judge_for(settings))


def _write(settings: Settings, url: str) -> None:
    layers = _layers(settings, url)
    params = settings.retrieval
    _, key, found, _ = layers.answers.lookup(params, USER, QUESTION, 5, lambda _: VERSION)
    assert found is None
    layers.answers.put(key, _answer(), user_id=USER, notes_version=VERSION, question=QUESTION,
                      vector=None)


def _read(settings: Settings, url: str) -> tuple[Answer | None, Answer | None]:
    """(the exact-question cache's answer, the stale store's) under ``settings``."""
    layers = _layers(settings, url)
    params = settings.retrieval
    _, key, found, _ = layers.answers.lookup(params, USER, QUESTION, 5, lambda _: VERSION)
    return found, layers.answers.stale_answer(key)


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_a_changed_setting_misses_the_query_cache_and_the_stale_store(
        switch: str, settings: Settings, redis_url: str) -> None:
    before, after = SWITCHES[switch]
    written = settings.with_overrides(**before)
    _write(written, redis_url)
    same = _read(written, redis_url)
    assert same[0] is not None and same[1] is not None  # under its own settings: served
    assert _read(settings.with_overrides(**after), redis_url) == (None, None)
