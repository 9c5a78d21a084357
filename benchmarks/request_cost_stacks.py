"""Where a worker's CPU goes, from py-spy's raw (collapsed) stacks: each sample is put in the
step or component of its innermost frame that one of ``BUCKETS`` names (pure; used by
``bench_request_cost.py``).

A line of ``py-spy record --format raw`` is ``frame;frame;...;frame COUNT``, outermost first,
each frame ``function (file:line)``, the file relative to its ``sys.path`` entry
(``json/decoder.py``, ``rag_core/tokens.py``) or absolute. A sample is counted once, in the
first bucket whose pattern matches a frame, walking from the innermost frame outwards: a JSON
encode inside the Redis client counts as JSON, a Redis call inside the semantic cache as
Redis.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

# (bucket, regular expression on one frame), most specific first within a frame
BUCKETS: tuple[tuple[str, str], ...] = (
    ("JSON encode/decode", r"[(/]json/|orjson|dump_json"),
    ("pydantic validation", r"pydantic|model_validate|validate_python"),
    ("JWT verify (auth)", r"[(/]jwt/|verify_token|auth_first|rag_core/api/auth"),
    ("request limits", r"rag_core/limits|question_gate|rag_core/api/body_limits"),
    ("Redis client (round trips)", r"[(/]redis/|[(/]hiredis|redis_kv/"),
    ("PostgreSQL client", r"psycopg"),
    ("spaCy (parse of the question)", r"[(/](?:spacy|thinc|blis)/"),
    ("pythonbible (references)", r"pythonbible"),
    ("embedding (model)", r"torch|sentence_transformers|tokenizers|transformers/|onnx|"
                          r"rag_core/embedding"),
    ("LLM client (httpx)", r"httpx|httpcore|rag_core/llm/"),
    ("metrics (prometheus)", r"prometheus_client|rag_core/observability"),
    ("tracing (OTel)", r"opentelemetry|rag_core/tracing|rag_core/telemetry"),
    ("logging", r"[(/]logging/|JsonFormatter"),
    ("safety checks", r"rag_core/safety|rag_core/postprocess"),
    ("semantic cache", r"rag_core/cache/semantic|rag_core/decisions/semantic"),
    ("no-context decision", r"rag_core/decisions"),
    ("caches (other)", r"rag_core/cache/"),
    ("retrieval (store)", r"rag_core/store"),
    ("costs / ledger", r"rag_core/costs"),
    ("answer to JSON (route)", r"answer_response \(|_explain \(|_only_when_degraded"),
    ("query route (body, controls)", r"_short_way|check_controls|answer_json|limited_answer"),
    ("pipeline (other rag_core)", r"rag_core/"),
    ("HTTP server (uvicorn, h11/httptools)", r"uvicorn|h11|httptools"),
    ("ASGI framework (starlette, FastAPI)", r"starlette|fastapi|anyio"),
    ("event loop / threads", r"asyncio|concurrent/futures|threading|selectors|uvloop"),
)
_COMPILED = tuple((name, re.compile(pattern)) for name, pattern in BUCKETS)
OTHER = "other"


def bucket_of(frames: list[str]) -> str:
    """The bucket of one sample: its innermost frame that a bucket names."""
    for frame in reversed(frames):
        for name, pattern in _COMPILED:
            if pattern.search(frame):
                return name
    return OTHER


def parse_line(line: str) -> tuple[list[str], int] | None:
    """A raw py-spy line as its frames (outermost first, the process and thread frames
    left out) and its sample count; None for a blank or foreign line."""
    stack, _, count = line.rstrip().rpartition(" ")
    if not stack or not count.isdigit():
        return None
    frames = [f for f in stack.split(";")
              if not f.startswith(("process ", "thread ")) and f.strip()]
    return frames, int(count)


def tally(lines: Iterable[str], classify: Callable[[list[str]], str]) -> Counter[str]:
    """Samples per class (``classify`` of each stack) over every line of a raw py-spy file."""
    counts: Counter[str] = Counter()
    for line in lines:
        parsed = parse_line(line)
        if parsed is not None:
            counts[classify(parsed[0])] += parsed[1]
    return counts


def buckets(lines: Iterable[str]) -> Counter[str]:
    """Samples per bucket (the innermost library) over every line of a raw py-spy file."""
    return tally(lines, bucket_of)


# The step of the request a sample is in: the innermost frame that one of these names (the
# pipeline's steps as ``Pipeline.ask`` runs them, the route and the middleware around them)
STEPS: tuple[tuple[str, str], ...] = (
    ("output guard (leak, markup)", r"OutputGuard|rag_core/postprocess"),
    ("generation (LLM call, bill, ledger)", r"GenerationStep\._call"),
    ("after the answer (caches, records)", r"GenerationStep\._finish|\bkeep \(|PgRecords"),
    ("build context (note guard, tokens)", r"select_context|build_prompt"),
    ("no-context decision", r"FactsJudge|decide_relevance"),
    ("semantic cache lookup", r"similar_answer"),
    ("scope of the question (notes' facts)", r"Scope\.narrow"),
    ("retrieve (context cache, store)", r"ContextLayer\.chunks|search_store"),
    ("embed the question", r"EmbeddingLayer\.vector"),
    ("answer lookup (notes version, L1)", r"ExactLookup\.a?read|AnswerLayer\.a?lookup"),
    ("validate the question (safety)", r"Pipeline\._validate|validate_query"),
    ("pipeline (other)", r"Pipeline\.|rag_core/pipeline"),
    ("answer to JSON (route)", r"answer_response \("),
    ("request limits", r"rag_core/limits|question_gate|\badmit \("),
    ("query route (body, thread hop)", r"_short_way|limited_answer|answer_json"),
    ("JWT verify (auth)", r"AuthFirst|verify_claims|TokenVerifier"),
    ("middleware (request id, body limit, metrics, log)", r"rag_core/api/|rag_core/observab"),
    ("HTTP server, ASGI, event loop", r"uvicorn|starlette|fastapi|asyncio"),
)
_STEPS = tuple((name, re.compile(pattern)) for name, pattern in STEPS)


def step_of(frames: list[str]) -> str:
    """The step of one sample: its innermost frame that a step names (``STEPS``)."""
    for frame in reversed(frames):
        for name, pattern in _STEPS:
            if pattern.search(frame):
                return name
    return "background threads (flushers, watchers)"


def steps(lines: Iterable[str]) -> Counter[str]:
    """Samples per step of the request over every line of a raw py-spy file."""
    return tally(lines, step_of)
