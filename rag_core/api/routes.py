"""The routes of the question side of the API: health, readiness, metrics, query, stats."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool

from rag_core.answers.feedback import give_verdict
from rag_core.api.deps import PartsDep, SettingsDep, UserDep
from rag_core.api.question_gate import gate_of, tier_of
from rag_core.api.schemas import (
    FeedbackIn,
    FeedbackOut,
    LimitsOut,
    StatsOut,
    error_responses,
)
from rag_core.cache.shares import user_shares
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.history import user_periods
from rag_core.errors import DependencyError, Forbidden, NotFound, Unauthorized
from rag_core.store.base import Store
from rag_core.store.pgvector import PgVectorStore
from rag_core.telemetry.metrics import metrics_text
from rag_core.types import JsonObject

router = APIRouter()

@router.get("/healthz", tags=["ops"])
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


def operator_may_see(request: Request, settings: Settings) -> bool:
    """Whether the caller may read operational detail on the API port: the rule of
    ``/metrics`` (the metrics token when one is set; without one, every profile but prod)."""
    secret = settings.observability.metrics_token
    token = secret.get_secret_value() if secret else ""
    if not token:
        return settings.profile != "prod"
    given = request.headers.get("authorization", "").partition(" ")[2].strip()
    return hmac.compare_digest(given.encode(), token.encode())


@router.get("/readyz", tags=["ops"], responses={
    200: {"description": '`"ready"`, or `"degraded"`: PostgreSQL is down but Redis is up, so '
                         'cached answers are still served (new questions get 503 '
                         'VECTOR_SEARCH_FAILED). Only `status` for the public; `checks` and '
                         '`failing` with the metrics token (as `/metrics`)'},
    503: {"description": "not ready: Redis, the model or the LLM's configuration (Retry-After)"}})
async def readyz(request: Request, parts: PartsDep, settings: SettingsDep) -> JSONResponse:
    """Readiness for the gateway. An instance stays in rotation while it can still serve
    cached answers: a PostgreSQL outage alone is ``degraded``, not ``not_ready``. The public
    body is the status alone: which dependency fails and the breaker's state are for operators
    (``operator_may_see``)."""
    checks = await run_in_threadpool(parts.ready)
    failing = [k for k in ("postgres", "redis", "model_loaded") if not checks[k]]
    if not checks["llm"].get("ok", True):
        failing.append("llm")
    status = "ready" if not failing else "degraded" if failing == ["postgres"] else "not_ready"
    body: JsonObject = {"status": status}
    if operator_may_see(request, settings):
        body.update(checks=checks, failing=failing)
    ok = status != "not_ready"
    return JSONResponse(body, status_code=200 if ok else 503,
                        headers={} if ok else {"Retry-After": "5"})


@router.get("/metrics", tags=["ops"], response_class=PlainTextResponse,
            responses=error_responses(401, 403, 404))
async def metrics(request: Request, settings: SettingsDep) -> PlainTextResponse:
    """Prometheus text. With ``RAG_METRICS_TOKEN`` set: ``Authorization: Bearer <token>``;
    with ``RAG_METRICS_PORT``: on that port only. The prod profile serves nothing here
    without a token."""
    if settings.observability.metrics_port:
        raise NotFound(f"Metrics are served on port {settings.observability.metrics_port}.")
    secret = settings.observability.metrics_token
    token = secret.get_secret_value() if secret else ""
    if token:
        if not operator_may_see(request, settings):
            raise Unauthorized("The metrics token is missing or wrong.")
    elif settings.profile == "prod":
        raise Forbidden("Metrics are off on the API port in prod: set RAG_METRICS_TOKEN (and "
                        "give Prometheus the token) or RAG_METRICS_PORT.")
    return PlainTextResponse(metrics_text(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/stats", tags=["assistant"], response_model=StatsOut,
            responses=error_responses(401, 503))
async def stats(request: Request, user: UserDep, parts: PartsDep,
                settings: SettingsDep) -> JsonObject:
    """The caller's notes, spend and request limits (what is left of each). Service-wide
    figures (cache hit rates, total cost) are for operators: ``/metrics`` and ``rag-core cache
    stats``."""
    gate = gate_of(request)
    limits = None if gate is None else await gate.remaining(user, tier_of(request))

    def gather() -> JsonObject:
        spent = reporting.spend(parts.ledger, user)
        reserved = reporting.reserved(parts.ledger, user)
        saved = reporting.saved(parts.ledger, user)
        budget = settings.money.user_daily_budget_usd
        return {
            "user_id": user,
            "notes": {"count": len(parts.store.list_notes(user)),
                      "version": parts.store.notes_version(user)},
            "cost": {"spent_today_usd": round(spent, 6), "reserved_usd": round(reserved, 6),
                     "budget_usd": budget,
                     "remaining_usd": round(max(0.0, budget - spent - reserved), 6),
                     "saved_today_usd": round(saved, 6)},
            "cache": user_shares(parts.caches, user),
            "limits": None if limits is None else LimitsOut(
                source=limits.source, **{f"per_{w}": n or None for w, n in
                                         limits.limits.by_window().items()},
                **{f"remaining_{w}": n for w, n in limits.remaining.items()},
                in_flight=limits.in_flight,
                max_in_flight=settings.limits.user_max_in_flight or None),
            "history": caller_history(parts.store, user),
        }

    return await run_in_threadpool(gather)


def caller_history(store: Store, user: str) -> Mapping[str, Mapping[str, object]]:
    """The caller's day, week and month from ``store``'s PostgreSQL (nothing without it, or
    while down)."""
    if not isinstance(store, PgVectorStore):
        return {}
    try:
        return user_periods(store.pool.db, user)
    except DependencyError:
        return {}


@router.post("/v1/answers/{answer_id}/feedback", tags=["assistant"], response_model=FeedbackOut,
             responses=error_responses(401, 404, 422, 429, 503))
async def feedback(answer_id: str, body: FeedbackIn, user: UserDep,
                   parts: PartsDep) -> JsonObject:
    """Say that an answer you got was wrong (or right). `wrong` takes it out of every cache
    layer of yours: asked again, the question is answered afresh, and no paraphrase reuses
    the answer. An id that is not one of your answers: 404 `ANSWER_NOT_FOUND`. One verdict
    per answer (a new one replaces yours), at most 60 an hour: 429 `FEEDBACK_RATE_LIMITED`."""
    kept = await run_in_threadpool(give_verdict, parts.records, parts.caches.answers, user,
                                   answer_id, body.verdict, body.comment)
    return {"answer_id": answer_id, "verdict": kept.verdict, "source": kept.source,
            "removed_from_cache": kept.verdict == "wrong"}
