"""Values that were settings once and are fixed now: no user or notebook changed them, and no
measurement behind a default varies them as settings. Code reads them here at run time
(``fixed.NAME``), so a test may patch one.

``RETIRED`` maps each old setting name to its constant: an old ``RAG_*`` variable logs a
warning at start, and naming one in ``with_overrides`` or ``--param settings=`` is an error.
"""

from __future__ import annotations

# --- services -------------------------------------------------------------------------------
# how long the pool tries to reconnect to PostgreSQL before it reports the database down
DB_RECONNECT_TIMEOUT_S = 10.0
# the read replica's lag is read this often; a dead replica is tried again after this long
REPLICA_CHECK_INTERVAL_S = 1.0
REPLICA_RETRY_S = 10.0
# PostgreSQL cancels a statement that runs longer (a dead or stuck database must fail fast).
DB_STATEMENT_TIMEOUT_MS = 10_000
# Idle keep-alive of `rag-core serve`: longer than a gateway's, so it is the gateway that closes.
KEEP_ALIVE_S = 75
# Request bodies above these sizes are refused (413) before they are read: a question, one note,
# the bulk route.
MAX_BODY_BYTES = 64 * 1024
MAX_NOTE_BODY_BYTES = 512 * 1024
MAX_BULK_BODY_BYTES = 16 * 1024 * 1024

# --- the no-context decision (rag_core/decisions/relevance.py; chosen on the dev split) -------
# the facts rule: a name, number, date or scripture reference the question names must be in
# one of the user's notes (rag_core/decisions/note_facts.py); False is the ablation
RELEVANCE_NAMES = True
# Rules that no longer exist (a refusal rests on a missing fact, never on which nouns appear):
# their old variables still log a warning and change nothing.
RELEVANCE_COVERAGE = False
RELEVANCE_MIN_COVERAGE = 0.0
RELEVANCE_CONFIDENT = 0.0
RELEVANCE_WORD_SIMILARITY = 0.0

# --- the semantic cache ------------------------------------------------------------------------
# which evidence of two questions had to agree before loose reused an answer; loose has no
# evidence rule since issue 45 (it refused paraphrases only): the value changes nothing
SEMANTIC_EVIDENCE = "note"

# --- caches -----------------------------------------------------------------------------------
CONTEXT_CACHE_MAX_BYTES = 64 * 1024 * 1024  # the in-process context cache's size bound
STALE_TTL_S = 7 * 86_400  # an answer is kept this long to be served while the model is down
REDIS_TIMEOUT_S = 0.25  # one Redis call; past it the caches fail open
# a user's notes version in Redis is re-read from PostgreSQL at least this often
NOTES_VERSION_TTL_S = 300

# --- calls to the model -----------------------------------------------------------------------
# the OpenAI-compatible router used without RAG_LLM_BASE_URL (a proxy is a RAG_LLM_BASE_URL)
LLM_ROUTER_URL = "https://router.huggingface.co/v1"
# streamed text leaves only once the output checks have seen this many characters beyond it
# (an echo of the instructions is recognised only when enough of it has arrived)
STREAM_HOLDBACK_CHARS = 160
LLM_CONNECT_TIMEOUT_S = 3.0  # connecting to the model's server
BREAKER_REDIS_RETRY_S = 5.0  # while Redis is down the breaker keeps its state in process this long
LLM_BACKOFF_MAX_S = 2.0  # the cap of one backoff sleep between retries
LLM_RETRY_AFTER_MAX_S = 5.0  # a 429 asking to wait longer is not retried
LLM_RETRY_BUDGET_S = 20.0  # no retry starts after this long

# --- money ------------------------------------------------------------------------------------
BUDGET_ALERT_RATIO = 0.8  # share of a budget spent at which an alert is logged and counted
BUDGET_TIGHTEN_RATIO = 0.9  # share of a budget spent at which the output budget is halved
# while Redis (the shared ledger) is unreachable, each process may spend this share of what is
# left of a budget (from PostgreSQL's record)
BUDGET_OUTAGE_SHARE = 0.1
# A provider's reported usage is billed only within these bounds (``rag_core.llm.usage``), and
# no settle bills past the reservation by more: output tokens up to the request's max_tokens
# plus a few (a stop token counted); input tokens within a factor of our own count of the
# prompt, plus a fixed allowance (its tokenizer and chat template are not ours).
USAGE_OUTPUT_SLACK_TOKENS = 8
USAGE_INPUT_RATIO = 1.5
USAGE_INPUT_SLACK_TOKENS = 64

# --- auth and observability -------------------------------------------------------------------
JWT_LEEWAY_S = 10  # clock skew allowed on a token's exp, iat and nbf
JWT_JWKS_CACHE_S = 300  # how long keys fetched from the gateway's JWKS are kept
# after a failed JWKS fetch, unknown keys get 503 at once for this long; an unknown kid
# refetches at most this often
JWT_JWKS_COOLDOWN_S = 30
ANSWER_RECORD_DAYS = 30  # how long an answer id can still receive a verdict
QUERY_LOG_DAYS = 30  # how long the opt-in query log keeps a question
METRICS_HOST = "127.0.0.1"  # where the separate metrics port (RAG_METRICS_PORT) listens
WRITE_QUOTA_WINDOW_S = 60  # the window of a user's note write quota (RAG_WRITE_QUOTA_BYTES)
# None: the OTLP exporter reads the standard OTEL_EXPORTER_OTLP_ENDPOINT itself
OTEL_ENDPOINT: str | None = None

# --- retrieval --------------------------------------------------------------------------------
HNSW_MAX_SCAN_TUPLES = 20_000  # pgvector's bound on an iterative index scan
BM25_METADATA_WEIGHT = 2.0  # a title/speaker/scripture occurrence counts this often (a prior)
# hybrid_prf's feedback pass (rag_core.store.searching.prf_search), chosen by a simulation in
# Python on the four shared public sets (docs/retrieval-public.md, "How the settings were
# chosen"; the neighbours of this point were within 0.005 nDCG@10):
PRF_DOCS = 3  # the first pass's best chunks taken as feedback
PRF_TERMS = 50  # the feedback chunks' most probable lexemes added to BM25's query (RM3)
PRF_QUERY_WEIGHT = 0.5  # the share of the question's own lexemes in RM3's query
PRF_VECTOR_WEIGHT = 0.5  # the question's unit vector plus this times the chunks' mean vector
PRF_RRF_K = 10  # the second pass's RRF offset
PRF_LEXICAL_WEIGHT = 1.0  # the second pass's lexical weight

# How long one app thread may hold the GIL: Python's own 5 ms (1 ms nearly doubled p99 under
# load, 20 and 50 ms were within the noise: docs/scaling.md).
SWITCH_INTERVAL_MS = None

# loose mode's corroborated band (same best chunk and sentence below the threshold): measured
# at 0.40 and left off (docs/decisions.md), retired with its code in issue 45; 1.0 is off.
SEMANTIC_CORROBORATED_FLOOR = 1.0

RETIRED: dict[str, str] = {
    "semantic_corroborated_floor": "SEMANTIC_CORROBORATED_FLOOR",
    "switch_interval_ms": "SWITCH_INTERVAL_MS",
    "db_statement_timeout_ms": "DB_STATEMENT_TIMEOUT_MS",
    "db_reconnect_timeout_s": "DB_RECONNECT_TIMEOUT_S",
    "replica_check_interval_s": "REPLICA_CHECK_INTERVAL_S",
    "replica_retry_s": "REPLICA_RETRY_S",
    "max_body_bytes": "MAX_BODY_BYTES",
    "breaker_redis_retry_s": "BREAKER_REDIS_RETRY_S",
    "llm_backoff_max_s": "LLM_BACKOFF_MAX_S",
    "llm_retry_after_max_s": "LLM_RETRY_AFTER_MAX_S",
    "llm_retry_budget_s": "LLM_RETRY_BUDGET_S",
    "jwt_jwks_cache_s": "JWT_JWKS_CACHE_S",
    "jwt_jwks_cooldown_s": "JWT_JWKS_COOLDOWN_S",
    "keep_alive_s": "KEEP_ALIVE_S",
    "max_note_body_bytes": "MAX_NOTE_BODY_BYTES",
    "max_bulk_body_bytes": "MAX_BULK_BODY_BYTES",
    "relevance_names": "RELEVANCE_NAMES",
    "relevance_coverage": "RELEVANCE_COVERAGE",
    "relevance_min_coverage": "RELEVANCE_MIN_COVERAGE",
    "relevance_confident": "RELEVANCE_CONFIDENT",
    "relevance_word_similarity": "RELEVANCE_WORD_SIMILARITY",
    "semantic_evidence": "SEMANTIC_EVIDENCE",
    "context_cache_max_bytes": "CONTEXT_CACHE_MAX_BYTES",
    "stale_ttl_s": "STALE_TTL_S",
    "redis_timeout_s": "REDIS_TIMEOUT_S",
    "notes_version_ttl_s": "NOTES_VERSION_TTL_S",
    "llm_connect_timeout_s": "LLM_CONNECT_TIMEOUT_S",
    "budget_alert_ratio": "BUDGET_ALERT_RATIO",
    "budget_tighten_ratio": "BUDGET_TIGHTEN_RATIO",
    "jwt_leeway_s": "JWT_LEEWAY_S",
    "answer_record_days": "ANSWER_RECORD_DAYS",
    "otel_endpoint": "OTEL_ENDPOINT",
    "hnsw_max_scan_tuples": "HNSW_MAX_SCAN_TUPLES",
    "bm25_metadata_weight": "BM25_METADATA_WEIGHT",
    "prf_docs": "PRF_DOCS",
    "prf_terms": "PRF_TERMS",
    "prf_query_weight": "PRF_QUERY_WEIGHT",
    "prf_vector_weight": "PRF_VECTOR_WEIGHT",
    "prf_rrf_k": "PRF_RRF_K",
    "prf_lexical_weight": "PRF_LEXICAL_WEIGHT",
    "llm_router_url": "LLM_ROUTER_URL",
    "stream_holdback_chars": "STREAM_HOLDBACK_CHARS",
    "budget_outage_share": "BUDGET_OUTAGE_SHARE",
    "query_log_days": "QUERY_LOG_DAYS",
    "metrics_host": "METRICS_HOST",
    "write_quota_window_s": "WRITE_QUOTA_WINDOW_S",
}

# the fixed values that shape an answer: the answer cache key names them
SHAPES_ANSWERS = ("relevance_names", "semantic_evidence", "semantic_corroborated_floor",
                  "bm25_metadata_weight", "prf_docs", "prf_terms", "prf_query_weight",
                  "prf_vector_weight", "prf_rrf_k", "prf_lexical_weight")


def value(name: str) -> object:
    """The fixed value of the retired setting ``name``."""
    return globals()[RETIRED[name]]
