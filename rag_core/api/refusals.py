"""Requests the API turned away before the pipeline, counted in the user's day.

The pipeline counts every question it answers or fails (``AnswerMaker.ended``). A request it
never saw (a missing or bad token, a body too large or not valid, the write quota, the feedback
rate) was counted only in ``assistant_errors_total{type}``, which knows
no user. As such a request ends, ``count`` adds it to the user's day as ``rejected:<CODE>``
(``RequestCounts.rejected``), where ``rag-core costs report`` shows it: per user when the token
was verified before the refusal (``AuthFirst`` leaves its claims in the request's state), else
in the total of requests whose caller is not known. Only requests that ask for work are counted
(a method with a body under ``/v1/``); the error's code is the one its response carried
(``errors.error_response`` leaves it in the request's state, unless the pipeline counted it).
"""

from __future__ import annotations

from starlette.datastructures import Headers

from rag_core.api.asgi import Scope
from rag_core.api.auth_first import CLAIMS, authenticated
from rag_core.api.errors import REFUSED
from rag_core.safety.guard import USER_ID


def caller(scope: Scope) -> str | None:
    """The user of a request as far as it was established: the verified token's subject, or
    with auth off (dev) the ``X-User-ID`` the routes would take; None when not known."""
    state = scope.get("state") or {}
    claims = state.get(CLAIMS)
    if claims:
        return str(claims["sub"])
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    if settings is not None and not settings.auth.auth_enabled:
        user = Headers(scope=scope).get("x-user-id", "dev")
        return user if USER_ID.fullmatch(user) else None
    return None


def count(scope: Scope) -> None:
    """Count the request in its user's day if it was turned away before the pipeline (see the
    module docstring); without the service's parts (not ready) there is no ledger to count in,
    and ``assistant_errors_total`` holds it alone."""
    code = (scope.get("state") or {}).get(REFUSED)
    if not code or not authenticated(scope):
        return
    parts = getattr(getattr(scope.get("app"), "state", None), "parts", None)
    if parts is None:
        return
    parts.ledger.requests.rejected(caller(scope), str(code))
