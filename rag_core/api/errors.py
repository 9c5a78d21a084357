"""Every error response of the API is rendered here, and counted here, once.

``assistant_errors_total{type}`` has one owner: ``error_response`` (and ``error_event`` for a
stream that fails after it started). The pipeline raises; it never counts an error itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_core import observability as obs
from rag_core.errors import RagError

log = logging.getLogger("rag_core.app")

STATUS_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT", 413: "TOO_LARGE",
                415: "UNSUPPORTED_MEDIA_TYPE"}


def error_response(status: int, code: str, message: str, request_id: str | None,
                   retry_after: float | None = None) -> JSONResponse:
    obs.ERRORS.labels(type=code).inc()
    headers = {"X-Request-ID": request_id or ""}
    if retry_after:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers=headers)


def error_event(event: dict[str, Any]) -> dict[str, Any]:
    """An SSE ``error`` event is about to be sent: count it like an error response."""
    obs.ERRORS.labels(type=str(event.get("code", "INTERNAL"))).inc()
    return event


def _rid(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def install(app: FastAPI) -> None:
    """The handlers that turn every exception into a coded JSON error."""

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, _rid(request), exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return error_response(400, "INVALID_REQUEST", "The body is not valid JSON.",
                                  _rid(request))
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(422, "INVALID_REQUEST",
                              f"{where or 'body'}: {first.get('msg', 'invalid')}", _rid(request))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        response = error_response(exc.status_code, code, str(exc.detail), _rid(request))
        response.headers.update(exc.headers or {})  # e.g. Connection: close after a 408
        return response
