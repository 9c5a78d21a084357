import numpy as np
import pytest

from rag_core.cache import codec
from rag_core.cache.keys import context_key, embedding_key, normalize_query, query_key
from rag_core.cache.memory import MemoryCache
from rag_core.config import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_cache_ttl_and_lru_by_count_and_bytes() -> None:
    clock = Clock()
    cache = MemoryCache("context", max_entries=2, max_bytes=10, clock=clock)
    cache.set("a", b"1234", 10)
    cache.set("b", b"1234", 10)
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.set("c", b"1234", 10)  # over 2 entries: b goes
    assert cache.get("b") is None and cache.get("a") == b"1234"
    cache.set("d", b"123456789", 10)  # over 10 bytes: evict until it fits
    assert cache.stats().bytes <= 10 and cache.stats().evictions >= 2
    clock.now = 11
    assert cache.get("d") is None


def test_codec_round_trips() -> None:
    vec = np.arange(384, dtype=np.float32) / 384
    assert np.array_equal(codec.unpack_vector(codec.pack_vector(vec), 384), vec)
    assert len(codec.pack_vector(vec)) == 384 * 4
    data = {"answer": "x", "citations": [{"n": 1}], "cost": 0.5}
    assert codec.unpack(codec.pack(data)) == data
    with pytest.raises(ValueError):
        codec.unpack_vector(codec.pack_vector(vec), 128)


def test_normalize_query() -> None:
    assert normalize_query("  What ABOUT   Faith?? ") == "what about faith"


@pytest.mark.parametrize("field,value", [
    ("embedding_model", "other-model"), ("llm", "hf"), ("llm_model", "x/y"),
    ("prompt_version", "v2"), ("query_token_budget", 100), ("context_token_budget", 800),
    ("output_token_budget", 200), ("similarity_threshold", 0.5), ("retrieval_mode", "dense"),
    ("hnsw_ef_search", 100),
])
def test_query_key_names_everything_that_changes_an_answer(field: str, value: object) -> None:
    base = Settings()
    assert query_key(base, "u", 1, "q", 5) != query_key(base.with_overrides(**{field: value}),
                                                         "u", 1, "q", 5)


def test_keys_differ_by_user_version_top_k_and_layer() -> None:
    s = Settings()
    keys = {query_key(s, "u", 1, "q", 5), query_key(s, "v", 1, "q", 5),
            query_key(s, "u", 2, "q", 5), query_key(s, "u", 1, "q", 3),
            context_key(s, "u", 1, "q", 5)}
    assert len(keys) == 5
    assert embedding_key(s, "q") == embedding_key(s, "q")
    assert embedding_key(s, "q") != embedding_key(s.with_overrides(embedding_model="m2"), "q")
