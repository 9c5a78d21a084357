"""What the API takes and returns, as pydantic models: the OpenAPI document shows these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

CacheOutcomeOut = Literal["hit", "miss", "semantic_hit", "off", "error"]


class QueryIn(BaseModel):
    query: str = Field(description="The question, 1 to 1,000 characters")
    top_k: int | None = Field(default=None, ge=1, le=50, description="Chunks to retrieve")
    stream: bool = Field(default=False, description="Answer as Server-Sent Events")


class CitationOut(BaseModel):
    n: int = Field(description="The number used in the answer text, as [n]")
    chunk_id: str
    note_id: str
    title: str
    score: float


class UsageOut(BaseModel):
    input_tokens: int
    output_tokens: int


class RetrievedOut(BaseModel):
    chunk_id: str
    note_id: str
    title: str
    score: float = Field(description="Cosine similarity to the question")
    dense_rank: int | None = None
    lexical_rank: int | None = None
    fused_score: float | None = None


class AnswerOut(BaseModel):
    answer: str
    citations: list[CitationOut]
    no_context: bool = Field(description=(
        "True when the answer is 'nothing in your notes', for one of two reasons: the "
        "pre-LLM decision found nothing close enough or a name, number, date or reference "
        "the question names in none of the notes (no model was called, `generator` is "
        "'none', `decisions.relevance` says why), or the model read the notes and replied "
        "with the decline marker (`generator` names it, the call is billed, "
        "`decisions.declined` is set). Also true for a refused question."))
    generator: str = Field(description="The generator that wrote the answer, or 'none'")
    cache: dict[str, CacheOutcomeOut | str] = Field(
        description="Outcome per cache layer (query, embedding, context, semantic: hit, miss, "
                    "semantic_hit, off, error), and `reason`: a short code and a phrase for the "
                    "outcome (exact_hit, semantic_reuse, semantic_refused, no_candidate, "
                    "semantic_off, miss)")
    usage: UsageOut
    cost_usd: float
    timings_ms: dict[str, float]
    request_id: str
    stale: bool = Field(False, description="Served from the stale store while the model is "
                                           "unavailable")
    query_truncated: bool = False
    flags: list[str] = Field(default_factory=list, description="Sanitiser and output flags")
    retrieved: list[RetrievedOut] = Field(default_factory=list)
    budget_state: Literal["ok", "alert", "tightened"] = "ok"
    answer_id: str = Field("", description="Give it back to POST /v1/answers/{answer_id}/"
                                           "feedback to say the answer was wrong (or right)")


class FeedbackIn(BaseModel):
    verdict: Literal["wrong", "right"] = Field(description="`wrong` also takes the answer out "
                                                           "of your caches")
    comment: str | None = Field(None, max_length=2000, description="What was wrong (or the "
                                                                   "right answer)")


class FeedbackOut(BaseModel):
    answer_id: str
    verdict: Literal["wrong", "right"]
    source: str = Field(description="Who served the answer: query, semantic or stale (a "
                                    "cache layer), llm, or none")
    removed_from_cache: bool


class ErrorDetail(BaseModel):
    code: str = Field(description="A stable code such as INVALID_QUERY or LLM_UNAVAILABLE")
    message: str
    request_id: str | None


class ErrorOut(BaseModel):
    error: ErrorDetail


class CostOut(BaseModel):
    spent_today_usd: float = Field(description="Settled spend of the caller today (UTC)")
    reserved_usd: float = Field(description="Held by the caller's answers in progress")
    budget_usd: float
    remaining_usd: float
    saved_today_usd: float = Field(0.0, description="What the caches saved the caller today: "
                                                    "the model calls that cache hits replaced, "
                                                    "priced like spend")


class NotesOut(BaseModel):
    count: int
    version: int = Field(description="Bumped by every change to the caller's notes")


class StatsOut(BaseModel):
    """The caller's own figures only: nothing about other users or the whole service."""

    user_id: str
    notes: NotesOut
    cost: CostOut


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    text = {400: "malformed request (INVALID_REQUEST)",
            401: "missing or invalid token (UNAUTHORIZED)",
            403: "the token may not do this (FORBIDDEN)",
            404: "not found (NOT_FOUND, ANSWER_NOT_FOUND)",
            413: "body too large (TOO_LARGE)",
            422: "invalid input (INVALID_QUERY, INVALID_REQUEST, INVALID_NOTE)",
            429: "daily budget used up (BUDGET_EXCEEDED), or the per-user write quota "
                 "(WRITE_QUOTA_EXCEEDED); retry after Retry-After seconds",
            503: "a dependency is down; retry after Retry-After seconds"}
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}
