"""Per-request context: request id, trace, response headers, the HTTP metric and the log line
(and, for a request turned away before the pipeline, its count in the user's day:
``api.refusals``).

A pure ASGI middleware, not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware``
runs the rest of the app in a task of its own and pipes the response through memory streams.
With it (and the thread-pool dependencies and h11 parser of that time) a served cached answer
cost 3.8 ms of server CPU, about 1 ms of it the pipeline's (docs/scaling.md). Here the app runs
in the caller's task, so the request id and the trace set below reach the routes (and, through
``run_in_threadpool``'s copied context, the pipeline) without a copy.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers

from rag_core.api import audit, errors, received, refusals
from rag_core.api.asgi import ASGIApp, Message, Receive, Scope, Send
from rag_core.telemetry import http as http_span
from rag_core.telemetry import logs, metrics

log = logging.getLogger("rag_core.app")
_RID = re.compile(r"[A-Za-z0-9._\-]{1,128}")


def request_id_of(headers: Headers) -> str:
    """The caller's ``X-Request-ID`` when it is a plain token, else a new one."""
    given = headers.get("x-request-id", "")
    return given if _RID.fullmatch(given) else uuid.uuid4().hex


class RequestContext:
    """Outermost of the app's own middlewares (inside Starlette's error middleware)."""

    def __init__(self, app: ASGIApp, *, clock: Callable[[], float] = time.perf_counter,
                 worker_pid: bool = False) -> None:
        self.app = app
        self.clock = clock
        # ``X-Worker-PID`` names the serving process: a debugging aid (dev profile only), since
        # elsewhere it tells a caller how the deployment is laid out
        self.pid = str(os.getpid()).encode() if worker_pid else b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        rid = request_id_of(headers)
        scope.setdefault("state", {})["request_id"] = rid  # request.state.request_id
        token = logs.request_id_var.set(rid)
        http_span.label_request(rid)  # FastAPI's server span, the trace's root (``http``)
        start = self.clock()
        # a question's deadline for a work slot counts from its arrival: when the machine's
        # kernel received it (under ``rag-core serve``: api.received), else here
        received.arrived(scope, time.perf_counter())
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                extra = [(b"x-request-id", rid.encode())]
                if self.pid:
                    extra.append((b"x-worker-pid", self.pid))
                kept = [(k, v) for k, v in message.get("headers", [])
                        if k.lower() != b"x-request-id"]
                message = {**message, "headers": kept + extra}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:  # a bug: answer with a coded body, keep the traceback in the log
            log.exception("unhandled error")
            if status:  # the response had begun: nothing can be said cleanly any more
                raise
            response = errors.error_response(500, "INTERNAL", "An unexpected error occurred.",
                                             rid, scope=scope)
            await response(scope, receive, send_with_headers)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            logs.request_id_var.reset(token)
            method = scope.get("method", "")
            metrics.HTTP_REQUESTS.labels(route=route, method=method,
                                         status=f"{status // 100}xx").inc()
            logs.log_event(log, logging.INFO, "request", method=method, route=route,
                           status=status, request_id=rid,
                           ms=round((self.clock() - start) * 1000, 2))
            audit.log_attempt(scope, status or 500, rid)
            refusals.count(scope)
