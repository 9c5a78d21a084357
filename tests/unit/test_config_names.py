"""Every environment name that docs/configuration.md documented before Settings became
sections still works: set, it changes its field, or (a setting that became a constant) it logs
a warning at start and changes nothing."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import SecretStr

from rag_core.config import Settings, env_names, fixed, flat_names
from rag_core.config import settings as module

# The names docs/configuration.md documented at 0a6c13a (the CLI's RAG_SERVER_URL and
# RAG_SERVER_TOKEN are not settings; tests/unit/test_cli_remote.py covers them).
SNAPSHOT = (
    "DATABASE_REPLICA_URL", "DATABASE_URL", "HF_TOKEN", "REDIS_URL", "RAG_ANSWER_RECORD_DAYS",
    "RAG_API_DOCS", "RAG_APP_THREADS", "RAG_AUTH_ENABLED", "RAG_BM25_B", "RAG_BM25_K1",
    "RAG_BM25_METADATA_WEIGHT", "RAG_BODY_READ_TIMEOUT_S", "RAG_BREAKER_FAIL_MAX",
    "RAG_BREAKER_REDIS_RETRY_S", "RAG_BREAKER_RESET_TIMEOUT_S", "RAG_BREAKER_SUCCESS_THRESHOLD",
    "RAG_BUDGET_ALERT_RATIO", "RAG_BUDGET_OUTAGE_SHARE", "RAG_BUDGET_TIGHTEN_RATIO",
    "RAG_CACHE_CONTROLS_SCOPE", "RAG_CACHE_ENABLED", "RAG_CACHE_LAYER_MAX_ENTRIES",
    "RAG_CACHE_MAX_ENTRIES",
    "RAG_CHUNK_OVERLAP_TOKENS", "RAG_CHUNK_TOKENS", "RAG_CONTEXT_CACHE_MAX_BYTES",
    "RAG_CONTEXT_CACHE_TTL_S", "RAG_CONTEXT_TOKEN_BUDGET", "RAG_DB_CONNECT_TIMEOUT_S",
    "RAG_DB_POOL_MAX_SIZE", "RAG_DB_POOL_TIMEOUT_S", "RAG_DB_RECONNECT_TIMEOUT_S",
    "RAG_DB_STATEMENT_TIMEOUT_MS", "RAG_DENSE_CANDIDATES", "RAG_EMBEDDING_BACKEND",
    "RAG_EMBEDDING_BATCH_SIZE", "RAG_EMBEDDING_CACHE_TTL_S", "RAG_EMBEDDING_DIM",
    "RAG_EMBEDDING_MODEL", "RAG_EMBEDDING_THREADS", "RAG_FUSION", "RAG_FUSION_DENSE_WEIGHT",
    "RAG_FUSION_LEXICAL_WEIGHT", "RAG_GLOBAL_DAILY_BUDGET_USD", "RAG_HNSW_EF_CONSTRUCTION",
    "RAG_HNSW_EF_SEARCH", "RAG_HNSW_M", "RAG_HNSW_MAX_SCAN_TUPLES", "RAG_HNSW_VECTOR_TYPE",
    "RAG_ITERATIVE_SCAN", "RAG_JWT_ALGORITHM", "RAG_JWT_AUDIENCE", "RAG_JWT_ISSUER",
    "RAG_JWT_JWKS_CACHE_S", "RAG_JWT_JWKS_COOLDOWN_S", "RAG_JWT_JWKS_URL", "RAG_JWT_LEEWAY_S",
    "RAG_JWT_MAX_TTL_S", "RAG_JWT_PUBLIC_KEY", "RAG_JWT_SECRET", "RAG_KEEP_ALIVE_S",
    "RAG_LEXICAL_CANDIDATES", "RAG_LEXICAL_RANKER", "RAG_LLM", "RAG_LLM_BACKOFF_BASE_S",
    "RAG_LLM_BACKOFF_MAX_S", "RAG_LLM_BASE_URL", "RAG_LLM_CONNECT_TIMEOUT_S",
    "RAG_LLM_MAX_RETRIES", "RAG_LLM_MODEL", "RAG_LLM_READ_TIMEOUT_S", "RAG_LLM_RECHECK_S",
    "RAG_LLM_RETRY_AFTER_MAX_S", "RAG_LLM_RETRY_BUDGET_S", "RAG_LLM_ROUTER_URL",
    "RAG_LLM_TEMPERATURE", "RAG_LOG_LEVEL", "RAG_MAX_BODY_BYTES", "RAG_MAX_BULK_BODY_BYTES",
    "RAG_MAX_NOTE_BODY_BYTES", "RAG_MAX_QUERY_CHARS", "RAG_METRICS_HOST", "RAG_METRICS_PORT",
    "RAG_METRICS_TOKEN", "RAG_MODEL_CACHE_DIR", "RAG_NOTES_VERSION_TTL_S",
    "RAG_OPENVINO_PRECISION", "RAG_OTEL_ENDPOINT", "RAG_OTEL_EXPORTER", "RAG_OUTPUT_TOKEN_BUDGET",
    "RAG_PRF_DOCS", "RAG_PRF_FIRST_DENSE_WEIGHT", "RAG_PRF_FIRST_FUSION",
    "RAG_PRF_FIRST_LEXICAL_WEIGHT", "RAG_PRF_LEXICAL_WEIGHT", "RAG_PRF_MIN_CHUNKS",
    "RAG_PRF_QUERY_WEIGHT", "RAG_PRF_RRF_K", "RAG_PRF_TERMS", "RAG_PRF_VECTOR_WEIGHT",
    "RAG_PRICE_INPUT_PER_TOKEN_USD", "RAG_PRICE_OUTPUT_PER_TOKEN_USD", "RAG_PROFILE",
    "RAG_QUERY_CACHE_TTL_S", "RAG_QUERY_LOG", "RAG_QUERY_LOG_DAYS", "RAG_QUERY_TOKEN_BUDGET",
    "RAG_REDIS_MODE", "RAG_REDIS_TIMEOUT_S", "RAG_RELEVANCE_CONFIDENT", "RAG_RELEVANCE_COVERAGE",
    "RAG_RELEVANCE_MIN_COVERAGE", "RAG_RELEVANCE_NAMES", "RAG_RELEVANCE_WORD_SIMILARITY",
    "RAG_REPLICA_CHECK_INTERVAL_S", "RAG_REPLICA_MAX_LAG_S", "RAG_REPLICA_RETRY_S",
    "RAG_RETRIEVAL", "RAG_RRF_K", "RAG_SEMANTIC_CACHE_ENABLED", "RAG_SEMANTIC_CACHE_THRESHOLD",
    "RAG_SEMANTIC_CORROBORATED_FLOOR", "RAG_SEMANTIC_EVIDENCE", "RAG_SEMANTIC_MODE",
    "RAG_SIMILARITY_THRESHOLD", "RAG_STALE_TTL_S", "RAG_STATE_DIR", "RAG_STREAM_HOLDBACK_CHARS",
    "RAG_SWITCH_INTERVAL_MS", "RAG_TOP_K", "RAG_USER_DAILY_BUDGET_USD", "RAG_USER_SCAN_MAX_CHUNKS",
    "RAG_USER_SCAN_SCALE", "RAG_WORKER_HEALTHCHECK_S", "RAG_WRITE_QUOTA_BYTES",
    "RAG_WRITE_QUOTA_WINDOW_S",
)

# values that a type alone does not give (a URL, a JSON mapping, a dimension's bounds)
TEXT = {"DATABASE_URL": "postgresql://u@db/x", "DATABASE_REPLICA_URL": "postgresql://u@r/x",
        "REDIS_URL": "redis://r:6379/0", "RAG_LLM_BASE_URL": "http://127.0.0.1:1/v1",
        "RAG_LLM_ROUTER_URL": "http://127.0.0.1:2/v1", "RAG_JWT_JWKS_URL": "http://k/jwks",
        "RAG_CACHE_LAYER_MAX_ENTRIES": '{"semantic": 5}', "RAG_PROFILE": "dev",
        "RAG_EMBEDDING_DIM": "768", "RAG_CHUNK_OVERLAP_TOKENS": "41"}


def _field_of(var: str) -> str | None:
    return next((n for n in flat_names() if var in env_names(n)), None)


def _another(name: str, default: object, tmp: Path) -> str:
    """A valid value for ``name`` other than its default, as the environment spells it."""
    info = Settings.flat_fields()[name]
    choices = [a for a in typing.get_args(info.annotation) if isinstance(a, str)]
    if choices:
        return next(c for c in choices if c != default)
    if isinstance(default, bool) or info.annotation in (bool, bool | None):
        return "false" if default is not False else "true"
    if isinstance(default, Path) or info.annotation in (Path, Path | None):
        return str(tmp)
    if isinstance(default, float):
        return str(default / 2 if default else 1.0)
    if isinstance(default, int):
        low = next((m.ge for m in info.metadata if hasattr(m, "ge")), None)
        return str(default - 1 if low is None or default - 1 >= low else default + 1)
    if info.annotation in (int | None, float | None):
        return "7"
    return "changed-value"


def _value(settings: Settings, name: str) -> object:
    value = settings.flat_value(name)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.mark.parametrize("var", SNAPSHOT)
def test_every_documented_name_still_works(var: str, monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture,
                                           tmp_path: Path) -> None:
    for other in SNAPSHOT:
        monkeypatch.delenv(other, raising=False)
    name = _field_of(var)
    if var == "RAG_SEMANTIC_CACHE_ENABLED":  # folded into the mode: false still means off
        monkeypatch.setenv(var, "false")
        decisions = Settings().decisions
        assert decisions.semantic_mode == "off" and not decisions.semantic_cache_enabled
        return
    if name is None:
        retired = var.removeprefix("RAG_").lower()
        assert retired in fixed.RETIRED, f"{var} is neither a setting nor a retired one"
        monkeypatch.setattr(module, "_warned", set())
        monkeypatch.setenv(var, str(fixed.value(retired)))
        with caplog.at_level("WARNING", logger="rag_core.config.settings"):
            Settings()
        assert f"{var} is no longer a setting" in caplog.text
        return
    before = _value(Settings(), name)
    monkeypatch.setenv(var, TEXT.get(var) or _another(name, before, tmp_path))
    assert _value(Settings(), name) != before, var
