"""One Settings object for the whole service, built at the edges and passed down.

Every budget, threshold and TTL of the spec lives here. Environment variables override the
defaults (``RAG_<FIELD>``; a few well-known names such as ``DATABASE_URL`` without prefix).
The profile (``RAG_PROFILE`` = dev | prod | ci) changes the defaults of the fields it names,
but never a value that was set explicitly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Profile = Literal["dev", "prod", "ci"]
# Published in the code, so worthless as a secret: the prod profile refuses it (rag_core.api.auth).
DEFAULT_JWT_SECRET = "dev-only-insecure-secret-set-RAG_JWT_SECRET"

# Defaults that differ per profile. Anything not listed keeps its field default.
PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "prod": {},
    "dev": {
        "query_cache_ttl_s": 3_600,
        "embedding_cache_ttl_s": 86_400,
        "context_cache_ttl_s": 600,
    },
    "ci": {
        "query_cache_ttl_s": 3_600,
        "embedding_cache_ttl_s": 86_400,
        "context_cache_ttl_s": 600,
        "breaker_reset_timeout_s": 2.0,
    },
}


def _default_state_dir() -> Path:
    return Path.cwd() / ".rag_state"


def _user_model_cache() -> Path | None:
    """The machine user's cache folder for exported models (``$XDG_CACHE_HOME`` or
    ``~/.cache``, then ``rag_core/models``): one export serves every state folder. None when
    no such folder can be written (a read-only home in a container)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "rag_core" / "models"
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return folder if probe.is_dir() and os.access(probe, os.W_OK) else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="ignore", populate_by_name=True, validate_default=True
    )

    profile: Profile = "prod"

    # --- where things live -------------------------------------------------------------
    state_dir: Path = Field(default_factory=_default_state_dir)
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "RAG_DATABASE_URL")
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "RAG_REDIS_URL")
    )
    # standalone: REDIS_URL is one server. cluster: REDIS_URL names any node of a Redis Cluster
    # and redis-py's RedisCluster finds the rest (docs/runbook.md: what a failover does).
    redis_mode: Literal["standalone", "cluster"] = "standalone"

    # --- PostgreSQL connection pool (short timeouts: a dead database must fail fast) ----
    db_pool_max_size: int = Field(10, ge=1, le=100)
    db_pool_timeout_s: float = Field(3.0, gt=0)
    db_connect_timeout_s: int = Field(3, ge=1)
    db_reconnect_timeout_s: float = Field(10.0, gt=0)
    db_statement_timeout_ms: int = Field(10_000, ge=0)

    # --- a streaming read replica (rag_core/store/replica.py) ----------------------------
    # Searches and statistics go there while it is at most ``replica_max_lag_s`` behind the
    # primary (checked every ``replica_check_interval_s``, not per query); lagging or down, they
    # go to the primary, and a dead replica is tried again after ``replica_retry_s``.
    database_replica_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_REPLICA_URL", "RAG_DATABASE_REPLICA_URL"),
    )
    replica_max_lag_s: float = Field(5.0, gt=0)
    replica_check_interval_s: float = Field(1.0, gt=0)
    replica_retry_s: float = Field(10.0, gt=0)

    # --- token budgets (spec: 150 / 1,200 / 400) ----------------------------------------
    query_token_budget: int = Field(150, ge=8, le=2_000)
    context_token_budget: int = Field(1_200, ge=50, le=32_000)
    output_token_budget: int = Field(400, ge=16, le=8_000)
    max_query_chars: int = Field(1_000, ge=1, le=100_000)

    # --- embedding -----------------------------------------------------------------------
    embedding_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    embedding_dim: int = 384
    embedding_batch_size: int = Field(64, ge=1)
    # The runtime that runs the model (benchmarks/README.md: chunks/s and query latency of each
    # on this machine). onnx and openvino run a graph exported once from the PyTorch model and
    # cached under ``model_cache_dir``; torch is sentence-transformers as it ships.
    embedding_backend: Literal["torch", "onnx", "openvino"] = "openvino"
    # OpenVINO's inference precision hint on CPU. bf16 pays where the CPU has native bf16
    # (this machine: avx512_bf16); cosine to f32 >= 0.9999 on the golden chunks, and its vectors
    # get cache keys of their own (rag_core.embedding.vector_numerics).
    openvino_precision: Literal["bf16", "f32"] = "bf16"
    embedding_threads: int = Field(0, ge=0, le=256)  # 0: the CPUs the process may use
    model_cache_dir: Path | None = None  # exported models; None: the user's cache folder

    # --- chunking ------------------------------------------------------------------------
    chunk_tokens: int = Field(200, ge=32, le=512)
    chunk_overlap_tokens: int = Field(40, ge=0, le=256)

    # --- retrieval -----------------------------------------------------------------------
    top_k: int = Field(5, ge=1, le=50)
    # the floor of the no-context decision (rag_core/decisions/relevance.py): 0.25 from the
    # dev split
    similarity_threshold: float = Field(0.25, ge=-1.0, le=1.0)
    # the no-context decision beyond the cosine floor (rag_core/decisions/relevance.py; dev split)
    relevance_names: bool = True
    relevance_coverage: bool = True
    relevance_min_coverage: float = Field(0.66, ge=0.0, le=1.0)  # of the nouns, all chunks
    relevance_confident: float = Field(0.45, ge=-1.0, le=1.0)
    # a noun the chunks lack is covered by a word of theirs at this word-vector cosine
    # (rag_core/decisions/word_match.py; dev split); above 1 turns the near-word match off
    relevance_word_similarity: float = Field(0.6, ge=0.0, le=1.01)
    hnsw_m: int = Field(16, ge=2, le=100)
    hnsw_ef_construction: int = Field(64, ge=4, le=1_000)
    hnsw_ef_search: int = Field(40, ge=1, le=1_000)
    # What the HNSW index holds: the vectors, or their half-precision copies (an expression
    # index; the column stays vector). It applies when the index is built: by the first
    # migration of a new database, or by `rag-core migrate --reindex`.
    hnsw_vector_type: Literal["vector", "halfvec"] = "halfvec"
    iterative_scan: Literal["off", "relaxed_order", "strict_order"] = "relaxed_order"
    # auto (hybrid_prf from prf_min_chunks chunks on, hybrid below) by measurement: mean nDCG@10
    # of the four shared public sets 0.555 against hybrid's 0.530, no set lower, every set above
    # dense and BM25; a user of a few dozen notes is searched exactly as hybrid, which beats
    # hybrid_prf there (golden test recall@5 0.936 against 0.896). docs/retrieval-public.md.
    retrieval_mode: Literal["dense", "lexical", "hybrid", "hybrid_prf", "auto"] = Field(
        "auto", validation_alias=AliasChoices("RAG_RETRIEVAL", "RAG_RETRIEVAL_MODE")
    )
    # Lexical ranking and fusion (rag_core.store.sql.search, rag_core.store.fusion), tuned on
    # the NFCorpus dev split only (324 queries; README "Retrieval"): k1 0.6-1.6 x b 0.3-0.9
    # moved BM25's nDCG@10 by < 0.004, so the textbook 1.2 / 0.75 stay; RRF with the lexical
    # list weighted 1.5, rrf_k 30 and 50 candidates per list measured 0.331 against 0.322 for
    # equal weights, rrf_k 60 and 20 candidates (dense 0.293, BM25 0.298).  The metadata
    # weight (a title/speaker/scripture occurrence counts twice) is a prior, not tuned: no
    # public dev set has such fields and the golden set has no dev part yet.
    lexical_ranker: Literal["bm25", "ts_rank_cd"] = "bm25"
    bm25_k1: float = Field(1.2, ge=0.0, le=5.0)
    bm25_b: float = Field(0.75, ge=0.0, le=1.0)
    bm25_metadata_weight: float = Field(2.0, ge=0.0, le=10.0)
    fusion: Literal["rrf", "score"] = "rrf"
    rrf_k: int = Field(30, ge=1)
    fusion_dense_weight: float = Field(1.0, ge=0.0, le=10.0)
    fusion_lexical_weight: float = Field(1.5, ge=0.0, le=10.0)
    dense_candidates: int = Field(50, ge=1, le=1_000)
    lexical_candidates: int = Field(50, ge=1, le=1_000)
    # hybrid_prf: pseudo-relevance feedback from the first hybrid pass's best chunks (dense
    # Rocchio and RM3 on BM25; rag_core.store.searching.prf_search), chosen on the four shared
    # public sets together (docs/retrieval-public.md, "Pseudo-relevance feedback").
    prf_docs: int = Field(3, ge=1, le=50)
    prf_terms: int = Field(50, ge=0, le=500)
    prf_query_weight: float = Field(0.5, ge=0.0, le=1.0)
    prf_vector_weight: float = Field(0.5, ge=0.0, le=10.0)
    prf_rrf_k: int = Field(10, ge=1)
    prf_lexical_weight: float = Field(1.0, ge=0.0, le=10.0)
    # the first pass that picks the feedback chunks: score fusion, cosine weighted 0.6 and BM25
    # 0.4 (mean nDCG@10 of the four sets 0.555 against 0.548 with hybrid's RRF: the same doc)
    prf_first_fusion: Literal["rrf", "score"] = "score"
    prf_first_dense_weight: float = Field(0.6, ge=0.0, le=10.0)
    prf_first_lexical_weight: float = Field(0.4, ge=0.0, le=10.0)
    # auto: feedback for a user of at least this many chunks, plain hybrid below (every shared
    # public set is above, 1,719-11,446 chunks; every golden and external user below, 30-64)
    prf_min_chunks: int = Field(1_000, ge=0)
    hnsw_max_scan_tuples: int = Field(20_000, ge=1)
    # A user with at most max(user_scan_max_chunks, sqrt(user_scan_scale x the table's
    # chunks)) chunks is searched on their own rows (by the user_id index: exact dense
    # distances, lexical match row by row), a larger one through the HNSW and GIN indexes of
    # all users' chunks (rag_core.store.searching). A filtered index scan costs more the
    # smaller the user's share of the table, a scan of own rows more the more rows: their
    # break-even grows with the square root of the table. Measured (README "Retrieval"): near
    # 500 chunks in a 10k-chunk table; in a 100k one own rows were faster or close under 1,500
    # chunks and twice as fast in hybrid search above. Both 0: every user through the shared
    # indexes.
    user_scan_max_chunks: int = Field(500, ge=0)
    user_scan_scale: float = Field(25.0, ge=0.0)

    # --- caches (spec: 24 h / 7 d / 1 h, 10,000 entries) ---------------------------------
    cache_enabled: bool = True
    query_cache_ttl_s: int = Field(86_400, ge=1)
    embedding_cache_ttl_s: int = Field(604_800, ge=1)
    context_cache_ttl_s: int = Field(3_600, ge=1)
    cache_max_entries: int = Field(10_000, ge=1)
    context_cache_max_bytes: int = Field(64 * 1024 * 1024, ge=1_024)
    semantic_cache_enabled: bool = True
    # cosine floor of a semantic-cache candidate; the rules of rag_core.decisions.semantic_rules
    # decide the rest. 0.60 from the dev split (evals/cache/semantic_eval.py; gate reasons).
    semantic_cache_threshold: float = Field(0.6, ge=0.0, le=1.0)
    # below the threshold, down to this floor, a candidate needs the same best chunk, the same
    # best sentence and no grounded difference (semantic_rules). 1.0: off. Measured on the dev
    # split (0.40 reuses more paraphrases and more same-note near misses; golden/README.md)
    semantic_corroborated_floor: float = Field(1.0, ge=0.0, le=1.0)
    semantic_evidence: Literal["off", "chunk", "note", "overlap", "adaptive"] = "note"
    stale_ttl_s: int = Field(7 * 86_400, ge=1)
    redis_timeout_s: float = Field(0.25, gt=0)
    # A user's notes version, read from Redis on every question (an L1 hit then touches no
    # PostgreSQL); re-read from PostgreSQL at least this often, and whenever Redis lost it.
    notes_version_ttl_s: int = Field(300, ge=1)

    # --- generation ----------------------------------------------------------------------
    llm: Literal["extractive", "hf"] = "extractive"
    llm_model: str = "meta-llama/Llama-3.2-3B-Instruct"
    llm_base_url: str | None = None
    # Without llm_base_url: Hugging Face's inference router (OpenAI-compatible, provider chosen
    # server-side). A setting so that a test or a private proxy can stand in for it.
    llm_router_url: str = "https://router.huggingface.co/v1"
    llm_recheck_s: float = Field(60.0, gt=0)  # a remembered misconfiguration: re-verify period
    hf_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("HF_TOKEN", "RAG_HF_TOKEN")
    )
    llm_connect_timeout_s: float = Field(3.0, gt=0)
    llm_read_timeout_s: float = Field(30.0, gt=0)
    llm_max_retries: int = Field(2, ge=0, le=10)
    llm_backoff_base_s: float = Field(0.2, ge=0)
    llm_temperature: float = Field(0.2, ge=0.0, le=2.0)
    llm_backoff_max_s: float = Field(2.0, ge=0)  # cap of one backoff sleep
    llm_retry_after_max_s: float = Field(5.0, ge=0)  # a longer 429 Retry-After: no retry
    llm_retry_budget_s: float = Field(20.0, gt=0)  # no retry starts after this long
    # A stream sends text only once the output checks saw this many characters beyond it
    # (an echo of the instructions is recognised only when enough of it has arrived).
    stream_holdback_chars: int = Field(160, ge=0, le=4_000)

    # --- circuit breaker (spec: 5 failures, 30 s) ----------------------------------------
    breaker_fail_max: int = Field(5, ge=1)
    breaker_reset_timeout_s: float = Field(30.0, gt=0)
    breaker_success_threshold: int = Field(1, ge=1)
    breaker_redis_retry_s: float = Field(5.0, gt=0)  # Redis down: in-process state this long

    # --- cost (spec prices and budgets) --------------------------------------------------
    price_input_per_token_usd: float = Field(0.0000002, ge=0)
    price_output_per_token_usd: float = Field(0.0000006, ge=0)
    user_daily_budget_usd: float = Field(5.0, gt=0)
    global_daily_budget_usd: float = Field(100.0, gt=0)
    budget_alert_ratio: float = Field(0.8, gt=0, le=1)
    budget_tighten_ratio: float = Field(0.9, gt=0, le=1)
    # While Redis (the shared ledger) is unreachable, each process may spend this share of
    # what is left of a budget (from PostgreSQL's record); without PostgreSQL either, paid
    # generation pauses (BUDGET_UNAVAILABLE).
    budget_outage_share: float = Field(0.1, gt=0, le=1)

    # --- app -----------------------------------------------------------------------------
    # Threads per worker for the blocking pipeline: a miss holds one for the whole LLM call
    # (3.5 s in the seeds), so the default 40 queues cache hits behind misses under load.
    app_threads: int = Field(128, ge=1, le=4096)
    # How long a thread of the app may hold the GIL while others wait (sys.setswitchinterval;
    # None leaves Python's 5 ms). Measured under load in docs/scaling.md: shorter is worse.
    switch_interval_ms: float | None = Field(None, gt=0, le=100)
    # Idle keep-alive of the server; longer than the gateway's (uvicorn's 5 s closes
    # connections that a gateway or a thinking client still holds).
    keep_alive_s: int = Field(75, ge=1)
    # uvicorn's supervisor kills a worker that does not answer its ping within this many seconds
    # (uvicorn's default 5 s kills a worker busy embedding on a loaded machine, with every
    # request it holds: seen as 100 % HTTPConnectionClosed at load average 100+).
    worker_healthcheck_s: int = Field(60, ge=1)
    # Request bodies are refused over these sizes (413) before they are read or the token is
    # checked: the question routes, the single-note routes, the bulk route.
    max_body_bytes: int = Field(64 * 1024, ge=1_024)
    max_note_body_bytes: int = Field(512 * 1024, ge=1_024)
    max_bulk_body_bytes: int = Field(16 * 1024 * 1024, ge=1_024)
    # /metrics: on the API port, behind ``metrics_token`` when one is set; with
    # ``metrics_port`` it is served on that port only (and 404 on the API port). The prod
    # profile serves no metrics on the API port without a token.
    metrics_token: SecretStr | None = None
    metrics_port: int | None = Field(None, ge=1, le=65_535)
    metrics_host: str = "127.0.0.1"  # where the metrics port listens (0.0.0.0 in a container)
    auth_enabled: bool = True
    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_public_key: str | None = None  # PEM text, or the path of a PEM file
    jwt_jwks_url: str | None = None  # the gateway's JWKS (RS256/ES256 keys by "kid")
    jwt_jwks_cache_s: int = Field(300, ge=1)  # how long fetched keys are kept
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = "HS256"
    jwt_issuer: str | None = None  # required "iss" when set
    jwt_audience: str | None = None  # required "aud" when set (comma-separated: any of them)
    jwt_max_ttl_s: int = Field(86_400, ge=60)  # tokens living longer (exp - iat) are refused
    jwt_leeway_s: int = Field(10, ge=0, le=300)  # clock skew allowed on exp / iat / nbf
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None
    log_level: str = "INFO"
    # --- answers, verdicts and the query log (issue 36: rag_core.answers.log, feedback) -----
    # How long an answer id stays resolvable (its record in PostgreSQL; a verdict after that
    # is refused as unknown).
    answer_record_days: int = Field(30, ge=1)
    # Opt-in: every question's text, time, user hash, cache outcome and cost in PostgreSQL
    # (``rag-core querylog export``), kept ``query_log_days`` days.
    query_log: bool = False
    query_log_days: int = Field(30, ge=1)

    # --- input and identity hardening (issue 35) ---
    # After a failed JWKS fetch, tokens with an unknown key get 503 at once for this long (and
    # an unknown kid refetches at most once per this long after a good fetch).
    jwt_jwks_cooldown_s: int = Field(30, ge=1)
    # /docs, /redoc and /openapi.json: None = on in every profile but prod (404 there).
    api_docs: bool | None = None
    # A request body's next part must arrive within this many seconds, else 408 and the
    # connection is closed (a client that declares more body than it sends).
    body_read_timeout_s: float = Field(15.0, gt=0)
    # Per-user write quota of the notes API: bytes of notes (each note at least 4 KiB) per
    # window; 2 MiB a minute is 512 short notes. 0: no quota.
    write_quota_bytes: int = Field(2 * 1024 * 1024, ge=0)
    write_quota_window_s: int = Field(60, ge=1)

    # --- Redis write path and cache bounds (deletes that stay deleted; a Redis that cannot
    # fill). ``cache_max_entries`` caps every cache layer, across all users, in Redis as in
    # process; a layer named here gets a tighter bound of its own (``{"semantic": 5000}``).
    cache_layer_max_entries: dict[str, int] = Field(default_factory=dict)

    def layer_bound(self, layer: str) -> int:
        """The most entries the cache layer ``layer`` may hold, across all users."""
        own = self.cache_layer_max_entries.get(layer)
        return self.cache_max_entries if own is None else max(1, min(own, self.cache_max_entries))

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: Any) -> Any:
        """Fill profile defaults for fields that the caller and the env left unset."""
        if not isinstance(data, dict):
            return data
        profile = data.get("profile") or data.get("RAG_PROFILE") or "prod"
        for name, value in PROFILE_DEFAULTS.get(str(profile), {}).items():
            data.setdefault(name, value)
        return data

    @field_validator("database_replica_url", "llm_base_url", "jwt_public_key", "jwt_jwks_url",
                     "jwt_issuer", "jwt_audience", "otel_endpoint", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        """``RAG_LLM_BASE_URL=`` (as compose's ``${VAR:-}`` gives) means unset, not ''."""
        return None if isinstance(value, str) and not value.strip() else value

    # --- semantic-cache mode (issue 33, rag_core/decisions/) ------------------------------
    # strict: a reuse justified word by word (0 false hits measured on every labelled set);
    # loose: the older rules, more reuse and some false hits; off: no semantic cache at all
    # (as semantic_cache_enabled=false). docs/decisions.md has the figures of each.
    semantic_mode: Literal["strict", "loose", "off"] = "strict"

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        if self.budget_alert_ratio > self.budget_tighten_ratio:
            raise ValueError("budget_alert_ratio must not exceed budget_tighten_ratio")
        for name in ("llm_base_url", "llm_router_url", "jwt_jwks_url"):
            value = getattr(self, name)
            if value is not None and not value.startswith(("http://", "https://")):
                raise ValueError(f"{name} must be an http:// or https:// URL, not {value!r}")
        return self

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def model_cache_path(self) -> Path:
        """Where exported embedding models are cached (shared by every process and state
        folder of a machine user; ``<state_dir>/models`` when the user has no cache folder)."""
        return self.model_cache_dir or _user_model_cache() or self.state_dir / "models"

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields changed, validated again (notebooks and tests use it)."""
        data = self.model_dump()
        data.update(changes)
        return Settings(**data)

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> Settings:
        """``Settings(**fields)`` for values known only as ``object`` (a notebook's ``settings``
        mapping, a harness's choices): validation checks each against its field's type."""
        values: dict[str, Any] = dict(fields)
        return cls(**values)
