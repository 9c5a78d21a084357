"""CORS for browser apps on other origins (``RAG_CORS_ORIGINS``, ``RAG_CORS_ALLOW_CREDENTIALS``).

Off unless origins are named, in every profile: no CORS header is sent then. When on, Starlette's
``CORSMiddleware`` is the app's outermost layer, outside the request context, the body limit and
the token check, so a preflight is answered before any of them and a refusal (401, 413, 429,
503) reaches the browser as itself, with its code readable, instead of as an opaque network
error. The browser may read the headers a client needs: the request limits' ``RateLimit-*``,
``Retry-After`` and ``X-Request-ID``.

The prod profile refuses ``*`` with credentials (``INVALID_SETTINGS``): any site a user visits
could then call the API with their cookies.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from rag_core.config import Auth
from rag_core.errors import InvalidSettings
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.api")
ANY = "*"
# what the API's routes take: the methods of its routes, and the headers a client sends
METHODS = ("GET", "POST", "PUT", "DELETE")
REQUEST_HEADERS = ("Authorization", "Content-Type", "X-Request-ID", "traceparent", "tracestate")
EXPOSED = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After",
           "X-Request-ID")
PREFLIGHT_MAX_AGE_S = 600


def check_cors_settings(auth: Auth, profile: str) -> None:
    """Refuse, in the prod profile, any origin with credentials (``InvalidSettings``)."""
    if ANY in auth.cors_origins and auth.cors_allow_credentials:
        message = ("RAG_CORS_ORIGINS=* with RAG_CORS_ALLOW_CREDENTIALS=true lets any site "
                   "call the API with its users' credentials; name the origins")
        if profile == "prod":
            raise InvalidSettings(message)
        logs.log_event(log, logging.WARNING, message)


def install(app: FastAPI, auth: Auth, profile: str) -> None:
    """The CORS layer, outermost: call it after every other middleware is added."""
    check_cors_settings(auth, profile)
    origins = auth.cors_origins
    if not origins:
        return
    headers = list(REQUEST_HEADERS)
    if not auth.auth_enabled:  # dev: the user comes from a header
        headers.append("X-User-ID")
    app.add_middleware(CORSMiddleware, allow_origins=origins,
                       allow_credentials=auth.cors_allow_credentials,
                       allow_methods=METHODS, allow_headers=headers, expose_headers=EXPOSED,
                       max_age=PREFLIGHT_MAX_AGE_S)


__all__ = ["EXPOSED", "check_cors_settings", "install"]
