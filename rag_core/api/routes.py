"""The routes of the question side of the API: health, readiness, metrics, query, stats."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping
from dataclasses import replace
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from rag_core.api.auth import scopes
from rag_core.api.auth_first import CLAIMS
from rag_core.api.cache_controls import check_controls, control_for, echo_for
from rag_core.api.deps import CallerDep, PartsDep, PipelineDep, SettingsDep, UserDep
from rag_core.api.errors import error_event
from rag_core.api.question_gate import admit, count, gate_of, place, tier_of
from rag_core.api.schemas import (
    AnswerOut,
    DecisionsOut,
    FeedbackIn,
    FeedbackOut,
    LimitsOut,
    QueryIn,
    StatsOut,
    answer_headers,
    error_responses,
    question_responses,
)
from rag_core.cache.control import CacheControl
from rag_core.cache.shares import user_shares
from rag_core.config import Settings
from rag_core.decision_records import JsonObject
from rag_core.errors import Forbidden, NotFound, RagError, Unauthorized
from rag_core.limits import Admission
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.store.filters import Filters
from rag_core.telemetry.metrics import metrics_text
from rag_core.types import Answer, Decisions

router = APIRouter()

SSE_DOC = ("With `stream: true`: `text/event-stream` with `delta` events (`{\"text\"}`, text "
           "that passed the output checks), then one `answer` event (the JSON of a "
           "non-streamed answer), or an `error` event (`{\"code\", \"message\", "
           "\"request_id\", \"retry_after\"}`) when the model fails after text was sent.")


@router.get("/healthz", tags=["ops"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def operator_may_see(request: Request, settings: Settings) -> bool:
    """Whether the caller may read operational detail on the API port: the rule of
    ``/metrics`` (the metrics token when one is set; without one, every profile but prod)."""
    secret = settings.observability.metrics_token
    token = secret.get_secret_value() if secret else ""
    if not token:
        return settings.profile != "prod"
    given = request.headers.get("authorization", "").partition(" ")[2].strip()
    return hmac.compare_digest(given.encode(), token.encode())


@router.get("/readyz", tags=["ops"], responses={
    200: {"description": '`"ready"`, or `"degraded"`: PostgreSQL is down but Redis is up, so '
                         'cached answers are still served (new questions get 503 '
                         'VECTOR_SEARCH_FAILED). Only `status` for the public; `checks` and '
                         '`failing` with the metrics token (as `/metrics`)'},
    503: {"description": "not ready: Redis, the model or the LLM's configuration (Retry-After)"}})
async def readyz(request: Request, parts: PartsDep, settings: SettingsDep) -> JSONResponse:
    """Readiness for the gateway. An instance stays in rotation while it can still serve
    cached answers: a PostgreSQL outage alone is ``degraded``, not ``not_ready``. The public
    body is the status alone: which dependency fails and the breaker's state are for operators
    (``operator_may_see``)."""
    checks = await run_in_threadpool(parts.ready)
    failing = [k for k in ("postgres", "redis", "model_loaded") if not checks[k]]
    if not checks["llm"].get("ok", True):
        failing.append("llm")
    status = "ready" if not failing else "degraded" if failing == ["postgres"] else "not_ready"
    body: JsonObject = {"status": status}
    if operator_may_see(request, settings):
        body.update(checks=checks, failing=failing)
    ok = status != "not_ready"
    return JSONResponse(body, status_code=200 if ok else 503,
                        headers={} if ok else {"Retry-After": "5"})


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse,
            responses=error_responses(401, 403, 404))
async def metrics(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Prometheus text. With ``RAG_METRICS_TOKEN`` set: ``Authorization: Bearer <token>``;
    with ``RAG_METRICS_PORT``: on that port only. The prod profile serves nothing here
    without a token."""
    if settings.observability.metrics_port:
        raise NotFound(f"Metrics are served on port {settings.observability.metrics_port}.")
    secret = settings.observability.metrics_token
    token = secret.get_secret_value() if secret else ""
    if token:
        if not operator_may_see(request, settings):
            raise Unauthorized("The metrics token is missing or wrong.")
    elif settings.profile == "prod":
        raise Forbidden("Metrics are off on the API port in prod: set RAG_METRICS_TOKEN (and "
                        "give Prometheus the token) or RAG_METRICS_PORT.")
    return PlainTextResponse(metrics_text(), media_type=CONTENT_TYPE_LATEST)


async def query(body: QueryIn, request: Request, caller: CallerDep, pipeline: PipelineDep,
                settings: SettingsDep) -> Any:
    """Answer a question from your notes. `filters` narrow the search to the notes that pass
    them; every `no_context` answer says why in `no_context_reason`; `debug: true` (or the
    `dev` profile) adds the pipeline's `decisions`. Each reply carries `RateLimit-Limit`,
    `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the tightest of your limits; over
    one: 429 `RATE_LIMITED` naming it (`minute`, `hour`, `day`, `in_flight`), over a global
    one: 503 `OVERLOADED`, each with `Retry-After`. `cache` controls how this question uses
    the caches (`no_cache`, `no_store`, `max_age_s`)."""
    rid, user = request.state.request_id, caller.subject
    check_controls(body, settings.caches, caller.scopes)
    if not body.stream:
        return await limited_answer(request, pipeline, settings.profile, user, body, rid)
    admission = await admit(request, user)
    try:
        filters = Filters.from_dict(body.filters.model_dump() if body.filters else None)
        show = body.debug or settings.profile == "dev"
        events = pipeline.stream(user, body.query, top_k=body.top_k, request_id=rid,
                                 filters=filters, control=control_for(body))
        # run to the first event now, so that validation, budget and LLM refusals answer with
        # their status code before the 200 of the event stream is sent
        first = await run_in_threadpool(next, events)
    except RagError as exc:
        raise _released(exc, admission) from None
    except BaseException:
        _release(admission)
        raise
    return LimitedStream(_sse_body(first, events, show, admission, echo_for(body)), admission,
                         media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", **_headers(admission)})


class LimitedStream(StreamingResponse):
    """An event stream that gives its question's place in flight back however it ends: also
    when the client left before the body began (``_sse_body``'s own ``finally`` never runs
    then)."""

    def __init__(self, content: AsyncIterator[str], admission: Admission | None, *,
                 media_type: str, headers: dict[str, str]) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self.admission = admission

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            _release(self.admission)


def _headers(admission: Admission | None) -> dict[str, str]:
    return admission.headers if admission is not None else {}


def _release(admission: Admission | None) -> None:
    if admission is not None:
        admission.release()


def _released(exc: RagError, admission: Admission | None) -> RagError:
    """``exc`` with the question's RateLimit headers, its place in flight given back."""
    _release(admission)
    if admission is not None:
        exc.headers = {**exc.headers, **admission.headers}
    return exc


async def limited_answer(request: Request, pipeline: Pipeline, profile: str, user: str,
                         body: QueryIn, rid: str) -> Response:
    """``answer_json`` within the caller's request limits (``api.question_gate``): the
    question counted in its windows first; a place in flight only when it goes past the
    exact cache."""
    counted = await count(request, user)
    response = await answer_json(pipeline, user, body, rid, counted,
                                 show_decisions=body.debug or profile == "dev")
    response.headers.update(_headers(counted))
    return response


async def answer_json(pipeline: Pipeline, user: str, body: QueryIn, rid: str,
                      counted: Admission | None, *, show_decisions: bool) -> Response:
    """A non-streamed answer: an exact cache hit in this task, with no place in flight;
    anything else in a thread, holding a place (``counted`` was let through by the windows);
    ``decisions`` in it when ``show_decisions`` (asked for, or the dev profile)."""
    filters = Filters.from_dict(body.filters.model_dump() if body.filters else None)
    control = control_for(body)
    answer = await pipeline.cached(user, body.query, top_k=body.top_k, request_id=rid,
                                   filters=filters, control=control)
    if answer is None:
        admission = await place(counted)
        try:
            answer = await run_in_threadpool(pipeline.ask, user, body.query, top_k=body.top_k,
                                             request_id=rid, filters=filters, control=control)
        except RagError as exc:
            raise _released(exc, admission) from None
        finally:
            _release(admission)
    return answer_response(answer, decisions=show_decisions, echo=echo_for(body))


class QueryRoute(APIRoute):
    """``POST /v1/query`` as declared (its body, token and answer documented as FastAPI
    reads them), with a shorter way in for a plain JSON question whose token
    ``auth_first.AuthFirst`` verified: the body validated as ``QueryIn`` and answered by
    ``answer_json``, without FastAPI's resolution of the route's dependencies, which cost a
    cached answer more CPU than the rest of the route (``benchmarks/bench_app.py``). Anything
    else (auth off, a body FastAPI would refuse or read otherwise, a stream, the service not
    ready) goes the declared way, which reads the body this request already holds."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[object, object, Response]]:
        declared = super().get_route_handler()

        async def handler(request: Request) -> Response:
            short = await _short_way(request)
            return short if short is not None else await declared(request)

        return handler


async def _short_way(request: Request) -> Response | None:
    claims = request.scope.get("state", {}).get(CLAIMS)
    pipeline: Pipeline | None = request.app.state.pipeline
    if claims is None or pipeline is None \
            or request.headers.get("content-type") != "application/json":
        return None
    try:
        raw = await request.body()
    except HTTPException:
        raise  # over the body limit, or too slow: as FastAPI's own read lets it through
    except Exception:
        return None  # the declared way reads again, and says what FastAPI says
    try:
        body = QueryIn.model_validate(json.loads(raw))
    except (ValueError, ValidationError):  # FastAPI's 422 (or 400), the declared way
        return None
    if body.stream:
        return None
    settings: Settings = request.app.state.settings
    check_controls(body, settings.caches, scopes(claims))
    return await limited_answer(request, pipeline, settings.profile, str(claims["sub"]), body,
                                request.state.request_id)


router.add_api_route(
    "/v1/query", query, methods=["POST"], tags=["assistant"], response_model=AnswerOut,
    responses={200: {"description": "The answer (JSON), or " + SSE_DOC,
                     "content": {"text/event-stream": {}}, "headers": answer_headers()},
               **question_responses()},
    route_class_override=QueryRoute)


_ANSWER_OUT = TypeAdapter(AnswerOut)


def answer_response(answer: Answer, *, decisions: bool = False,
                    echo: CacheControl | None = None) -> Response:
    """The answer as ``AnswerOut`` documents it (its fields only), validated and encoded by
    pydantic's compiled schema in one step. Returning a dict would make FastAPI validate it,
    walk the result with ``jsonable_encoder`` and encode it again: 0.4 ms, more than the rest
    of a cached answer's path (benchmarks/bench_app.py). ``decisions``: with the pipeline's
    decisions (``DecisionsOut``); ``echo``: the question's cache controls, into ``cache``."""
    out = _ANSWER_OUT.validate_python(replace(answer, decisions=Decisions()),
                                      from_attributes=True)
    _explain(out, answer.cache, answer.decisions, decisions, echo)
    body = _ANSWER_OUT.dump_json(out, exclude=_only_when_degraded(out))
    return Response(body, media_type="application/json")


def _only_when_degraded(out: AnswerOut) -> set[str]:
    """The fields a non-degraded answer leaves out of its JSON."""
    return set() if out.degraded else {"degraded", "degraded_reason"}


def _explain(out: AnswerOut, cache: Mapping[str, str], decisions: Decisions,
             show: bool, echo: CacheControl | None = None) -> None:
    """``cache.reason`` always, the question's cache controls when it sent them; the typed
    decisions only when asked for."""
    out.cache = {**out.cache, "reason": decisions.cache_reason(cache),
                 **(echo.echo() if echo is not None else {})}
    out.decisions = DecisionsOut.model_validate(decisions.to_dict()) if show else None


async def _sse_body(first: dict[str, Any], events: Generator[dict[str, Any], None, None],
                    decisions: bool = False, admission: Admission | None = None,
                    echo: CacheControl | None = None) -> AsyncIterator[str]:
    """The events as SSE. When the client goes away the stream is closed at once (in a
    shielded scope, after the event being produced): the pipeline then bills the work done and
    releases what it reserved, instead of waiting for the garbage collector. The question's
    place in flight (``admission``) is given back as the stream ends."""
    try:
        event: dict[str, Any] | None = first
        while event is not None:
            yield _sse(event, decisions, echo)
            event = await run_in_threadpool(next, events, None)
    finally:
        with anyio.CancelScope(shield=True):
            try:
                await run_in_threadpool(events.close)
            finally:
                _release(admission)


def _sse(event: dict[str, Any], decisions: bool = False,
         echo: CacheControl | None = None) -> str:
    kind = event.get("type", "message")
    data = {k: v for k, v in event.items() if k != "type"}
    if kind == "error":
        error_event(data)
    if kind == "answer":  # the same fields as a non-streamed answer
        out = _ANSWER_OUT.validate_python({**data, "decisions": None})
        _explain(out, data.get("cache") or {}, Decisions.from_dict(data.get("decisions")),
                 decisions, echo)
        text = _ANSWER_OUT.dump_json(out, exclude=_only_when_degraded(out)).decode()
    else:
        text = json.dumps(data, default=str)
    return f"event: {kind}\ndata: {text}\n\n"


@router.get("/v1/stats", tags=["assistant"], response_model=StatsOut,
            responses=error_responses(401, 503))
async def stats(request: Request, user: UserDep, parts: PartsDep,
                settings: SettingsDep) -> JsonObject:
    """The caller's notes, spend and request limits (what is left of each). Service-wide
    figures (cache hit rates, total cost) are for operators: ``/metrics`` and ``rag-core cache
    stats``."""
    gate = gate_of(request)
    limits = None if gate is None else await gate.remaining(user, tier_of(request))

    def gather() -> JsonObject:
        spent, reserved = parts.ledger.spend(user), parts.ledger.reserved(user)
        saved = parts.ledger.saved(user)
        budget = settings.money.user_daily_budget_usd
        return {
            "user_id": user,
            "notes": {"count": len(parts.store.list_notes(user)),
                      "version": parts.store.notes_version(user)},
            "cost": {"spent_today_usd": round(spent, 6), "reserved_usd": round(reserved, 6),
                     "budget_usd": budget,
                     "remaining_usd": round(max(0.0, budget - spent - reserved), 6),
                     "saved_today_usd": round(saved, 6)},
            "cache": user_shares(parts.caches, user),
            "limits": None if limits is None else LimitsOut(
                source=limits.source, **{f"per_{w}": n or None for w, n in
                                         limits.limits.by_window().items()},
                **{f"remaining_{w}": n for w, n in limits.remaining.items()},
                in_flight=limits.in_flight,
                max_in_flight=settings.limits.user_max_in_flight or None),
            "history": caller_history(parts, user),
        }

    return await run_in_threadpool(gather)


def caller_history(parts: Parts, user: str) -> Mapping[str, Mapping[str, object]]:
    """The caller's day, week and month from PostgreSQL (nothing without it, or while down)."""
    from rag_core.costs.history import user_periods
    from rag_core.errors import DependencyError
    from rag_core.store.pgvector import PgVectorStore

    if not isinstance(parts.store, PgVectorStore):
        return {}
    try:
        return user_periods(parts.store.pool.db, user)
    except DependencyError:
        return {}


@router.post("/v1/answers/{answer_id}/feedback", tags=["assistant"], response_model=FeedbackOut,
             responses=error_responses(401, 404, 422, 429, 503))
async def feedback(answer_id: str, body: FeedbackIn, user: UserDep,
                   parts: PartsDep) -> JsonObject:
    """Say that an answer you got was wrong (or right). `wrong` takes it out of every cache
    layer of yours: asked again, the question is answered afresh, and no paraphrase reuses
    the answer. An id that is not one of your answers: 404 `ANSWER_NOT_FOUND`. One verdict
    per answer (a new one replaces yours), at most 60 an hour: 429 `FEEDBACK_RATE_LIMITED`."""
    from rag_core.answers.feedback import give_verdict

    kept = await run_in_threadpool(give_verdict, parts, user, answer_id, body.verdict,
                                   body.comment)
    return {"answer_id": answer_id, "verdict": kept.verdict, "source": kept.source,
            "removed_from_cache": kept.verdict == "wrong"}
