"""A mock LLM server that speaks the OpenAI chat-completions protocol, with fault injection.

Its answer is deterministic: the first sentence of each numbered note in the prompt, each cited
``[n]``, so RAG tests see real citations; usage is counted with the project's tokenizer.
Faults are settable at start (``rag-core mock-llm --latency-ms 3500 --error-rate 0.1``) and at
run time (``POST /admin/config`` with a partial config, ``POST /admin/outage {"seconds": 20}``);
``GET /admin/stats`` counts what it received and ``POST /admin/reset`` zeroes the counters.

It runs as one process (one event loop), so its counters are exact; do not run it with several
uvicorn workers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag_core.tokens import default_counter

_NOTE = re.compile(r'<note n="(\d+)">\s*\n[^\n]*\n(.*?)\n?</note>', re.S)
_BARE = re.compile(r"^\[(\d+)\][^\n]*\n(.+?)(?=\n\s*\n|\n\[\d+\]|\n</notes>|\Z)", re.S | re.M)
_SENTENCE = re.compile(r".+?[.!?](?=\s|$)|.+$", re.S)
_PIECE = re.compile(r"\S+\s*")
NO_ANSWER = "Your notes do not seem to cover it."


@dataclass
class MockConfig:
    """Every fault knob of the mock; all may change at run time."""

    model: str = "mock-llm"
    latency_ms: float = 0.0  # before the answer (non-streaming) or the first piece (streaming)
    latency_jitter_ms: float = 0.0
    latency_dist: str = "fixed"  # fixed | uniform (+- jitter) | lognormal (sigma: jitter)
    tokens_per_s: float = 0.0  # streaming pace in pieces per second; 0 = as fast as possible
    error_rate: float = 0.0  # share of requests answered with error_status
    error_status: int = 503
    fail_next: int = 0  # the next N completion requests fail with error_status, then it heals
    retry_after_s: float | None = 1.0  # Retry-After sent with 429 and 503 (None: none)
    timeout_rate: float = 0.0  # share of requests that hang for hang_s (client times out)
    hang_s: float = 120.0
    outage_after_s: float | None = None  # a scheduled outage: starts this long after start
    outage_duration_s: float = 0.0
    stream_error_after: int | None = None  # streams send an error event after this many pieces
    send_usage: bool = True  # usage in answers (streams: also when stream_options asks)
    api_key: str | None = None  # when set, other bearer tokens get 401 (a misconfigured token)
    strict_model: bool = False  # 404 for a payload model other than `model` (as vLLM does)
    seed: int = 0

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial config, with each value converted to its field's type."""
        known = {f.name: f for f in fields(self)}
        unknown = set(changes) - set(known)
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for key, value in changes.items():
            setattr(self, key, _convert(getattr(MockConfig, key, None), key, value))
        if self.latency_dist not in ("fixed", "uniform", "lognormal"):
            raise ValueError("latency_dist must be fixed, uniform or lognormal")


def _convert(default: Any, key: str, value: Any) -> Any:
    if value is None:
        return None
    optional_float = ("retry_after_s", "outage_after_s")
    if key == "api_key":
        return str(value)
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int) or key == "stream_error_after":
        return int(value)
    if isinstance(default, float) or key in optional_float:
        return float(value)
    return str(value)


class MockState:
    """Config, counters and the clock of one mock server (used from its event loop)."""

    def __init__(self, config: MockConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock  # seconds; drives outages (tests pass a clock they move)
        self.lock = threading.Lock()
        self.rng = random.Random(config.seed)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.started = self.clock()
            self.outage_until = 0.0
            self.counts = {k: 0 for k in ("requests", "completed", "errors", "streams",
                                           "timeouts", "outage_errors", "bad_requests",
                                           "in_flight", "max_in_flight", "completion_tokens",
                                           "unauthorized", "model_listings")}

    def bump(self, name: str, by: int = 1) -> None:
        with self.lock:
            self.counts[name] += by
            if name == "in_flight":
                self.counts["max_in_flight"] = max(self.counts["max_in_flight"],
                                                   self.counts["in_flight"])

    def in_outage(self) -> bool:
        now = self.clock()
        if now < self.outage_until:
            return True
        c = self.config
        if c.outage_after_s is not None:
            start = self.started + c.outage_after_s
            return start <= now < start + c.outage_duration_s
        return False

    def latency_s(self) -> float:
        c = self.config
        base, jitter = c.latency_ms / 1000, c.latency_jitter_ms / 1000
        if c.latency_dist == "uniform":
            return max(0.0, base + self.rng.uniform(-jitter, jitter))
        if c.latency_dist == "lognormal" and base > 0:
            sigma = jitter / base if jitter else 0.25
            # median = base; mean = base * exp(sigma^2 / 2)
            return base * math.exp(self.rng.gauss(0.0, sigma))
        return base

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {**self.counts, "in_outage": self.in_outage()}


def mock_answer(messages: list[dict[str, Any]]) -> str:
    """The first sentence of each numbered note in the last user message, cited [n]."""
    user = next((str(m.get("content", "")) for m in reversed(messages)
                 if m.get("role") == "user"), "")
    blocks = _NOTE.findall(user) or _BARE.findall(user)
    pieces = []
    for number, text in blocks:
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
        retry = state.config.retry_after_s
        headers = {"Retry-After": str(math.ceil(retry))} \
            if status in (429, 503) and retry is not None else {}
        return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status,
                            headers=headers)

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

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        state.bump("requests")
        state.bump("in_flight")
        try:
            return refused(request) or await answer(request)
        finally:
            state.bump("in_flight", -1)

    async def answer(request: Request) -> Any:
        try:
            body = await request.json()
            messages = [dict(m) for m in body["messages"]]
            max_tokens = int(body.get("max_tokens") or 400)
        except (ValueError, KeyError, TypeError):
            state.bump("bad_requests")
            return error(400, "the body must be JSON with a list of messages", "invalid_request")
        c = state.config
        if c.strict_model and body.get("model") not in (None, c.model):
            state.bump("bad_requests")
            return error(404, f"model {body.get('model')!r} does not exist", "not_found")
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
        text, _ = counter.truncate(mock_answer(messages), max_tokens)
        prompt_tokens = sum(counter.count(str(m.get("content", ""))) for m in messages)
        out_tokens = counter.count(text)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": out_tokens,
                 "total_tokens": prompt_tokens + out_tokens}
        model = str(body.get("model") or c.model)
        cid = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        if not body.get("stream"):
            state.bump("completed")
            state.bump("completion_tokens", out_tokens)
            return {"id": cid, "object": "chat.completion", "created": int(time.time()),
                    "model": model, **({"usage": usage} if c.send_usage else {}),
                    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant", "content": text}}]}
        state.bump("streams")
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            _stream(state, cid, model, text, usage if wants_usage or c.send_usage else None),
            media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/models")
    async def models(request: Request) -> Any:
        state.bump("model_listings")
        listing = {"object": "list", "data": [{"id": state.config.model, "object": "model",
                                               "created": 0, "owned_by": "rag_core"}]}
        return refused(request) or listing

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/admin/config")
    async def get_config() -> dict[str, Any]:
        return asdict(state.config)

    @app.post("/admin/config")
    async def set_config(request: Request) -> Any:
        try:
            state.config.update(dict(await request.json()))
        except (ValueError, TypeError) as exc:
            return error(400, str(exc), "invalid_request")
        state.rng.seed(state.config.seed)
        return asdict(state.config)

    @app.post("/admin/outage")
    async def outage(request: Request) -> Any:
        try:
            seconds = float((await request.json()).get("seconds", 10))
        except (ValueError, TypeError, AttributeError):
            return error(400, 'send {"seconds": N}', "invalid_request")
        state.outage_until = state.clock() + seconds
        return {"outage_s": seconds}

    @app.get("/admin/stats")
    async def stats() -> dict[str, Any]:
        return state.stats()

    @app.post("/admin/reset")
    async def reset() -> dict[str, Any]:
        """Zero the counters, end any outage and restart the clock of scheduled outages."""
        state.reset()
        return state.stats()

    return app


async def _stream(state: MockState, cid: str, model: str, text: str,
                  usage: dict[str, int] | None) -> AsyncIterator[bytes]:
    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                             "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data)}\n\n".encode()

    c = state.config
    yield event({"role": "assistant", "content": ""})
    for i, piece in enumerate(_PIECE.findall(text)):
        if c.stream_error_after is not None and i >= c.stream_error_after:
            state.bump("errors")
            error = {"error": "injected failure in the middle of the stream",
                     "error_type": "overloaded"}
            yield f"data: {json.dumps(error)}\n\n".encode()
            return
        if c.tokens_per_s > 0:
            await asyncio.sleep(1 / c.tokens_per_s)
        yield event({"content": piece})
    yield event({}, "stop", **({"usage": usage} if usage else {}))
    # counted before the last event goes out, so a client that has read [DONE] sees it counted
    state.bump("completed")
    state.bump("completion_tokens", usage["completion_tokens"] if usage else 0)
    yield b"data: [DONE]\n\n"


# --- running it -----------------------------------------------------------------------------


def add_mock_args(parser: argparse.ArgumentParser) -> None:
    """The fault options of ``rag-core mock-llm`` (the CLI adds --host and --port)."""
    d = MockConfig()
    parser.add_argument("--model", default=d.model, help="model id it reports")
    parser.add_argument("--latency-ms", type=float, default=d.latency_ms,
                        help="latency before the answer or the first streamed piece")
    parser.add_argument("--latency-jitter-ms", type=float, default=d.latency_jitter_ms)
    parser.add_argument("--latency-dist", choices=["fixed", "uniform", "lognormal"],
                        default=d.latency_dist)
    parser.add_argument("--tokens-per-s", type=float, default=d.tokens_per_s,
                        help="streaming pace (0: as fast as possible)")
    parser.add_argument("--error-rate", type=float, default=d.error_rate,
                        help="share of requests answered with --error-status, 0..1")
    parser.add_argument("--error-status", type=int, default=d.error_status)
    parser.add_argument("--fail-next", type=int, default=d.fail_next,
                        help="fail the first N requests with --error-status")
    parser.add_argument("--retry-after-s", type=float, default=d.retry_after_s,
                        help="Retry-After sent with 429 and 503")
    parser.add_argument("--timeout-rate", type=float, default=d.timeout_rate,
                        help="share of requests that hang for --hang-s, 0..1")
    parser.add_argument("--hang-s", type=float, default=d.hang_s)
    parser.add_argument("--outage-after-s", type=float, default=d.outage_after_s,
                        help="start an outage this many seconds after start")
    parser.add_argument("--outage-duration-s", type=float, default=d.outage_duration_s)
    parser.add_argument("--stream-error-after", type=int, default=d.stream_error_after,
                        help="break every stream after this many pieces")
    parser.add_argument("--seed", type=int, default=d.seed)


def config_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    """The MockConfig fields among parsed arguments, for ``serve_mock(**config)``."""
    names = {f.name for f in fields(MockConfig)}
    return {k: v for k, v in vars(ns).items() if k in names}


def serve_mock(port: int, host: str = "127.0.0.1", **config: Any) -> None:
    """Run the mock in the foreground until interrupted."""
    import uvicorn

    app = create_mock_app(MockConfig(**config))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=2)


def start_mock(*, clock: Callable[[], float] = time.monotonic,
               **config: Any) -> tuple[str, Callable[[], None], FastAPI]:
    """Start the mock on a free loopback port in a daemon thread; wait until /health answers.

    Returns the base URL (without ``/v1``), a function that stops it, and the app. ``clock``
    (seconds) drives its outages."""
    import httpx
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    app = create_mock_app(MockConfig(**config), clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, name=f"mock-llm-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return url, stop, app
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            stop()
            raise RuntimeError("the mock LLM did not start")
        time.sleep(0.02)


@contextmanager
def MockLLM(**config: Any) -> Iterator[tuple[str, FastAPI]]:  # noqa: N802 (reads like a class)
    """``with MockLLM(latency_ms=50) as (url, app):`` the mock runs on ``url`` (no ``/v1``);
    ``app.state.mock`` holds its live config and counters."""
    url, stop, app = start_mock(**config)
    try:
        yield url, app
    finally:
        stop()


# --- small admin client (tests, notebooks, load tests) ---------------------------------------


def mock_stats(url: str) -> dict[str, Any]:
    import httpx

    return dict(httpx.get(f"{url}/admin/stats", timeout=5).json())


def configure_mock(url: str, **changes: Any) -> dict[str, Any]:
    import httpx

    response = httpx.post(f"{url}/admin/config", json=changes, timeout=5)
    response.raise_for_status()
    return dict(response.json())


def start_outage(url: str, seconds: float) -> None:
    import httpx

    httpx.post(f"{url}/admin/outage", json={"seconds": seconds}, timeout=5).raise_for_status()


def reset_mock(url: str) -> None:
    import httpx

    httpx.post(f"{url}/admin/reset", timeout=5).raise_for_status()
