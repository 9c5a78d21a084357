"""Send a log's questions at their recorded offsets, open loop, and time each answer.

Each question is sent at ``offset / speed`` after the start in a task of its own: a slow answer
never delays the next send (open loop, as the log's users did not wait on each other). The
client has no connection limit that would queue a send. Every request is recorded as a
:class:`Sent`: when it was due and sent, its first and last byte, its status and outcome
(:func:`outcome_of`), the cache layer that served it and its cost.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import httpx

from evals.replay.logs import Ask

QUERY_PATH = "/v1/query"
# what a request came to: an answer (hit, miss, no-context, degraded), or a refusal
OUTCOMES = ("hit", "miss", "no-context", "limited", "degraded", "refused", "error")
CACHED = ("hit", "degraded")  # served from a cache (exact, semantic, stale): the cached SLO
LAYERS = ("query", "semantic", "embedding", "context")  # the answer's cache block's layers


@dataclass(frozen=True)
class Sent:
    line: int
    user: str
    due_s: float  # when it was to be sent, seconds after the start
    send_s: float  # when it was sent
    first_byte_s: float  # when the first byte of the answer came (nan: none)
    last_byte_s: float  # when the answer ended (the error, for a failure)
    status: int  # HTTP status, 0 when no answer came
    outcome: str  # one of OUTCOMES
    cache_layer: str  # query, semantic or stale when a cache served it, else ""
    cost_usd: float
    code: str = ""  # the error code of a refusal
    # each cache layer's outcome on the answer's ``cache`` block, "layer:outcome" separated by
    # spaces (query, semantic, embedding, context: hit, semantic_hit, miss, off); "" none
    layers: str = ""

    @property
    def latency_s(self) -> float:
        return self.last_byte_s - self.send_s


def outcome_of(status: int, body: bytes) -> tuple[str, str, float, str]:
    """(outcome, cache layer, cost, error code) of one answer: ``hit`` when the exact or
    semantic cache served it, ``degraded`` for a stale answer (the model down) or a
    documented 503 ``LLM_UNAVAILABLE``, ``no-context`` when the notes had nothing, ``miss``
    for an answer the pipeline made; ``limited`` for a 429 or a 503 ``OVERLOADED``;
    ``refused`` when the token was refused (401, 403); else ``error``."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if status == 200:
        cache = data.get("cache") if isinstance(data.get("cache"), dict) else {}
        cost = float(data.get("cost_usd") or 0.0)
        if data.get("stale"):
            return "degraded", "stale", cost, ""
        query = cache.get("query") if cache else None
        if query in ("hit", "semantic_hit"):
            return "hit", "query" if query == "hit" else "semantic", cost, ""
        return ("no-context" if data.get("no_context") else "miss"), "", cost, ""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = str(error.get("code") or "") if error else ""
    if status == 429 or (status == 503 and code == "OVERLOADED"):
        return "limited", "", 0.0, code
    if status == 503 and code == "LLM_UNAVAILABLE":
        return "degraded", "", 0.0, code
    if status in (401, 403):
        return "refused", "", 0.0, code
    return "error", "", 0.0, code or f"HTTP_{status}"


def layers_of(body: bytes) -> str:
    """The answer's cache block as "layer:outcome" words (the cold start's hit rate per
    layer, evals.load.cold_start); "" when the body has none."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return ""
    cache = data.get("cache") if isinstance(data, dict) else None
    if not isinstance(cache, dict):
        return ""
    return " ".join(f"{layer}:{cache[layer]}" for layer in LAYERS
                    if isinstance(cache.get(layer), str) and cache[layer])


@dataclass(frozen=True)
class Options:
    server: str
    speed: float = 1.0
    no_cache: bool = False  # send "cache": {"no_cache": true}: a cold run
    timeout_s: float = 120.0
    max_requests: int = 0  # > 0: stop after this many sends


async def replay(asks: Iterable[Ask], token_for: Callable[[str], str], options: Options,
                 on_sent: Callable[[Sent], None],
                 transport: httpx.AsyncBaseTransport | None = None) -> int:
    """Send ``asks`` (read lazily) at their offsets / speed; ``on_sent`` gets every request
    as it ends. Returns the number sent. ``transport``: another way to the server than the
    network (an app in process, in tests)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
    timeout = httpx.Timeout(options.timeout_s, connect=30.0)
    url = options.server.rstrip("/") + QUERY_PATH
    extra = {"cache": {"no_cache": True}} if options.no_cache else {}
    tasks: set[asyncio.Task[None]] = set()
    sent = 0
    async with httpx.AsyncClient(limits=limits, timeout=timeout, transport=transport) as client:
        start = time.perf_counter()
        for ask in asks:
            if options.max_requests and sent >= options.max_requests:
                break
            due = ask.offset_s / options.speed
            wait = due - (time.perf_counter() - start)
            if wait > 0:
                await asyncio.sleep(wait)
            headers = {"Authorization": f"Bearer {token_for(ask.user)}"}
            task = asyncio.create_task(_one(client, url, ask, due, start, headers,
                                            {"query": ask.question, **extra}, on_sent))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        if tasks:
            await asyncio.gather(*tasks)
    return sent


async def _one(client: httpx.AsyncClient, url: str, ask: Ask, due: float, start: float,
               headers: dict[str, str], body: dict[str, object],
               on_sent: Callable[[Sent], None]) -> None:
    send = time.perf_counter() - start
    first = float("nan")
    status, data = 0, b""
    try:
        async with client.stream("POST", url, json=body, headers=headers) as response:
            status = response.status_code
            chunks = []
            async for chunk in response.aiter_bytes():
                if first != first:  # nan: the first bytes of the body
                    first = time.perf_counter() - start
                chunks.append(chunk)
            data = b"".join(chunks)
    except Exception as exc:  # no answer (refused, reset, timed out): counted, never raised
        end = time.perf_counter() - start
        on_sent(Sent(ask.line, ask.user, due, send, first, end, 0, "error", "", 0.0,
                     type(exc).__name__))
        return
    end = time.perf_counter() - start
    outcome, layer, cost, code = outcome_of(status, data)
    on_sent(Sent(ask.line, ask.user, due, send, first if first == first else end, end, status,
                 outcome, layer, cost, code, layers_of(data) if status == 200 else ""))
