"""``POST /v1/query``: the question route, its one handler, and the answer as JSON or as an
event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Mapping
from dataclasses import replace
from typing import Any, Final

import anyio
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from rag_core.answer import Answer
from rag_core.api.cache_controls import check_controls, control_for, echo_for
from rag_core.api.conversation_query import converse
from rag_core.api.deps import CallerDep, PipelineDep, SettingsDep, current_caller, get_pipeline
from rag_core.api.errors import error_event
from rag_core.api.question_gate import admit, counting, place
from rag_core.api.schemas import (
    AnswerOut,
    DecisionsOut,
    QueryIn,
    answer_headers,
    question_responses,
)
from rag_core.cache.control import CacheControl
from rag_core.decision_records import Decisions
from rag_core.errors import RagError
from rag_core.limits import Admission
from rag_core.limits.gate import Counting
from rag_core.pipeline import Pipeline
from rag_core.store.filters import Filters

router = APIRouter()

SSE_DOC = ("With `stream: true`: `text/event-stream` with `delta` events (`{\"text\"}`, text "
           "that passed the output checks), then one `answer` event (the JSON of a "
           "non-streamed answer), or an `error` event (`{\"code\", \"message\", "
           "\"request_id\", \"retry_after\"}`) when the model fails after text was sent.")


async def query(body: QueryIn, request: Request, caller: CallerDep, pipeline: PipelineDep,
                settings: SettingsDep) -> Any:
    """Answer a question from your notes. `filters` narrow the search to the notes that pass
    them; every `no_context` answer says why in `no_context_reason`; `debug: true` (or the
    `dev` profile) adds the pipeline's `decisions`. Each reply carries `RateLimit-Limit`,
    `RateLimit-Remaining` and `RateLimit-Reset` (seconds) of the tightest of your limits; over
    one: 429 `RATE_LIMITED` naming it (`minute`, `hour`, `day`, `in_flight`), over a global
    one or past the service's capacity (a question that could not start its work within 1 s
    of its arrival, refused as soon as that is predicted and at the latest at that second):
    503 `OVERLOADED`, each with `Retry-After`. `cache` controls how this question uses
    the caches (`no_cache`, `no_store`, `max_age_s`)."""
    rid, user = request.state.request_id, caller.subject
    check_controls(body, settings.caches, caller.scopes)
    if body.conversation_id is not None:
        return await in_conversation(request, pipeline, user, body, rid,
                                     body.debug or settings.profile == "dev")
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


async def in_conversation(request: Request, pipeline: Pipeline, user: str, body: QueryIn,
                          rid: str, show: bool) -> Response:
    """A question of a conversation (``api.conversation_query``), holding a place in flight
    from before its rewrite to its answer's end."""
    admission = await admit(request, user)
    try:
        made = await converse(pipeline, user, body, rid)
    except RagError as exc:
        raise _released(exc, admission) from None
    except BaseException:
        _release(admission)
        raise
    if isinstance(made, Answer):
        _release(admission)
        response = answer_response(made, decisions=show, echo=echo_for(body))
        response.headers.update(_headers(admission))
        return response
    first, events = made
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
    question counted in its windows at its exact lookup, in that read's round trip; a place
    in flight only when it goes past the exact cache."""
    windows = await counting(request, user)
    response = await answer_json(pipeline, user, body, rid, windows,
                                 show_decisions=body.debug or profile == "dev",
                                 arrived=getattr(request.state, "arrived", None))
    response.headers.update(_headers(windows.admission if windows is not None else None))
    return response


async def answer_json(pipeline: Pipeline, user: str, body: QueryIn, rid: str,
                      windows: Counting | None, *, show_decisions: bool,
                      arrived: float | None = None) -> Response:
    """A non-streamed answer: an exact cache hit in this task, with no place in flight;
    anything else in a thread, holding a place taken once it goes past the exact cache
    (``windows``: counted at the lookup, and let through); ``decisions`` in it when
    ``show_decisions`` (asked for, or the dev profile); ``arrived``: when the request reached
    the service (``api.received``), whence its deadline for a work slot counts."""
    held: list[Admission | None] = []

    async def take_place() -> None:
        held.append(await place(windows.admission if windows is not None else None))

    try:
        answer = await pipeline.answer(
            user, body.query, top_k=body.top_k, request_id=rid, control=control_for(body),
            filters=Filters.from_dict(body.filters.model_dump() if body.filters else None),
            past_cache=take_place, counting=windows, arrived=arrived)
    except RagError as exc:
        raise _released(exc, held[0] if held else None) from None
    finally:
        for admission in held:
            _release(admission)
    return answer_response(answer, decisions=show_decisions, echo=echo_for(body))


class QueryRoute(APIRoute):
    """``POST /v1/query`` with one handler: the endpoint called with what it declares, read
    here rather than by FastAPI's resolution of dependencies, which cost a cached answer more
    CPU than the rest of the route (``benchmarks/bench_app.py``). Every call reads them the
    same way: the body as ``QueryIn`` (FastAPI's 400 for a body that is not JSON, its 422 for
    one the schema refuses), the caller as ``deps.current_caller`` finds it (the token
    ``AuthFirst`` verified before the body was read), the pipeline as ``deps.get_pipeline``
    (503 before the service is ready), in FastAPI's order. The OpenAPI document is FastAPI's,
    made from the endpoint's signature: exactly what this handler reads."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[object, object, Response]]:
        async def handler(request: Request) -> Response:
            sent = await _json_body(request)
            caller = await current_caller(request, None)
            pipeline = await get_pipeline(request)
            response: Response = await query(_query_in(sent), request, caller, pipeline,
                                             request.app.state.settings)
            return response

        return handler


EMPTY: Final = object()  # a request without a body


async def _json_body(request: Request) -> object:
    """The body as JSON when it says it is (or says nothing), else its bytes, which the schema
    refuses; ``EMPTY`` when there is none. Not JSON: FastAPI's ``json_invalid`` (answered
    400)."""
    raw = await request.body()
    if not raw:
        return EMPTY
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if kind != "application/json" and not kind.endswith("+json"):
        return raw
    try:
        return json.loads(raw)
    except ValueError as exc:
        where = exc.pos if isinstance(exc, json.JSONDecodeError) else 0
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", where),
                                       "msg": "JSON decode error", "input": {}}]) from None


def _query_in(sent: object) -> QueryIn:
    """The body validated as ``QueryIn``, its errors located under ``body`` as FastAPI's."""
    if sent is EMPTY:
        raise RequestValidationError([{"type": "missing", "loc": ("body",),
                                       "msg": "Field required", "input": None}])
    try:
        return QueryIn.model_validate(sent, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])}
                                      for e in exc.errors(include_url=False)]) from None


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


def _only_when_degraded(out: AnswerOut) -> dict[str, Any]:
    """The fields a non-degraded answer leaves out of its JSON, and a stateless one's (its
    JSON is as it was before conversations)."""
    left: dict[str, Any] = {} if out.degraded else {"degraded": True, "degraded_reason": True}
    if out.conversation_id is None:
        left |= {"conversation_id": True, "standalone_question": True,
                 "conversation_saved": True}
    if out.decisions is not None:  # records a request did not make (a conversation, routing)
        absent = {name: True for name in ("standalone", "route")
                  if getattr(out.decisions, name) is None}
        if absent:
            left["decisions"] = absent
    return left


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


