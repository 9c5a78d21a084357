"""The ASGI app: routes only; the pipeline does the work.

``uvicorn rag_core.app:app`` serves the module-level app, which builds its pipeline at startup
(embedded services or ``DATABASE_URL`` / ``REDIS_URL``) and loads the model before it reports
ready. ``create_app(settings, pipeline=...)`` lets tests hand in their own.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag_core import observability as obs
from rag_core.auth import bearer, check_auth_settings, verify_token
from rag_core.config import Settings
from rag_core.errors import RagError, ServiceNotReady

log = logging.getLogger("rag_core.app")
_RID = re.compile(r"^[A-Za-z0-9._\-]{1,128}$")
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"],
                        registry=obs.REGISTRY)
STATUS_CODES = {400: "INVALID_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND",
                405: "METHOD_NOT_ALLOWED", 413: "TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE"}


class QueryIn(BaseModel):
    query: str = Field(description="The question, 1 to 1,000 characters")
    top_k: int | None = Field(default=None, ge=1, le=50, description="Chunks to retrieve")
    stream: bool = Field(default=False, description="Answer as Server-Sent Events")


def _error(status: int, code: str, message: str, request_id: str | None,
           retry_after: float | None = None) -> JSONResponse:
    headers = {"X-Request-ID": request_id or ""}
    if retry_after:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = {"error": {"code": code, "message": message, "request_id": request_id}}
    return JSONResponse(body, status_code=status, headers=headers)


def _sse(event: dict[str, Any]) -> str:
    kind = event.get("type", "message")
    data = {k: v for k, v in event.items() if k != "type"}
    return f"event: {kind}\ndata: {json.dumps(data, default=str)}\n\n"


def create_app(settings: Settings | None = None, pipeline: Any = None) -> FastAPI:
    settings = settings or Settings()
    check_auth_settings(settings)  # InvalidSettings: no start with a forgeable identity

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        obs.setup_logging(settings)
        obs.setup_tracing(settings)
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.app_threads
        if not settings.auth_enabled:
            obs.log_event(log, logging.WARNING, "AUTHENTICATION IS OFF (dev profile): the user "
                          "comes from the X-User-ID header")
        if app.state.pipeline is None:
            from rag_core.pipeline import Pipeline

            app.state.pipeline = await run_in_threadpool(Pipeline.from_settings, settings)
            app.state.owns_pipeline = True
        loader = getattr(app.state.pipeline.embedder, "load", None)
        if loader is not None:
            await run_in_threadpool(loader)
        startup_check = getattr(app.state.pipeline.generator, "startup_check", None)
        if startup_check is not None:  # the LLM's configuration, once (GET <base>/models)
            await run_in_threadpool(startup_check)
        yield
        if app.state.owns_pipeline:
            app.state.pipeline.close()

    app = FastAPI(title="rag_core", version="0.1.0", lifespan=lifespan,
                  description="Questions about your own sermon notes, answered from them.")
    app.state.pipeline = pipeline
    app.state.owns_pipeline = False
    app.state.settings = settings

    @app.middleware("http")
    async def request_context(request: Request, call_next: Any) -> Any:
        given = request.headers.get("x-request-id", "")
        rid = given if _RID.match(given) else uuid.uuid4().hex
        request.state.request_id = rid
        token = obs.request_id_var.set(rid)
        start = time.perf_counter()
        try:
            response = await call_next(request)
        except Exception:  # a bug: answer with a coded body, keep the traceback in the log
            log.exception("unhandled error")
            response = _error(500, "INTERNAL", "An unexpected error occurred.", rid)
        finally:
            obs.request_id_var.reset(token)
        response.headers["X-Request-ID"] = rid
        response.headers["X-Worker-PID"] = str(os.getpid())
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        HTTP_REQUESTS.labels(route=path, method=request.method,
                             status=f"{response.status_code // 100}xx").inc()
        obs.log_event(log, logging.INFO, "request", method=request.method, route=path,
                      status=response.status_code, request_id=rid,
                      ms=round((time.perf_counter() - start) * 1000, 2))
        return response

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        obs.ERRORS.labels(type=exc.code).inc()
        return _error(exc.status, exc.code, exc.message, getattr(request.state, "request_id",
                                                                 None), exc.retry_after)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        rid = getattr(request.state, "request_id", None)
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(400, "INVALID_REQUEST", "The body is not valid JSON.", rid)
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return _error(422, "INVALID_REQUEST", f"{where or 'body'}: {first.get('msg', 'invalid')}",
                      rid)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "HTTP_ERROR")
        return _error(exc.status_code, code, str(exc.detail),
                      getattr(request.state, "request_id", None))

    def user_of(request: Request) -> str:
        if not settings.auth_enabled:
            return request.headers.get("x-user-id", "dev")
        return verify_token(settings, bearer(request.headers.get("authorization")))

    def pipe(request: Request) -> Any:
        if request.app.state.pipeline is None:
            raise ServiceNotReady()
        return request.app.state.pipeline

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"],
             responses={503: {"description": "a dependency is down (Retry-After)"}})
    async def readyz(request: Request) -> JSONResponse:
        checks = await run_in_threadpool(pipe(request).ready)
        ready = all(checks[k] for k in ("postgres", "redis", "model_loaded")) \
            and checks.get("llm", {}).get("ok", True)
        body = {"status": "ready" if ready else "not_ready", "checks": checks}
        return JSONResponse(body, status_code=200 if ready else 503,
                            headers={} if ready else {"Retry-After": "5"})

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(obs.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/query", tags=["assistant"], responses={
        401: {"description": "missing or invalid token"},
        422: {"description": "invalid question (INVALID_QUERY)"},
        429: {"description": "daily budget used up (BUDGET_EXCEEDED)"},
        503: {"description": "a dependency is down (Retry-After)"}})
    async def query(body: QueryIn, request: Request) -> Any:
        user = user_of(request)
        pipeline = pipe(request)
        rid = request.state.request_id
        if not body.stream:
            answer = await run_in_threadpool(pipeline.ask, user, body.query, top_k=body.top_k,
                                             request_id=rid)
            return answer.to_dict()
        events: Iterator[dict[str, Any]] = await run_in_threadpool(
            lambda: _primed(pipeline.stream(user, body.query, top_k=body.top_k,
                                            request_id=rid)))

        async def body_iter() -> AsyncIterator[str]:
            async for event in iterate_in_threadpool(events):
                yield _sse(event)

        return StreamingResponse(body_iter(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    @app.get("/v1/stats", tags=["assistant"])
    async def stats(request: Request) -> dict[str, Any]:
        user = user_of(request)
        pipeline = pipe(request)

        def gather() -> dict[str, Any]:
            spent = pipeline.ledger.spend(user)
            return {
                "user_id": user,
                "cache": {k: v.to_dict() for k, v in pipeline.caches.stats().items()},
                "cost": {"spent_today_usd": round(spent, 6),
                         "budget_usd": settings.user_daily_budget_usd,
                         "remaining_usd": round(max(0.0, settings.user_daily_budget_usd
                                                    - spent), 6)},
            }

        return await run_in_threadpool(gather)

    return app


def _primed(events: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Run the stream to its first event now, so that validation, auth-free errors and budget
    refusals raise before the 200 of the event stream is sent."""
    first = next(events)

    def chain() -> Iterator[dict[str, Any]]:
        yield first
        yield from events

    return chain()


def _module_app() -> FastAPI:
    try:
        return create_app()
    except RagError as exc:  # misconfiguration: say so plainly when uvicorn imports us
        raise SystemExit(f"error {exc.code}: {exc.message}") from exc
    except ValueError as exc:
        raise SystemExit(f"error INVALID_SETTINGS: {exc}") from exc


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``rag_core.app:app`` is built when first asked for (uvicorn asks at start), not when the
    module is imported: its settings come from the environment, and the prod profile refuses an
    unsafe identity set-up there with a clear message (``error INVALID_SETTINGS: ...``)."""
    global _app
    if name == "app":
        if _app is None:
            _app = _module_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["app", "create_app"]  # noqa: F822 (app: built on first access)
