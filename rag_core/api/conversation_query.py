"""``POST /v1/query`` with a ``conversation_id``: the route takes the question's place in flight
first (its rewrite may call the model, and a follow-up is never an exact hit before it), then, in a
worker thread, ``answers.conversation.begin`` makes it stand alone, the pipeline answers the
standalone question (JSON or an event stream, as any question), and ``finish`` keeps the turn
and sets the answer's ``conversation_id``, ``standalone_question`` and ``conversation_saved``
(per request: never read from a cache)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from starlette.concurrency import run_in_threadpool

from rag_core.answer import Answer
from rag_core.answers.conversation import Follow, ask_in_conversation, begin, finish
from rag_core.api.cache_controls import control_for
from rag_core.api.schemas import QueryIn
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.store.filters import Filters


def finished(events: Generator[dict[str, Any], None, None], parts: Parts, user: str,
             question: str, follow: Follow) -> Generator[dict[str, Any], None, None]:
    """The stream's events, its final ``answer`` event with the conversation's fields (the
    turn kept as it passes)."""
    try:
        for event in events:
            if event.get("type") == "answer":
                data = {k: v for k, v in event.items() if k != "type"}
                done = finish(parts, user, question, follow, Answer.from_dict(data))
                event = {**event, "conversation_id": done.conversation_id,
                         "standalone_question": done.standalone_question,
                         "conversation_saved": done.conversation_saved,
                         "decisions": done.decisions.to_dict()}
            yield event
    finally:
        events.close()


Streamed = tuple[dict[str, Any], Generator[dict[str, Any], None, None]]


async def converse(pipeline: Pipeline, user: str, body: QueryIn, rid: str) -> Answer | Streamed:
    """The answer, or the stream's first event and the rest (``body.stream``); the caller holds
    the question's place in flight."""
    assert body.conversation_id is not None
    parts = pipeline.parts
    filters = Filters.from_dict(body.filters.model_dump() if body.filters else None)
    cid = body.conversation_id
    if not body.stream:
        return await run_in_threadpool(lambda: ask_in_conversation(
            pipeline, user, body.query, cid, top_k=body.top_k, request_id=rid,
            filters=filters, control=control_for(body)))
    follow = await run_in_threadpool(begin, parts, user, body.query, cid)
    events = finished(pipeline.stream(user, follow.standalone.question, top_k=body.top_k,
                                      request_id=rid,
                                      filters=filters, control=control_for(body)),
                      parts, user, body.query, follow)
    return await run_in_threadpool(next, events), events
