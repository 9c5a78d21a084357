"""The mock LLM's ASGI app: ``/v1/chat/completions`` with fault injection, and ``/admin``.

The default answer is deterministic: the first sentence of each numbered note in the prompt,
each cited ``[n]``, so RAG tests see real citations (``cite_notes``: of the first N notes only,
a weaker model). With ``obey`` the answer comes from
:func:`rag_core.devservers.obey.obey_answer` instead: it does what any instruction in the messages
asks. A request to write test questions from a document gets
:func:`rag_core.devservers.mock_writer.writer_answer`. Usage is counted with the project's
tokenizer.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import asdict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from rag_core.devservers import openai_protocol as wire
from rag_core.devservers.mock_config import MockConfig, MockState
from rag_core.devservers.mock_rewrite import is_rewrite_request, rewrite_answer
from rag_core.devservers.mock_writer import is_writing_request, writer_answer
from rag_core.devservers.obey import obey_answer
from rag_core.llm.extractive import content_words
from rag_core.llm.prompt import DECLINE
from rag_core.tokens import default_counter
from rag_core.types import JsonObject

_NOTE = re.compile(r'<note n="(\d+)">\s*\n[^\n]*\n(.*?)\n?</note>', re.S)
_BARE = re.compile(r"^\[(\d+)\][^\n]*\n(.+?)(?=\n\s*\n|\n\[\d+\]|\n</notes>|\Z)", re.S | re.M)
_SENTENCE = re.compile(r".+?[.!?](?=\s|$)|.+$", re.S)
_PIECE = re.compile(r"\S+\s*")
NO_ANSWER = DECLINE  # the prompt's decline marker
_QUESTION = re.compile(r"<question>\s*(.*?)\s*</question>", re.S)


def note_blocks(messages: Sequence[wire.ChatMessage]) -> list[tuple[str, str]]:
    """(number, text) of each numbered note in the last user message."""
    user = next((str(m.get("content", "")) for m in reversed(messages)
                 if m.get("role") == "user"), "")
    return _NOTE.findall(user) or _BARE.findall(user)


def _shares_a_word(messages: Sequence[wire.ChatMessage], blocks: list[tuple[str, str]]) -> bool:
    """Whether a note shares a content word with the question (the extractive generator's
    words: no stop words, crude stems); true when the question has none or no tag."""
    user = next((str(m.get("content", "")) for m in reversed(messages)
                 if m.get("role") == "user"), "")
    asked = _QUESTION.search(user)
    words = content_words(asked.group(1)) if asked else frozenset()
    return not words or any(words & content_words(text) for _, text in blocks)


def mock_answer(messages: Sequence[wire.ChatMessage], cite_notes: int | None = None) -> str:
    """The first sentence of each numbered note in the last user message, cited [n]; the
    decline marker when no note shares a word with the question, as a model that finds
    nothing is told to reply. ``cite_notes``: a weaker model's answer, from the first N notes
    only (None: every note)."""
    pieces = []
    blocks = note_blocks(messages)
    if not _shares_a_word(messages, blocks):
        return NO_ANSWER
    for number, text in blocks[:cite_notes]:
        match = _SENTENCE.search(" ".join(text.split()))
        if match:
            pieces.append(f"{match.group(0).strip()} [{number}]")
    return "According to your notes: " + " ".join(pieces) if pieces else NO_ANSWER


def create_mock_app(config: MockConfig | None = None, *,
                    clock: Callable[[], float] = time.monotonic) -> FastAPI:
    state = MockState(config or MockConfig(), clock)
    app = FastAPI(title="rag_core mock LLM", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.mock = state
    counter = default_counter()

    def error(status: int, message: str, kind: str = "mock_error") -> JSONResponse:
        return wire.error_response(status, message, kind, state.config.retry_after_s)

    async def hang(request: Request) -> None:
        """Hang for hang_s, but stop as soon as the client has gone."""
        end = time.monotonic() + state.config.hang_s
        while time.monotonic() < end and not await request.is_disconnected():
            await asyncio.sleep(0.05)

    def refused(request: Request) -> JSONResponse | None:
        key = state.config.api_key
        if key is not None and request.headers.get("authorization") != f"Bearer {key}":
            state.bump("unauthorized")
            return error(401, "invalid credentials", "authentication_error")
        return None

    @app.post("/v1/chat/completions", response_model=None)
    async def completions(request: Request) -> Response | JsonObject:
        state.bump("requests")
        state.bump("in_flight")
        try:
            return refused(request) or await answer(request)
        finally:
            state.bump("in_flight", -1)

    async def answer(request: Request) -> Response | JsonObject:
        try:
            chat = wire.parse_request(await request.json())
        except (ValueError, wire.BadRequest):
            state.bump("bad_requests")
            return error(400, "the body must be JSON with a list of messages", "invalid_request")
        c = state.config
        if c.strict_model and chat.model not in (None, c.model):
            state.bump("bad_requests")
            return error(404, f"model {chat.model!r} does not exist", "not_found")
        with state.lock:
            roll_timeout, roll_error = state.rng.random(), state.rng.random()
            forced = c.fail_next > 0
            if forced:
                c.fail_next -= 1
        if state.in_outage():
            state.bump("errors")
            state.bump("outage_errors")
            return error(503, "scheduled outage")
        if roll_timeout < c.timeout_rate:
            state.bump("timeouts")
            await hang(request)
        if forced or roll_error < c.error_rate:
            state.bump("errors")
            return error(c.error_status, "injected error")
        await asyncio.sleep(state.latency_s())
        writing = is_writing_request(chat.messages) or is_rewrite_request(chat.messages)
        raw = (rewrite_answer(chat.messages) if is_rewrite_request(chat.messages)
               else writer_answer(chat.messages) if writing
               else mock_answer(chat.messages, c.cite_notes))
        if c.obey and not writing:
            notes = [text for _, text in note_blocks(chat.messages)]
            raw = obey_answer(chat.messages, raw, notes)
        text, _ = counter.truncate(raw, chat.max_tokens)
        prompt_tokens = counter.count_messages(chat.messages)
        completion_tokens = counter.count(text)
        usage = wire.usage_dict(_told(c.usage_prompt_tokens, prompt_tokens),
                                _told(c.usage_completion_tokens, completion_tokens))
        model = chat.model or c.model
        cid = wire.new_completion_id()
        if not chat.stream:
            state.bump("completed")
            state.bump("completion_tokens", completion_tokens)
            state.bump("prompt_tokens", prompt_tokens)
            return wire.completion_body(cid, model, text, usage if c.send_usage else None)
        state.bump("streams")
        wanted = usage if chat.include_usage or c.send_usage else None
        return wire.sse_response(_stream(state, cid, model, text, wanted,
                                         (prompt_tokens, completion_tokens)))

    @app.get("/v1/models", response_model=None)
    async def models(request: Request) -> Response | JsonObject:
        state.bump("model_listings")
        return refused(request) or wire.models_body(state.config.model)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/admin/config")
    async def get_config() -> JsonObject:
        return asdict(state.config)

    @app.post("/admin/config", response_model=None)
    async def set_config(request: Request) -> Response | JsonObject:
        try:
            state.config.update(dict(await request.json()))
        except (ValueError, TypeError) as exc:
            return error(400, str(exc), "invalid_request")
        state.rng.seed(state.config.seed)
        return asdict(state.config)

    @app.post("/admin/outage", response_model=None)
    async def outage(request: Request) -> Response | JsonObject:
        try:
            seconds = float((await request.json()).get("seconds", 10))
        except (ValueError, TypeError, AttributeError):
            return error(400, 'send {"seconds": N}', "invalid_request")
        state.outage_until = state.clock() + seconds
        return {"outage_s": seconds}

    @app.get("/admin/stats")
    async def stats() -> JsonObject:
        return state.stats()

    @app.post("/admin/reset")
    async def reset() -> JsonObject:
        """Zero the counters, end any outage and restart the clock of scheduled outages."""
        state.reset()
        return state.stats()

    return app


def _told(reported: int | None, counted: int) -> int:
    """The figure the mock reports: the configured one (a lying provider), else its count."""
    return counted if reported is None else reported


async def _stream(state: MockState, cid: str, model: str, text: str,
                  usage: dict[str, int] | None,
                  counted: tuple[int, int]) -> AsyncIterator[bytes]:
    """The streamed answer; ``counted``: the prompt and completion tokens the mock counted
    (its stats), whatever ``usage`` reports."""
    c = state.config
    yield wire.role_event(cid, model)
    for i, piece in enumerate(_PIECE.findall(text)):
        if c.stream_error_after is not None and i >= c.stream_error_after:
            state.bump("errors")
            yield wire.error_event("injected failure in the middle of the stream")
            return
        if c.tokens_per_s > 0:
            await asyncio.sleep(1 / c.tokens_per_s)
        yield wire.chunk_event(cid, model, {"content": piece})
    *last, done = wire.final_events(cid, model, usage)
    for event in last:
        yield event
    # counted before the last event goes out, so a client that has read [DONE] sees it counted
    state.bump("completed")
    state.bump("prompt_tokens", counted[0])
    state.bump("completion_tokens", counted[1])
    yield done
