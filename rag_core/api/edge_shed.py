"""Shedding at the ASGI edge (issue 82): a question (``POST /v1/query``) that arrives while its
worker's event loop runs later than ``RAG_EDGE_SHED_LAG_MS`` is refused at once with 503
``OVERLOADED`` (limit ``event_loop``) and ``Retry-After``, before its token is checked, its body
read or Redis asked: refusing costs the loop next to nothing, so its lag drains and the
questions it lets in keep their SLO (``limits.loop_lag`` says why the lag is the measure).
Counted in ``requests_shed_total{reason="loop_lag"}``. Every other route, and every question
while the loop keeps up, passes untouched; past the edge the work slots shed what the pipeline
could not answer in time (``limits.shedding``).

Uvicorn's own ``limit_concurrency`` does not fit: it counts open connections, and a client's
kept-alive connection between its requests counts, so a steady crowd of idle users would be
refused; and its 503 is plain text with ``Connection: close``, without our error body or
``Retry-After``.

Each question's reply carries ``Server-Timing`` (W3C): ``app`` the time from this edge to the
response's start, ``lag`` the loop's lag when it arrived, ``queue`` the time from its arrival
at the machine to this edge (``api.received``; ms), so that a client can tell the service's
time from its own and from the wait before the service's app saw the request.
"""

from __future__ import annotations

import math
import time

from rag_core.api import received
from rag_core.api.asgi import ASGIApp, Message, Receive, Scope, Send
from rag_core.api.errors import error_response
from rag_core.limits.loop_lag import LoopLag
from rag_core.telemetry import metrics

QUESTION = ("POST", "/v1/query")
LIMIT = "event_loop"  # the error body's ``limit``


def is_question(scope: Scope) -> bool:
    return scope["type"] == "http" and (scope.get("method"), scope.get("path")) == QUESTION


def server_timing(app_s: float, lag_s: float, queue_s: float) -> bytes:
    return (f"app;dur={app_s * 1000:.1f}, lag;dur={lag_s * 1000:.1f}, "
            f"queue;dur={queue_s * 1000:.1f}").encode()


class EdgeShed:
    """Inside the request context (its id, its access-log line), outside the token check and
    the body limits."""

    def __init__(self, app: ASGIApp, *, lag: LoopLag, limit_ms: int) -> None:
        self.app = app
        self.lag = lag
        self.limit_s = limit_ms / 1000.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not is_question(scope):
            await self.app(scope, receive, send)
            return
        clock = self.lag.clock
        start, lag = clock(), self.lag.lag()
        now = time.perf_counter()  # the arrival's clock (api.received)
        queue = max(0.0, now - received.arrived(scope, now))

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [
                    *message.get("headers", []),
                    (b"server-timing", server_timing(clock() - start, lag, queue))]}
            await send(message)

        if self.limit_s and lag > self.limit_s:
            metrics.REQUESTS_SHED.labels(reason="loop_lag").inc()
            rid = (scope.get("state") or {}).get("request_id")
            response = error_response(
                503, "OVERLOADED", "The service is at its capacity: its worker is "
                f"{lag * 1000:.0f} ms behind; retry after Retry-After seconds.", rid,
                retry_after=float(max(1, math.ceil(lag))), scope=scope, limit=LIMIT)
            await response(scope, receive, timed)
            return
        await self.app(scope, receive, timed)


__all__ = ["LIMIT", "EdgeShed", "is_question", "server_timing"]
