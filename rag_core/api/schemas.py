"""What the API takes and returns, as pydantic models: the OpenAPI document shows these."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

CacheOutcomeOut = Literal["hit", "miss", "semantic_hit", "off", "error"]
_DATE_DOC = "`YYYY`, `YYYY-MM` or `YYYY-MM-DD`, inclusive at its precision"


class FiltersIn(BaseModel):
    """Which of your notes are searched: only those that pass every filter set (a note
    without the field a filter names does not). A value that is not valid: 422
    `INVALID_FILTER`; an unknown filter: 422 `INVALID_REQUEST`."""

    model_config = ConfigDict(extra="forbid")

    speaker: str | None = Field(None, description="The note's speaker, whatever the case")
    series: str | None = Field(None, description="The note's series, whatever the case")
    tags: list[str] | None = Field(None, description="Any of these tags (whatever the case); "
                                                     "at most 20 of 40 characters")
    date_from: str | None = Field(None, description="Notes dated on or after: " + _DATE_DOC)
    date_to: str | None = Field(None, description="Notes dated on or before: " + _DATE_DOC)


class CacheControlIn(BaseModel):
    """This question's own use of the caches (`RAG_CACHE_CONTROLS_SCOPE` says who may send
    one: 403 `FORBIDDEN` otherwise). They choose only what the caches do: the question is
    limited, billed and checked like any other. An unknown key or a negative age: 422
    `INVALID_REQUEST` naming the field. Echoed under the same names in the answer's `cache`."""

    model_config = ConfigDict(extra="forbid")

    no_cache: bool = Field(False, description="Read no cache layer (answers, vectors, chunks, "
                                              "the semantic cache, the stale fallback); what "
                                              "is made is still kept unless `no_store`")
    no_store: bool = Field(False, description="Keep nothing this question makes in any cache")
    max_age_s: int | None = Field(None, ge=0, description="Serve a cached answer only when "
                                                          "it was made less than this many "
                                                          "seconds ago")


class QueryIn(BaseModel):
    query: str = Field(description="The question, 1 to 1,000 characters")
    top_k: int | None = Field(default=None, ge=1, le=50, description="Chunks to retrieve")
    stream: bool = Field(default=False, description="Answer as Server-Sent Events")
    filters: FiltersIn | None = Field(
        default=None, description="Search only the notes that pass these filters (in the "
                                  "search itself). When no note passes them the answer is "
                                  "`no_context` with `no_context_reason` `filter_no_match`, "
                                  "and no model is called")
    debug: bool = Field(default=False, description="Add `decisions` to the answer (always "
                                                   "there in the `dev` profile)")
    cache: CacheControlIn | None = Field(default=None, description="Cache controls of this "
                                                                   "question")
    conversation_id: str | None = Field(default=None, max_length=64, description=(
        "`new` starts a conversation, an id the answer gave continues it (a follow-up is made "
        "to stand alone from the earlier turns); absent: a stateless question, nothing kept. "
        "404 `CONVERSATION_NOT_FOUND` for an id you hold no conversation of"))


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


class CheckOut(BaseModel):
    """What one rule of a decision saw."""

    model_config = ConfigDict(extra="allow")

    passed: bool | None = None
    detail: str | None = None

    @field_validator("detail", mode="before")
    @classmethod
    def _as_text(cls, value: object) -> str | None:
        """A rule's detail is shown as text, whatever shape the rule gave it."""
        return value if value is None or isinstance(value, str) else str(value)


class SemanticDecisionOut(BaseModel):
    """Whether a cached answer to a reworded question was reused, and why."""

    model_config = ConfigDict(extra="allow")

    hit: bool = False
    reason: str = Field("", description="`reuse`, the rule that refused, or `no_candidate`")
    similarity: float | None = None
    matched_query: str | None = Field(None, description="The cached question compared")
    candidates: int | None = Field(None, description="Cached questions close enough")
    checks: dict[str, CheckOut] = Field(default_factory=dict)


class RelevanceDecisionOut(BaseModel):
    """The no-context decision: whether the notes found may answer the question."""

    model_config = ConfigDict(extra="allow")

    answer: bool = True
    reason: str = Field("", description="`relevant`, or the first rule that refused")
    checks: dict[str, CheckOut] = Field(default_factory=dict)


class FiltersDecisionOut(BaseModel):
    """The request's filters and whether any note passed them."""

    matched: bool
    filters: FiltersIn
    described: str = Field(description="The filters in words")


class NarrowedOut(BaseModel):
    """Filters read from the question: a speaker, series or year it names that is a
    front-matter value of your notes. Only the notes whose front matter has it, or whose text
    names it, were searched; a filter of the request wins for its field."""

    speaker: list[str] = Field(default_factory=list, description="Speakers named")
    speaker_words: list[str] = Field(default_factory=list, description=(
        "Words of a named speaker's name that no other speaker's holds: a text that writes "
        "one of them alone names the speaker too"))
    series: list[str] = Field(default_factory=list, description="Series named")
    year: str | None = Field(None, description="The one year named (a note dated that year, "
                                               "or whose text holds it)")
    described: str = Field("", description="These filters in words")


class RouteDecisionOut(BaseModel):
    """Model routing's choice (`RAG_LLM_ROUTE=on`): the cheap model or the main one."""

    model_config = ConfigDict(extra="allow")

    route: str = Field("", description="`cheap` or `main`")
    model: str = Field("", description="The model the rule sent the question to")
    reason: str = Field("", description="`easy`, or the first rule that kept it off the "
                                        "cheap model")
    checks: dict[str, CheckOut] = Field(default_factory=dict)
    fell_back: bool = Field(False, description="The cheap model failed; the main one was asked")


class StandaloneOut(BaseModel):
    question: str
    made_by: Literal["model", "rules", "unchanged"]
    reason: str = ""


class DecisionsOut(BaseModel):
    """Why the answer is what it is (a decision the request did not reach is absent)."""

    model_config = ConfigDict(extra="allow")

    filters: FiltersDecisionOut | None = None
    narrowed: NarrowedOut | None = Field(None, description="Filters read from the question, "
                                                           "absent when it names none")
    semantic: SemanticDecisionOut | None = None
    relevance: RelevanceDecisionOut | None = None
    route: RouteDecisionOut | None = None
    standalone: StandaloneOut | None = Field(None, description=(
        "A question asked in a conversation: the standalone question and how it was made"))


class AnswerOut(BaseModel):
    answer: str = Field(description=(
        "The answer as text, with the notes' characters as written (`<MIME>`, `a < b`): nothing "
        "is HTML-escaped, so a client renders it as text (or escapes it to show it in HTML); "
        "markup the model wrote that no retrieved note holds is removed"))
    citations: list[CitationOut]
    no_context: bool = Field(description=(
        "True when no answer was made from the notes, for one of these reasons "
        "(`no_context_reason` says which): the question was refused; no note passed its "
        "filters; the decision before the model found nothing close enough, or a name, number, "
        "date or reference the question names in none of the notes (no model was called, "
        "`generator` is 'none'); or the model read the notes and replied with the decline "
        "marker (`generator` names it, the call is billed, `decisions.declined` is set)"))
    no_context_reason: str = Field(
        "", description="Why the answer is `no_context`: a short code and a phrase (refused, "
                        "filter_no_match, not_found: with the rule and what it saw, declined, "
                        "no_context); empty when the notes answered")
    generator: str = Field(description="The generator that wrote the answer, or 'none'")
    model: str = Field("", description=(
        "The model that wrote the answer: the first provider's, the second's "
        "(`RAG_LLM_FALLBACK_MODEL`) when it answered instead, 'extractive', or 'none' when no "
        "generator ran; a cached answer names the model that wrote it"))
    cache: dict[str, CacheOutcomeOut | str | bool | int | None] = Field(
        description="Outcome per cache layer (query, embedding, context, semantic: hit, miss, "
                    "semantic_hit, off, error), and `reason`: a short code and a phrase for the "
                    "outcome (exact_hit, semantic_reuse, semantic_refused, no_candidate, "
                    "semantic_off, miss). When the question sent `cache` controls: "
                    "`no_cache`, `no_store` and `max_age_s` as applied (a layer not read under "
                    "`no_cache`, or an answer passed over as too old, is a `miss`)")
    usage: UsageOut
    cost_usd: float
    usage_source: Literal["provider", "counted"] = Field("counted", description=(
        "Whose token counts `usage` and `cost_usd` rest on: `provider` (the model's server "
        "reported them and they passed the checks: whole, not negative, output within "
        "`max_tokens`, input near the service's own count of the prompt) or `counted` (the "
        "service's own count: the provider sent none or figures that failed the checks, a "
        "streamed answer, no model call, a cache hit)"))
    timings_ms: dict[str, float]
    request_id: str
    stale: bool = Field(False, description="Served from the stale store while the model is "
                                           "unavailable")
    degraded: bool | None = Field(None, description=(
        "Present (true) only on an answer made from the notes by the extractive generator "
        "because every model failed and no stale answer was kept (`RAG_LLM_FALLBACK`); it cost "
        "nothing and is not cached"))
    degraded_reason: str | None = Field(None, description=(
        "Present only with `degraded`: a code (breaker_open, timeout, server_error, "
        "connection, refused, stream_broken, failed) and a phrase"))
    query_truncated: bool = False
    flags: list[str] = Field(default_factory=list, description="Sanitiser and output flags")
    retrieved: list[RetrievedOut] = Field(default_factory=list)
    budget_state: Literal["ok", "alert", "tightened"] = "ok"
    answer_id: str = Field("", description="Give it back to POST /v1/answers/{answer_id}/"
                                           "feedback to say the answer was wrong (or right)")
    conversation_id: str | None = Field(None, description=(
        "Only when the question sent `conversation_id`: the conversation's id (a new one for "
        "`new`); give it back with the next question to follow up"))
    standalone_question: str | None = Field(None, description=(
        "Only in a conversation: the question every step worked on (cache key, search, "
        "prompt), the follow-up made to stand alone"))
    conversation_saved: bool | None = Field(None, description=(
        "Only in a conversation: false when the turn could not be kept (Redis refused the "
        "write, or the question was refused); the answer stands all the same"))
    decisions: DecisionsOut | None = Field(
        None, description="With `debug: true` or in the `dev` profile: the decisions of the "
                          "pipeline (filters, those read from the question, semantic cache, no "
                          "context) and what each rule saw")


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
    limit: str | None = Field(None, description=(
        "RATE_LIMITED: `minute`, `hour`, `day` or `in_flight`; OVERLOADED: `concurrent` or "
        "`global_hour` (absent on other errors)"))


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


class PeriodOut(BaseModel):
    """The caller's figures over a period, from PostgreSQL (``rag_core.costs.history``)."""

    start: str
    end: str
    spent_usd: float
    saved_usd: float = Field(description="Answers served from a cache times the period's mean "
                                         "cost of one billed call (an estimate)")
    requests: int
    billed_requests: int
    refused_requests: int = Field(description="Requests turned away (input guard, budget, "
                                              "limits)")


class NotesOut(BaseModel):
    count: int
    version: int = Field(description="Bumped by every change to the caller's notes")


class CacheShareOut(BaseModel):
    entries: int = Field(description="Entries of yours this cache layer holds")
    most_while_shared: int = Field(description="The most one user may hold while other users "
                                               "hold entries (beyond it, your oldest go first)")
    layer_bound: int = Field(description="The most the layer holds across all users")


class LimitsOut(BaseModel):
    """The caller's request limits and what is left of them now (null: that window is off)."""

    source: str = Field(description="`default`, `tier:<name>` (the token's `tier` claim), "
                                    "`own` (set for you), or `own over ...`")
    per_minute: int | None
    per_hour: int | None
    per_day: int | None
    remaining_minute: int | None
    remaining_hour: int | None
    remaining_day: int | None
    in_flight: int = Field(description="Your questions being answered right now")
    max_in_flight: int | None = Field(description="The most you may have at once")


class StatsOut(BaseModel):
    """The caller's own figures only: nothing about other users or the whole service."""

    user_id: str
    notes: NotesOut
    cost: CostOut
    cache: dict[str, CacheShareOut] = Field(default_factory=dict,
                                            description="Your share of each cache layer")
    limits: LimitsOut | None = Field(None, description="Your request limits (null: no limit "
                                                       "is on)")
    history: dict[str, PeriodOut] = Field(default_factory=dict, description=(
        "Your spend as recorded: `day` (today), `week` (this ISO week), `month` (this "
        "calendar month), UTC; empty while PostgreSQL is down"))


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    text = {400: "malformed request (INVALID_REQUEST)",
            401: "missing or invalid token (UNAUTHORIZED)",
            403: "the token may not do this (FORBIDDEN)",
            404: "not found (NOT_FOUND, ANSWER_NOT_FOUND)",
            413: "body too large (TOO_LARGE)",
            422: "invalid input (INVALID_QUERY, INVALID_REQUEST, INVALID_NOTE, "
                 "INVALID_FILTER)",
            429: "daily budget used up (BUDGET_EXCEEDED), the per-user write quota "
                 "(WRITE_QUOTA_EXCEEDED) or rate of verdicts (FEEDBACK_RATE_LIMITED); retry "
                 "after Retry-After seconds",
            503: "a dependency is down; retry after Retry-After seconds"}
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}


_RATE_HEADERS = {
    "RateLimit-Limit": "the tightest of your limits (questions in its window)",
    "RateLimit-Remaining": "questions that limit has left now",
    "RateLimit-Reset": "seconds until its window has room for one more",
}


def question_responses() -> dict[int | str, dict[str, object]]:
    """The question route's error statuses, with the request limits' replies and headers."""
    documented = error_responses(400, 401, 403, 422, 429, 503)  # 403: cache controls
    headers = {name: {"description": text, "schema": {"type": "integer"}}
               for name, text in _RATE_HEADERS.items()}
    retry = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    documented[429] = {**documented[429], "headers": {**headers, **retry}, "description": (
        "a request limit of yours (RATE_LIMITED, naming `minute`, `hour`, `day` or "
        "`in_flight`), or " + str(documented[429]["description"]))}
    documented[503] = {**documented[503], "headers": retry, "description": (
        "a global request limit (OVERLOADED: every place in flight taken for 1 s, or "
        "everyone's questions of the hour used up), past the service's capacity (OVERLOADED, "
        "limit work_slots: a question that could not start its work within 1 s of its "
        "arrival, refused as soon as that is predicted; limit event_loop: the "
        "worker's event loop already late, refused at once before the token or body is read), "
        "or " + str(documented[503]["description"]))}
    return documented


def answer_headers() -> dict[str, object]:
    return {name: {"description": text, "schema": {"type": "integer"}}
            for name, text in _RATE_HEADERS.items()}
