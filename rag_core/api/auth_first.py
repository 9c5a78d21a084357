"""The token is checked before anything reads the body.

FastAPI reads and parses a route's body before it resolves the route's dependencies, so a
caller without a valid token could make the service read and parse up to the body limit (16 MiB
on the bulk route) for nothing. This pure ASGI middleware checks the bearer token of every
``/v1/`` request that carries a body first (a JWKS fetch in a worker thread; a declared body
over the route's limit was refused 413 before, by ``limits.BodyLimit``), answers 401/503 with
a coded body without calling ``receive`` at all, and hands the verified claims to
``deps.current_caller`` (and to ``query_route.QueryRoute``) through the request's state,
so the token is verified once.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from rag_core.api import errors
from rag_core.api.asgi import ASGIApp, Receive, Scope, Send
from rag_core.api.auth import Claims, bearer, verify_claims
from rag_core.config import Auth
from rag_core.errors import RagError
from rag_core.telemetry import logs

CLAIMS = "verified_claims"  # the key in the request's state


BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def authenticated(scope: Scope) -> bool:
    """A request to the API (``/v1/``) with a method that carries a body (a GET is checked by
    the route's dependency, and a wrong method still answers 405)."""
    return scope.get("method") in BODY_METHODS and scope.get("path", "").startswith("/v1/")


class AuthFirst:
    def __init__(self, app: ASGIApp, *, settings: Auth) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.settings.auth_enabled \
                or not authenticated(scope):
            await self.app(scope, receive, send)
            return
        try:
            token = bearer(Headers(scope=scope).get("authorization"))
            claims: Claims = (
                await run_in_threadpool(verify_claims, self.settings, token)
                if self.settings.jwt_jwks_url else verify_claims(self.settings, token))
        except RagError as exc:
            response = errors.error_response(exc.status, exc.code, exc.message,
                                             logs.request_id_var.get(), exc.retry_after,
                                             scope=scope)
            response.headers["connection"] = "close"  # the unread body is not drained
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})[CLAIMS] = claims
        await self.app(scope, receive, send)
