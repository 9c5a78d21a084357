"""A mock LLM server that speaks the OpenAI chat-completions protocol, with fault injection.

Its answer is deterministic: the first sentence of each numbered source in the prompt, cited.
Faults are settable at start (``rag-core mock-llm --latency-ms 3500 --error-rate 0.1``) and at
run time (``POST /admin/config``, ``POST /admin/outage {"seconds": 20}``), so that tests and
load tests can script an outage; ``GET /admin/stats`` counts what it received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rag_core.tokens import default_counter

_SOURCE = re.compile(r"^\[(\d+)\][^\n]*\n(.+?)(?=\n\n\[\d+\]|\n</notes>|\Z)", re.S | re.M)
_SENTENCE = re.compile(r"[^.!?]+[.!?]")


@dataclass
class MockConfig:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    latency_dist: str = "fixed"  # fixed | uniform | lognormal
    tokens_per_s: float = 0.0  # streaming pace; 0 = as fast as possible
    error_rate: float = 0.0
    error_status: int = 503
    retry_after_s: float = 1.0
    timeout_rate: float = 0.0
    hang_s: float = 120.0
    outage_after_s: float | None = None
    outage_duration_s: float = 0.0
    seed: int = 0

    def update(self, changes: dict[str, Any]) -> None:
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        for key, value in changes.items():
            setattr(self, key, value)


class MockState:
    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.outage_until = 0.0
        self.rng = random.Random(config.seed)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.requests = self.errors = self.streams = self.timeouts = 0
            self.outage_errors = 0

    def in_outage(self) -> bool:
        now = time.monotonic()
        if now < self.outage_until:
            return True
        c = self.config
        if c.outage_after_s is not None:
            start = self.started + c.outage_after_s
            return start <= now < start + c.outage_duration_s
        return False

    def latency_s(self) -> float:
        c = self.config
        base = c.latency_ms / 1000
        jitter = c.latency_jitter_ms / 1000
        if c.latency_dist == "uniform":
            return max(0.0, base + self.rng.uniform(-jitter, jitter))
        if c.latency_dist == "lognormal" and base > 0:
            sigma = jitter / base if jitter else 0.25
            return base * self.rng.lognormvariate(0, sigma)
        return base

    def stats(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "streams": self.streams,
                "timeouts": self.timeouts, "outage_errors": self.outage_errors,
                "in_outage": self.in_outage()}


def mock_answer(messages: list[dict[str, Any]]) -> str:
    user = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    pieces = []
    for number, text in _SOURCE.findall(str(user))[:3]:
        sentence = _SENTENCE.search(text)
        if sentence:
            pieces.append(f"{sentence.group(0).strip()} [{number}]")
    if not pieces:
        return "The notes do not cover this."
    return "According to your notes: " + " ".join(pieces)


def create_mock_app(config: MockConfig | None = None) -> FastAPI:
    state = MockState(config or MockConfig())
    app = FastAPI(title="rag_core mock LLM", docs_url=None, redoc_url=None)
    app.state.mock = state
    counter = default_counter()

    def error(status: int, message: str) -> JSONResponse:
        headers = {"Retry-After": str(int(state.config.retry_after_s))} if status in (429, 503) \
            else {}
        return JSONResponse({"error": {"message": message, "type": "mock_error"}},
                            status_code=status, headers=headers)

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        try:
            body = await request.json()
            messages = list(body["messages"])
        except (ValueError, KeyError, TypeError):
            return error(400, "body must be JSON with messages")
        with state.lock:
            state.requests += 1
            roll, roll2 = state.rng.random(), state.rng.random()
        c = state.config
        if state.in_outage():
            with state.lock:
                state.errors += 1
                state.outage_errors += 1
            return error(503, "outage")
        if roll < c.timeout_rate:
            with state.lock:
                state.timeouts += 1
            await asyncio.sleep(c.hang_s)
        if roll2 < c.error_rate:
            with state.lock:
                state.errors += 1
            return error(c.error_status, "injected error")
        await asyncio.sleep(state.latency_s())
        text = mock_answer(messages)
        max_tokens = int(body.get("max_tokens") or 400)
        text, _ = counter.truncate(text, max_tokens)
        prompt_tokens = sum(counter.count(str(m.get("content", ""))) for m in messages)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": counter.count(text),
                 "total_tokens": prompt_tokens + counter.count(text)}
        model = str(body.get("model") or "mock-llm")
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        if not body.get("stream"):
            return {"id": cid, "object": "chat.completion", "created": int(time.time()),
                    "model": model, "usage": usage,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": text}}]}
        with state.lock:
            state.streams += 1
        return StreamingResponse(_stream(cid, model, text, usage, c.tokens_per_s),
                                 media_type="text/event-stream")

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "mock-llm", "object": "model"}]}

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
            return error(400, str(exc))
        return asdict(state.config)

    @app.post("/admin/outage")
    async def outage(request: Request) -> dict[str, Any]:
        body = await request.json()
        state.outage_until = time.monotonic() + float(body.get("seconds", 10))
        return {"outage_s": float(body.get("seconds", 10))}

    @app.get("/admin/stats")
    async def stats() -> dict[str, Any]:
        return state.stats()

    @app.post("/admin/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        state.outage_until = 0.0
        return state.stats()

    return app


async def _stream(cid: str, model: str, text: str, usage: dict[str, int],
                  tokens_per_s: float) -> AsyncIterator[bytes]:
    def event(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data)}\n\n".encode()

    yield event({"role": "assistant", "content": ""})
    for piece in re.findall(r"\S+\s*", text):
        if tokens_per_s > 0:
            await asyncio.sleep(1 / tokens_per_s)
        yield event({"content": piece})
    yield event({}, "stop", usage=usage)
    yield b"data: [DONE]\n\n"


# --- running it ---------------------------------------------------------------------------


def add_mock_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency-ms", type=float, default=0.0, help="fixed latency per answer")
    parser.add_argument("--latency-jitter-ms", type=float, default=0.0)
    parser.add_argument("--latency-dist", choices=["fixed", "uniform", "lognormal"],
                        default="fixed")
    parser.add_argument("--tokens-per-s", type=float, default=0.0, help="streaming pace")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of errors, 0..1")
    parser.add_argument("--error-status", type=int, default=503)
    parser.add_argument("--timeout-rate", type=float, default=0.0,
                        help="share of requests that hang for --hang-s")
    parser.add_argument("--hang-s", type=float, default=120.0)
    parser.add_argument("--outage-after-s", type=float, default=None,
                        help="start an outage this many seconds after start")
    parser.add_argument("--outage-duration-s", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)


def config_from_args(ns: argparse.Namespace) -> dict[str, Any]:
    names = {f.name for f in fields(MockConfig)}
    return {k: v for k, v in vars(ns).items() if k in names}


def serve_mock(port: int, host: str = "127.0.0.1", **config: Any) -> None:
    import uvicorn

    app = create_mock_app(MockConfig(**config))
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@contextmanager
def MockLLM(**config: Any) -> Iterator[tuple[str, FastAPI]]:  # noqa: N802 (reads like a class)
    """Run the mock on a free loopback port in a thread; yields (base URL, app)."""
    import httpx
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    app = create_mock_app(MockConfig(**config))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.025)
    try:
        yield url, app
    finally:
        server.should_exit = True
        thread.join(timeout=5)
