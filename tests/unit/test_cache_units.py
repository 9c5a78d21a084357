import numpy as np
import pytest

from rag_core.cache.memory import MemoryCache
from rag_core.config import Retrieval, Settings
from rag_core.llm.prompt import prompt_id
from rag_core.redis_kv import codec
from rag_core.redis_kv.keys import context_key, embedding_key, normalize_query, query_key


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


def _qkey(settings: Settings, user: str = "u", version: int = 1, top_k: int = 5) -> str:
    return query_key(settings, settings.retrieval, user, version, "q", top_k,
                     prompt=prompt_id())


@pytest.mark.parametrize("field,value", [
    ("embedding_model", "other-model"), ("llm", "hf"), ("llm_model", "x/y"),
    ("query_token_budget", 100), ("context_token_budget", 800),
    ("output_token_budget", 200), ("similarity_threshold", 0.5), ("retrieval_mode", "dense"),
    ("hnsw_ef_search", 100), ("rrf_k", 10), ("dense_candidates", 8),
    ("lexical_candidates", 8), ("fusion", "score"), ("fusion_dense_weight", 2.0),
    ("fusion_lexical_weight", 1.0), ("lexical_ranker", "ts_rank_cd"), ("bm25_k1", 0.9),
    ("bm25_b", 0.5), ("iterative_scan", "off"),
    ("user_scan_max_chunks", 0), ("user_scan_scale", 0.0), ("semantic_mode", "loose"),
    ("semantic_cache_threshold", 0.7),
    ("llm_temperature", 0.7), ("top_k", 3), ("prf_min_chunks", 5),
])
def test_query_key_names_everything_that_changes_an_answer(field: str, value: object) -> None:
    base = Settings()
    assert _qkey(base) != _qkey(base.with_overrides(**{field: value}))


def test_a_field_added_to_an_answer_section_is_in_the_key() -> None:
    """The key hashes the answer-shaping sections whole: a new field needs no edit of keys.py."""
    from rag_core.config import DecisionSettings

    class Wider(DecisionSettings):
        added_threshold: float = 0.5

    plain, wider, moved = Settings(), Settings(), Settings()
    wider.decisions = Wider()
    moved.decisions = Wider(added_threshold=0.7)
    assert len({_qkey(plain), _qkey(wider), _qkey(moved)}) == 3


@pytest.mark.parametrize("field,value", [
    ("price_input_per_token_usd", 0.001), ("price_output_per_token_usd", 0.002),
    ("user_daily_budget_usd", 1.0), ("global_daily_budget_usd", 10.0),
    ("llm_read_timeout_s", 5.0), ("llm_max_retries", 0),
    ("llm_base_url", "http://127.0.0.1:9/v1"), ("hf_token", "hf_other"),
    ("jwt_secret", "another-secret"), ("query_cache_ttl_s", 60), ("app_threads", 4),
])
def test_prices_budgets_timeouts_urls_and_secrets_leave_the_key_alone(
        field: str, value: object) -> None:
    base = Settings()
    assert _qkey(base) == _qkey(base.with_overrides(**{field: value}))


def test_query_key_follows_the_prompt_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key named ``Settings.prompt_version = "v1"`` while the prompt module said "v2":
    editing the prompt left cached answers in place. The key part is now the prompt's own
    fingerprint."""
    from rag_core.llm import prompt

    before = _qkey(Settings())
    prompt.prompt_id.cache_clear()
    monkeypatch.setattr(prompt, "SYSTEM_PROMPT", prompt.SYSTEM_PROMPT + " Be brief.")
    try:
        assert _qkey(Settings()) != before
    finally:
        monkeypatch.undo()
        prompt.prompt_id.cache_clear()
    assert _qkey(Settings()) == before


def test_prompt_id_renders_a_layout_the_guard_leaves_as_it_is() -> None:
    """``prompt_id`` renders its sample note unguarded (a cached answer's key then needs none
    of the note guard's patterns): the guard would leave that block unchanged, so the id is
    that of the block the model is sent."""
    from rag_core.llm import prompt

    assert prompt.format_note_block(1, prompt.LAYOUT_SAMPLE, guard=False) == \
        prompt.format_note_block(1, prompt.LAYOUT_SAMPLE)


def test_search_knobs_reach_the_key_through_the_params_the_store_gets() -> None:
    """One object carries the knobs to the store and into the key: a sweep that changes the
    search changes the key (the store used to read rrf_k and ef_search from its own copy)."""
    s = Settings()
    params = s.retrieval
    key = query_key(s, params, "u", 1, "q", 5, prompt=prompt_id())
    assert key != query_key(s, Retrieval(**{**params.__dict__, "hnsw_ef_search": 80}),
                            "u", 1, "q", 5, prompt=prompt_id())
    assert context_key(params, "u", 1, "q", 5) != context_key(
        Retrieval(**{**params.__dict__, "rrf_k": 5}), "u", 1, "q", 5)


def test_keys_differ_by_user_version_top_k_and_layer() -> None:
    s = Settings()
    p = s.retrieval
    keys = {_qkey(s), _qkey(s, user="v"), _qkey(s, version=2), _qkey(s, top_k=3),
            context_key(p, "u", 1, "q", 5)}
    assert len(keys) == 5
    e = s.embedding
    assert embedding_key(e, "u", "q") == embedding_key(e, "u", "q")
    assert embedding_key(e, "u", "q") != embedding_key(e, "v", "q")  # no shared entries
    assert embedding_key(e, "u", "q") != embedding_key(
        s.with_overrides(embedding_model="m2").embedding, "u", "q")



@pytest.mark.parametrize("filters", [None, {"speaker": "Okafor", "tags": ["b", "A"]}])
def test_an_answer_key_is_the_same_with_its_settings_encoded_once(filters: object) -> None:
    """The settings' part of an answer key is encoded once (``EncodedParts``); the key is the
    one that encoding everything per question gives."""
    from rag_core.redis_kv.keys import (
        EncodedParts,
        answer_parts,
        answer_shape,
        query_slot,
        version_slot,
    )
    from rag_core.store.filters import Filters

    s = Settings(profile="ci")
    parts = answer_parts(answer_shape(s), s.retrieval, prompt_id())
    assert isinstance(parts, EncodedParts)
    f = Filters.from_dict(filters)  # type: ignore[arg-type]
    plain = version_slot("query", "u", {**dict(parts), "top_k": 5, "q": "grâce", **f.key()})
    assert query_slot(parts, "u", "grâce", 5, f) == plain
    assert query_slot(dict(parts), "u", "grâce", 5, f) == plain
