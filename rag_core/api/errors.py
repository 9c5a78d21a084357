"""Every error response of the API is rendered here, and counted here, once.

``assistant_errors_total{type}`` has one owner: ``error_response`` (and ``error_event`` for a
stream that fails after it started). The pipeline raises; it never counts an error itself.
Given the request's ``scope``, ``error_response`` also leaves the code in the request's state
(``REFUSED``): a request answered with an error that the pipeline did not count is counted in
the user's day as it ends (``api.refusals``, called by ``api.context``).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from rag_core.errors import RagError
from rag_core.telemetry import metrics
from rag_core.types import JsonObject

log = logging.getLogger("rag_core.app")

STATUS_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 413: "TOO_LARGE",
                415: "UNSUPPORTED_MEDIA_TYPE"}
REFUSED = "refused_code"  # the key in the request's state: the code of its error response


def note_refused(scope: Scope | None, code: str) -> None:
    """Leave ``code`` in the request's state: it was answered with an error that no one has
    counted in the user's day yet (``api.refusals``)."""
    if scope is not None:
        scope.setdefault("state", {})[REFUSED] = code


def error_response(status: int, code: str, message: str, request_id: str | None,
                   retry_after: float | None = None, *,
                   scope: Scope | None = None,
                   limit: str | None = None) -> JSONResponse:
    """The coded JSON error; ``scope``: the request's, when its error is to be counted in the
    user's day (``note_refused``), None when it is counted already or is no user's."""
    metrics.ERRORS.labels(type=code).inc()
    note_refused(scope, code)
    headers = {"X-Request-ID": request_id or ""}
    if retry_after:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body: dict[str, dict[str, str | None]] = {
        "error": {"code": code, "message": message, "request_id": request_id}}
    if limit is not None:  # a request limit's refusal names the limit
        body["error"]["limit"] = limit
    return JSONResponse(body, status_code=status, headers=headers)


def error_event(event: JsonObject) -> JsonObject:
    """An SSE ``error`` event is about to be sent: count it like an error response."""
    metrics.ERRORS.labels(type=str(event.get("code", "INTERNAL"))).inc()
    return event


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install(app: FastAPI) -> None:
    """The handlers that turn every exception into a coded JSON error."""

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        response = error_response(exc.status, exc.code, exc.message, _rid(request),
                                  exc.retry_after, scope=None if exc.counted else request.scope,
                                  limit=getattr(exc, "limit", None))
        response.headers.update(exc.headers)  # a question's RateLimit-* (rag_core/limits)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "INVALID_REQUEST", "The body is not valid JSON.",
                                  _rid(request), scope=request.scope)
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(422, "INVALID_REQUEST",
                              f"{where or 'body'}: {first.get('msg', 'invalid')}", _rid(request),
                              scope=request.scope)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        response = error_response(exc.status_code, code, str(exc.detail), _rid(request),
                                  scope=request.scope)
        response.headers.update(exc.headers or {})  # e.g. Connection: close after a 408
        return response
