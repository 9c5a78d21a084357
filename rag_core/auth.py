"""Identity: a bearer JWT whose ``sub`` is the user id (HS256 secret or a public key)."""

from __future__ import annotations

import time

import jwt

from rag_core.config import Settings
from rag_core.errors import Unauthorized, UserError
from rag_core.guard import USER_ID

LEEWAY_S = 10


def issue_token(settings: Settings, user_id: str, ttl_s: int = 3600) -> str:
    """A signed HS256 token for local use and load tests."""
    if settings.jwt_algorithm != "HS256":
        raise UserError("Tokens can only be issued with an HS256 secret; this service verifies "
                        f"{settings.jwt_algorithm} tokens issued elsewhere.")
    if not USER_ID.match(user_id):
        raise UserError("The user id must be 1-128 letters, digits or . _ @ : -")
    now = int(time.time())
    claims = {"sub": user_id, "iat": now, "exp": now + int(ttl_s)}
    return jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm="HS256")


def verify_token(settings: Settings, token: str) -> str:
    """The user id of a valid token; ``Unauthorized`` with a plain reason otherwise."""
    return str(verify_claims(settings, token)["sub"])


def scopes(claims: dict[str, object]) -> set[str]:
    """The token's scopes: ``scope`` as a space-separated string (RFC 8693) or a list."""
    value = claims.get("scope") or claims.get("scp") or ""
    items = value.split() if isinstance(value, str) else value
    return {str(s) for s in items} if isinstance(items, list | tuple | set) else set()


def verify_claims(settings: Settings, token: str) -> dict[str, object]:
    """The claims of a valid token (``sub`` checked); ``Unauthorized`` otherwise."""
    key = (settings.jwt_public_key if settings.jwt_algorithm != "HS256"
           else settings.jwt_secret.get_secret_value())
    if not key:
        raise Unauthorized("The service has no key to verify tokens with.")
    try:
        claims = jwt.decode(token, key, algorithms=[settings.jwt_algorithm], leeway=LEEWAY_S,
                            options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The token is not valid.") from exc
    user = claims.get("sub")
    if not isinstance(user, str) or not USER_ID.fullmatch(user):
        raise Unauthorized("The token's subject is not a valid user id.")
    return dict(claims)


def bearer(header: str | None) -> str:
    if not header:
        raise Unauthorized("An Authorization: Bearer <token> header is required.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
