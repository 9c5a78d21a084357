import pytest
from pydantic import ValidationError

from rag_core.config import FIELDS, Retrieval, Settings

# the project's budget of settings: 90, issue 62's seven (RAG_LLM_FALLBACK, the second
# provider's URL, model, token and two prices, RAG_BREAKER_SUCCESS_THRESHOLD back from fixed)
# and issue 61's seven request limits; issue 66's switch for question and answer text in traces;
# issue 65's chunking method; issue 64's RAG_CACHE_CONTROLS_SCOPE (who may send a question's
# cache controls); issue 61's work slots (RAG_WORK_SLOTS: the CPU share of admitted questions);
# issue 82's note revisions and trash days (RAG_NOTE_REVISIONS, RAG_NOTE_TRASH_DAYS) and CORS
# (RAG_CORS_ORIGINS, RAG_CORS_ALLOW_CREDENTIALS); issue 79's RAG_ERASURE_LOG (the erasure log a
# restore replays)
MAX_SETTINGS = 125


def test_spec_defaults() -> None:
    s = Settings()
    assert (s.tokens.query_token_budget, s.tokens.context_token_budget,
            s.tokens.output_token_budget) == (150, 1200, 400)
    assert (s.caches.query_cache_ttl_s, s.caches.embedding_cache_ttl_s,
            s.caches.context_cache_ttl_s) == (
        86_400, 604_800, 3_600)
    assert s.caches.cache_max_entries == 10_000
    assert (s.model_calls.breaker_fail_max, s.model_calls.breaker_reset_timeout_s) == (5, 30.0)
    assert (s.money.price_input_per_token_usd, s.money.price_output_per_token_usd) == (2e-7, 6e-7)
    assert (s.money.user_daily_budget_usd, s.money.global_daily_budget_usd) == (5.0, 100.0)
    assert s.retrieval.top_k == 5 and s.embedding.embedding_dim == 384


def test_dev_profile_changes_ttls_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_PROFILE", "dev")
    s = Settings()
    assert (s.caches.query_cache_ttl_s, s.caches.embedding_cache_ttl_s,
            s.caches.context_cache_ttl_s) == (
        3_600, 86_400, 600)
    monkeypatch.setenv("RAG_QUERY_CACHE_TTL_S", "42")
    assert Settings().caches.query_cache_ttl_s == 42


def test_settings_read_the_deployment_env_names_and_mask_the_token(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/x")
    monkeypatch.setenv("REDIS_URL", "redis://r:6379/0")
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("RAG_LLM", "hf")
    monkeypatch.setenv("RAG_LLM_BASE_URL", "http://127.0.0.1:8100")
    monkeypatch.setenv("HF_TOKEN", "hf_secretvalue")
    monkeypatch.setenv("RAG_RETRIEVAL", "hybrid")
    s = Settings()
    assert s.services.database_url == "postgresql://u:p@db/x"
    assert s.services.redis_url == "redis://r:6379/0"
    assert s.services.state_dir == tmp_path and s.generation.llm == "hf"
    assert s.model_calls.llm_base_url == "http://127.0.0.1:8100"
    assert s.retrieval.retrieval_mode == "hybrid"
    assert s.model_calls.hf_token is not None and "hf_secretvalue" not in repr(s)


def test_the_feedback_mode_and_its_knobs_come_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_RETRIEVAL_MODE", "hybrid_prf")
    monkeypatch.setenv("RAG_PRF_FIRST_FUSION", "rrf")
    monkeypatch.setenv("RAG_PRF_FIRST_DENSE_WEIGHT", "1.0")
    monkeypatch.setenv("RAG_PRF_FIRST_LEXICAL_WEIGHT", "1.5")
    monkeypatch.setenv("RAG_PRF_MIN_CHUNKS", "250")
    p = Settings().retrieval
    assert p.retrieval_mode == "hybrid_prf"
    assert (p.prf_first_fusion, p.prf_first_dense_weight, p.prf_first_lexical_weight,
            p.prf_min_chunks) == ("rrf", 1.0, 1.5, 250)
    for bad in ({"prf_first_dense_weight": -1}, {"retrieval_mode": "prf"},
                {"prf_first_fusion": "sum"}, {"prf_min_chunks": -1}):
        with pytest.raises(ValidationError):
            Settings(**bad)
    with pytest.raises(ValueError, match="retrieval_mode"):
        Retrieval(retrieval_mode="rm3")  # type: ignore[arg-type]


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValidationError):
        Settings(top_k=0)
    with pytest.raises(ValidationError):
        Settings(chunk_tokens=64, chunk_overlap_tokens=64)
    with pytest.raises(ValidationError):
        Settings(profile="staging")


def test_with_overrides_validates() -> None:
    s = Settings().with_overrides(top_k=3)
    assert s.retrieval.top_k == 3
    with pytest.raises(ValidationError):
        Settings().with_overrides(top_k=-1)


def test_settings_are_sections_and_flat_names_read_through() -> None:
    s = Settings(top_k=3, llm_temperature=0.5, cache_max_entries=7)
    assert s.retrieval.top_k == s.retrieval.top_k == 3
    assert s.generation.llm_temperature == s.generation.llm_temperature == 0.5
    assert s.caches.cache_max_entries == s.caches.cache_max_entries == 7
    assert Settings(retrieval={"top_k": 4}).retrieval.top_k == 4
    assert s.with_overrides(retrieval=s.retrieval.with_(top_k=9)).retrieval.top_k == 9
    assert set(Settings.flat_fields()) == {"profile", *FIELDS}
    with pytest.raises(AttributeError):
        _ = s.no_such_setting  # type: ignore[attr-defined]
    # one way to read a setting: by its section (a flat read is no attribute, so mypy sees it)
    assert "__getattr__" not in Settings.__dict__
    with pytest.raises(AttributeError):
        _ = s.top_k  # type: ignore[attr-defined]


def test_an_unknown_name_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ValidationError, match=r"top_kk \(did you mean top_k"):
        Settings(top_kk=1)
    with pytest.raises(ValidationError, match="unknown settings"):
        Settings().with_overrides(not_a_setting=1)
    with pytest.raises(ValidationError, match="fixed at 75"):
        Settings().with_overrides(keep_alive_s=5)


def test_live_knobs_are_not_read_as_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    """``RAG_LLM`` and ``RAG_RETRIEVAL`` name a generator and a retrieval mode, never the
    sections that hold them."""
    monkeypatch.setenv("RAG_LLM", "hf")
    monkeypatch.setenv("RAG_RETRIEVAL", "lexical")
    monkeypatch.setenv("RAG_GENERATION", "{}")
    s = Settings()
    assert s.generation.llm == "hf" and s.retrieval.retrieval_mode == "lexical"


def test_a_retired_variable_logs_a_warning_and_reads_as_its_constant(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from rag_core.config import fixed
    from rag_core.config import settings as module

    monkeypatch.setattr(module, "_warned", set())
    monkeypatch.setenv("RAG_KEEP_ALIVE_S", "5")
    with caplog.at_level("WARNING", logger="rag_core.config.settings"):
        Settings()
    assert "RAG_KEEP_ALIVE_S is no longer a setting" in caplog.text
    assert fixed.KEEP_ALIVE_S == 75
    assert "keep_alive_s" not in Settings.flat_fields()


def test_the_count_of_settings_stays_within_its_budget() -> None:
    assert len(Settings.flat_fields()) <= MAX_SETTINGS
