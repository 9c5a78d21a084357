"""Request-body limits, enforced before anything reads the body or checks the token.

A pure ASGI middleware: a declared ``Content-Length`` over the route's limit is answered 413 at
once; a body without one (chunked) is counted as it arrives and cut off at the limit. Either way
no more than the limit is ever read into memory, whoever sends it.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import anyio
from starlette.exceptions import HTTPException

from rag_core.api.asgi import ASGIApp, Message, Receive, Scope, Send
from rag_core.api.errors import note_refused
from rag_core.telemetry import logs, metrics


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a body without Content-Length passes its limit: an
    HTTPException, so that FastAPI's body reader lets it through to the 413 handler."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is over the {limit:,} bytes this route "
                              "accepts.")


class BodyReadTimeout(HTTPException):
    """Raised from ``receive`` when the next part of a body does not arrive in time (a client
    that declared more body than it sends): 408, and the connection is closed."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, f"The request body did not arrive within {timeout_s:g} s.",
                         headers={"Connection": "close"})


class BodyLimit:
    """``limit_for(path)`` gives the most bytes a body of that path may have; each wait for
    the next part of a body lasts at most ``read_timeout_s`` (None: no limit)."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int],
                 read_timeout_s: float | None = None) -> None:
        self.app = app
        self.limit_for = limit_for
        self.read_timeout_s = read_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit, scope)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            if self.read_timeout_s is None:
                message = await receive()
            else:
                with anyio.move_on_after(self.read_timeout_s) as waited:
                    message = await receive()
                if waited.cancelled_caught:
                    raise BodyReadTimeout(self.read_timeout_s)
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await _too_large(send, limit, scope)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int, scope: Scope) -> None:
    metrics.ERRORS.labels(type="TOO_LARGE").inc()
    note_refused(scope, "TOO_LARGE")
    rid = logs.request_id_var.get()  # set by the app's request middleware, outside this one
    body = json.dumps({"error": {"code": "TOO_LARGE", "request_id": rid,
                                 "message": f"The request body is over the {limit:,} bytes "
                                            "this route accepts."}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def route_limits(default: int, note: int, bulk: int) -> Callable[[str], int]:
    """The limits of this API: bulk note uploads, single notes, everything else."""

    def limit_for(path: str) -> int:
        if path.endswith("/notes:bulk"):
            return bulk
        if "/notes" in path:
            return note
        return default

    return limit_for
