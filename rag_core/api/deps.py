"""FastAPI dependencies: how a route gets the Settings, the parts, the pipeline and the user.

Routes declare what they need with the ``Annotated`` aliases below; the parts are built once at
startup (``app.state.parts``) and a route never reaches into ``app.state`` itself.

Every dependency here is ``async def``: FastAPI runs a plain ``def`` dependency in the thread
pool, and a hop there (a thread woken, the GIL handed over and back) cost more than the work of
a cached answer; with a hundred threads busy under load, each hop also waits its turn. Only a
token check that may fetch keys (JWKS) goes to a thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from rag_core.api.auth import bearer, scopes, verify_claims
from rag_core.config import Settings
from rag_core.errors import ServiceNotReady, Unauthorized
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.safety.guard import USER_ID

NOTES_WRITE = "notes:write"  # the scope of a service that manages any user's notes

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer",
    description="A JWT whose `sub` is the user id (HS256 with the service's secret, or "
                "RS256/ES256 issued by the gateway).")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_parts(request: Request) -> Parts:
    parts: Parts | None = request.app.state.parts
    if parts is None:
        raise ServiceNotReady()
    return parts


async def get_pipeline(request: Request) -> Pipeline:
    pipeline: Pipeline | None = request.app.state.pipeline
    if pipeline is None:
        raise ServiceNotReady()
    return pipeline


SettingsDep = Annotated[Settings, Depends(get_settings)]
PartsDep = Annotated[Parts, Depends(get_parts)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the token's subject (a user id, or a service's name) and its scopes."""

    subject: str
    scopes: frozenset[str] = frozenset()


Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def current_caller(request: Request, credentials: Credentials) -> Caller:
    """The verified caller (with auth off, in dev only: ``X-User-ID``, every scope).

    The settings are read here, not declared as a dependency: each level of dependencies
    costs FastAPI several microseconds per request, and this runs on every cached answer."""
    settings = await get_settings(request)
    if not settings.auth.auth_enabled:
        user = request.headers.get("x-user-id", "dev")
        if not USER_ID.fullmatch(user):
            raise Unauthorized("X-User-ID is not a valid user id.")
        return Caller(user, frozenset({NOTES_WRITE}))
    claims = getattr(request.state, "verified_claims", None)  # api.auth_first, before the body
    if claims is None:
        token = credentials.credentials if credentials else bearer(
            request.headers.get("authorization"))
        claims = (await run_in_threadpool(verify_claims, settings.auth, token)
                  if settings.auth.jwt_jwks_url
                  else verify_claims(settings.auth, token))  # a key fetch must not block the loop
        request.state.verified_claims = claims  # the tier claim, for the request limits
    return Caller(str(claims["sub"]), frozenset(scopes(claims)))


CallerDep = Annotated[Caller, Depends(current_caller)]


async def current_user(request: Request, credentials: Credentials) -> str:
    """The caller's user id: the token's ``sub`` (``current_caller``'s check, called here
    rather than declared, for the same reason)."""
    caller = await current_caller(request, credentials)
    return caller.subject


UserDep = Annotated[str, Depends(current_user)]
