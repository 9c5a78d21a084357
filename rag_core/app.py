"""The ASGI app: routes only; the pipeline does the work.

``uvicorn rag_core.app:app`` serves the module-level app, which starts the embedded services
when Settings name none, builds its parts at startup (``rag_core.parts``) and loads the model
before it reports ready. ``create_app(settings, parts=...)`` lets tests hand in their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from rag_core import heap
from rag_core.api import (
    conversations,
    cors,
    errors,
    note_history,
    notes,
    query_route,
    rate_status,
    routes,
    users,
)
from rag_core.api import docs as api_docs
from rag_core.api.auth import check_auth_settings
from rag_core.api.auth_first import AuthFirst
from rag_core.api.body_limits import BodyLimit, route_limits
from rag_core.api.context import RequestContext
from rag_core.api.edge_shed import EdgeShed
from rag_core.config import Settings, fixed
from rag_core.errors import RagError
from rag_core.limits.loop_lag import LoopLag
from rag_core.parts import Parts, parts_for
from rag_core.pipeline import Pipeline
from rag_core.redis_kv.memory import MemoryWatch
from rag_core.telemetry import export, logs, metrics
from rag_core.telemetry import http as http_telemetry
from rag_core.telemetry.watch import HostWatch
from rag_core.text.nlp import nlp

log = logging.getLogger("rag_core.app")


def create_app(settings: Settings | None = None, parts: Parts | None = None) -> FastAPI:
    settings = settings or Settings()
    check_auth_settings(settings)  # InvalidSettings: no start with a forgeable identity
    loop_lag = LoopLag()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        logs.setup_logging(settings)
        export.setup(settings.observability.otel_exporter)
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = settings.services.app_threads
        if not settings.auth.auth_enabled:
            logs.log_event(log, logging.WARNING, "AUTHENTICATION IS OFF (dev profile): the user "
                           "comes from the X-User-ID header")
        owned = app.state.parts is None
        if owned:
            app.state.parts = await run_in_threadpool(parts_for, settings)
            app.state.pipeline = Pipeline(app.state.parts)
            # spaCy (the no-context and semantic decisions), before ready: the first question
            # took a second or more longer than the rest (`rag-core ask --server`'s first call)
            await run_in_threadpool(nlp)
        loader = getattr(app.state.parts.embedder, "load", None)
        if loader is not None:
            await run_in_threadpool(loader)
        if settings.observability.metrics_port:
            metrics.serve_metrics(fixed.METRICS_HOST, settings.observability.metrics_port)
        redis_client = getattr(app.state.parts.caches.semantic, "client", None)
        watch = MemoryWatch(redis_client).start() if redis_client is not None else None
        host_watch = HostWatch.of(settings, app.state.parts.store).start()
        startup_check = getattr(app.state.parts.generator, "startup_check", None)
        if startup_check is not None:  # the LLM's configuration, once (GET <base>/models)
            await run_in_threadpool(startup_check)
        if owned:  # a worker that built what it serves: frozen out of the collector
            heap.settle()
        probe = asyncio.create_task(loop_lag.probe())  # the edge's measure (api.edge_shed)
        yield
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
        host_watch.stop()
        if watch is not None:
            watch.stop()
        if owned:
            heap.thaw()
            app.state.parts.close()

    docs = api_docs.docs_enabled(settings)  # off in prod unless RAG_API_DOCS=true
    app = FastAPI(title="rag_core", version="0.1.0", lifespan=lifespan,
                  telemetry=http_telemetry.fastapi_telemetry(),  # its server span, our tracer
                  description="Questions about your own notes, answered from them.",
                  docs_url=None, redoc_url=None, openapi_url=api_docs.OPENAPI if docs else None)
    if docs:
        api_docs.install(app)  # Swagger UI and ReDoc from packaged files, no CDN
    app.state.settings = settings
    app.state.loop_lag = loop_lag  # the edge's measure of this worker's event loop
    app.state.parts = parts
    app.state.pipeline = None
    if parts is not None:
        app.state.pipeline = Pipeline(parts)
    errors.install(app)
    app.include_router(routes.router)
    app.include_router(query_route.router)
    app.include_router(rate_status.router)
    for prefix, router in (*notes.routers(), *note_history.routers(),
                           *conversations.routers()):
        app.include_router(router, prefix=prefix)
    app.include_router(users.router)
    app.add_middleware(AuthFirst, settings=settings.auth)  # the token before any body is read
    app.add_middleware(BodyLimit, limit_for=route_limits(  # inside the request context
        fixed.MAX_BODY_BYTES, fixed.MAX_NOTE_BODY_BYTES, fixed.MAX_BULK_BODY_BYTES),
        read_timeout_s=settings.services.body_read_timeout_s)
    app.add_middleware(EdgeShed, lag=loop_lag,  # a late loop's questions refused at once
                       limit_ms=settings.shedding.edge_shed_lag_ms)
    app.add_middleware(RequestContext,  # ids, trace, metric, log line
                       worker_pid=settings.profile == "dev")
    # outermost when on: 401, 413 and 429 reach a browser as themselves
    cors.install(app, settings.auth, settings.profile)
    return app


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
