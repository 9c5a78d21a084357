"""Identity: a bearer JWT whose ``sub`` is the user id.

Three ways to verify a token, chosen by Settings:

* ``HS256`` with ``RAG_JWT_SECRET``: tokens this service issues (``rag-core token``), for local
  use and load tests. The ``prod`` profile refuses the built-in secret (it is published in the
  code) and any secret weaker than :data:`MIN_SECRET_CHARS` characters and
  :data:`MIN_SECRET_BITS` bits (see :func:`secret_bits`).
* ``RS256`` / ``ES256`` with ``RAG_JWT_PUBLIC_KEY``: the gateway's public key (PEM text or the
  path of a PEM file).
* ``RS256`` / ``ES256`` with ``RAG_JWT_JWKS_URL``: the gateway's key set (``rag_core.api.jwks``:
  keys cached ``RAG_JWT_JWKS_CACHE_S``, one fetch at a time, a failed fetch remembered for
  ``RAG_JWT_JWKS_COOLDOWN_S``, 503 at once rather than a wait behind a fetch in flight).

Every token must carry ``exp`` and ``sub``; ``iss`` and ``aud`` are checked when
``RAG_JWT_ISSUER`` / ``RAG_JWT_AUDIENCE`` are set (the prod profile requires both for keys issued
elsewhere); a lifetime above ``RAG_JWT_MAX_TTL_S`` is refused (``exp`` measured from ``iat``,
and from now); ``sub`` must be a whole user id (``re.fullmatch``: ``"amara\\n"`` is not
``amara``). :func:`user_dependency` is the FastAPI dependency (``HTTPBearer``, so ``/docs``
shows the scheme).

Time: PyJWT reads the wall clock itself, so it checks the signature and the claims but not the
times; :func:`check_times` checks ``iat``, ``nbf`` and ``exp`` (PyJWT's rules, leeway
``RAG_JWT_LEEWAY_S``) against the verifier's ``clock``, which a test moves instead of waiting.
"""

from __future__ import annotations

import math
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import jwt

from rag_core.api.jwks import JwksKeys, SigningKey
from rag_core.config import DEFAULT_JWT_SECRET, Auth, Settings, fixed
from rag_core.errors import InvalidArgument, InvalidSettings, Unauthorized
from rag_core.safety.guard import USER_ID

MIN_SECRET_CHARS = 32
MIN_SECRET_BITS = 128.0
# What must be left of a secret once its runs are left out (``surprising_part``): 20,000 random
# 64-character hex secrets kept at least 136 bits, token_urlsafe(48) at least 168; sequences and
# keyboard walks keep under 40.
MIN_SURPRISE_BITS = 96.0
JWKS_TIMEOUT_S = 5.0
Claims = dict[str, object]  # a token's claims, as its JSON payload decodes
VERIFIED_FOR_S = 60.0  # a verified token is trusted this long before it is verified again
VERIFIED_MAX = 4096  # tokens remembered per verifier
SECRET_HELP = ("generate one with `openssl rand -hex 32` or "
               "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`")


# --- settings checks (at startup) --------------------------------------------------------------


def secret_bits(secret: str) -> float:
    """A rough, conservative strength of a secret in bits: the smaller of its length times the
    Shannon entropy of its characters, and eight times its zlib-compressed size (which catches
    repetition that character counts miss: ``"password" * 6`` has 132 bits by characters but
    compresses to 11 bytes). Random hex of 64 characters scores ~240, ``token_urlsafe(48)``
    ~330; a human phrase or a repeated word stays far below 128."""
    if not secret:
        return 0.0
    n = len(secret)
    by_chars = -sum(c * math.log2(c / n) for c in Counter(secret).values())
    data = secret.encode()
    compressed = len(zlib.compress(data, 9)) - len(zlib.compress(b"", 9))
    return min(by_chars, 8.0 * compressed)


# Orders a person types without thinking: the alphabet, digits, hex, the keyboard's rows and
# columns (US layout). A character next to the one before it in one of these (either way), or
# equal to it, carries almost no surprise.
RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789abcdef", "1234567890-=", "qwertyuiop[]",
        "asdfghjkl;'", "zxcvbnm,./", "1qaz", "2wsx", "3edc", "4rfv", "5tgb", "6yhn", "7ujm",
        "8ik,", "9ol.", "0p;/")
_NEIGHBOURS = frozenset(pair for run in RUNS for a, b in zip(run, run[1:], strict=False)
                        for pair in ((a, b), (b, a)))


def surprising_part(secret: str) -> str:
    """``secret`` without the characters that continue a run (the next or previous one in an
    alphabet, the digits, hex or along a keyboard row or column, or a repeat), case folded:
    ``"0123456789abcdef" * 2`` keeps ``"00"``, ``"1qaz2wsx..."`` keeps ``"12..."``. A random
    64-character hex secret keeps about three quarters of its characters."""
    text = secret.lower()
    kept = [c for i, c in enumerate(text)
            if i == 0 or not (c == text[i - 1] or (text[i - 1], c) in _NEIGHBOURS)]
    return "".join(kept)


def weak_secret_reason(secret: str) -> str | None:
    """Why a secret is not good enough for prod, or None."""
    if secret == DEFAULT_JWT_SECRET:
        return "RAG_JWT_SECRET is the built-in development secret, which is published in the code"
    if len(secret) < MIN_SECRET_CHARS:
        return (f"RAG_JWT_SECRET has {len(secret)} characters; the prod profile needs at least "
                f"{MIN_SECRET_CHARS}")
    bits = secret_bits(secret)
    if bits < MIN_SECRET_BITS:
        return (f"RAG_JWT_SECRET is too predictable (about {bits:.0f} bits by its characters and "
                f"repetitions; the prod profile needs {MIN_SECRET_BITS:.0f})")
    surprise = secret_bits(surprising_part(secret))
    if surprise < MIN_SURPRISE_BITS:
        return (f"RAG_JWT_SECRET is too predictable: it follows sequences or keyboard runs "
                f"(about {surprise:.0f} bits once those are left out; the prod profile needs "
                f"{MIN_SURPRISE_BITS:.0f})")
    return None


def check_auth_settings(settings: Settings) -> None:
    """Refuse to start with an identity set-up that anyone could forge (``InvalidSettings``)."""
    if not settings.auth.auth_enabled:
        if settings.profile != "dev":
            raise InvalidSettings("RAG_AUTH_ENABLED=false is only allowed in the dev profile")
        return
    if settings.auth.jwt_algorithm == "HS256":
        reason = weak_secret_reason(settings.auth.jwt_secret.get_secret_value())
        if reason and settings.profile == "prod":
            raise InvalidSettings(f"{reason}; {SECRET_HELP}")
        return
    if not settings.auth.jwt_public_key and not settings.auth.jwt_jwks_url:
        raise InvalidSettings(f"RAG_JWT_ALGORITHM={settings.auth.jwt_algorithm} needs "
                              "RAG_JWT_PUBLIC_KEY or RAG_JWT_JWKS_URL")
    if settings.profile == "prod" and not (settings.auth.jwt_issuer and settings.auth.jwt_audience):
        raise InvalidSettings("tokens signed elsewhere need RAG_JWT_ISSUER and RAG_JWT_AUDIENCE "
                              "in the prod profile (a token for another service must not pass)")
    if settings.auth.jwt_public_key and not settings.auth.jwt_jwks_url:
        _public_key(settings.auth)  # a missing key file is a startup error, not a 401 per request


def _public_key(settings: Auth) -> str:
    value = (settings.jwt_public_key or "").strip()
    if value.startswith("-----BEGIN"):
        return value
    try:
        return Path(value).read_text()
    except OSError as exc:
        raise InvalidSettings(f"RAG_JWT_PUBLIC_KEY is neither PEM text nor a readable file: "
                              f"{exc.strerror}") from exc


# --- issuing (local use) -----------------------------------------------------------------------


def issue_token(settings: Settings, user_id: str, ttl_s: int = 3600) -> str:
    """A signed HS256 token for local use and load tests, living at most ``jwt_max_ttl_s``."""
    if settings.auth.jwt_algorithm != "HS256":
        raise InvalidArgument("Tokens can only be issued with an HS256 secret; this service "
                              f"verifies {settings.auth.jwt_algorithm} tokens issued elsewhere.")
    if not USER_ID.fullmatch(user_id):
        raise InvalidArgument("The user id must be 1-128 letters, digits or . _ @ : -")
    if not 1 <= ttl_s <= settings.auth.jwt_max_ttl_s:
        raise InvalidArgument(f"--ttl must be between 1 and {settings.auth.jwt_max_ttl_s} seconds "
                              "(RAG_JWT_MAX_TTL_S); the service refuses longer-lived tokens.")
    now = int(time.time())
    claims: Claims = {"sub": user_id, "iat": now, "exp": now + int(ttl_s)}
    if settings.auth.jwt_issuer:
        claims["iss"] = settings.auth.jwt_issuer
    if settings.auth.jwt_audience:
        claims["aud"] = _audiences(settings.auth)[0]
    return jwt.encode(claims, settings.auth.jwt_secret.get_secret_value(), algorithm="HS256")


# --- verifying ---------------------------------------------------------------------------------


def _audiences(settings: Auth) -> list[str]:
    return [a.strip() for a in (settings.jwt_audience or "").split(",") if a.strip()]


def _seconds(claims: Claims, name: str) -> int:
    value = claims[name]
    if not isinstance(value, int | float | str):
        raise Unauthorized("The token is not valid.")
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError) as exc:
        raise Unauthorized("The token is not valid.") from exc


def _number(value: object) -> float:
    """A claim's value as a number (``exp`` was checked by ``_seconds`` already)."""
    if not isinstance(value, int | float | str):
        raise Unauthorized("The token is not valid.")
    try:
        return float(value)
    except (ValueError, OverflowError) as exc:
        raise Unauthorized("The token is not valid.") from exc


def expired(claims: Claims, now: float) -> bool:
    """Whether the token's ``exp`` is past at ``now``, leeway ``RAG_JWT_LEEWAY_S`` allowed."""
    return _seconds(claims, "exp") <= now - fixed.JWT_LEEWAY_S


def check_times(claims: Claims, now: float) -> None:
    """PyJWT's time checks, in its order, at ``now`` (epoch seconds): an ``iat`` or ``nbf``
    later than now plus the leeway, or one that is not a number, is not valid; an ``exp`` at or
    before now minus the leeway has expired."""
    for name in ("iat", "nbf"):
        if name in claims and _seconds(claims, name) > now + fixed.JWT_LEEWAY_S:
            raise Unauthorized("The token is not valid.")
    if "exp" in claims and expired(claims, now):
        raise Unauthorized("The token has expired.")


class TokenVerifier:
    """Verifies tokens for one auth section; holds the JWKS client (and its key cache).
    ``clock`` (epoch seconds) decides whether a token has expired or is not valid yet, and how
    long a verified token is remembered."""

    def __init__(self, settings: Auth, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.jwks: JwksKeys | None = None
        self._key: SigningKey | None = None
        # token -> (verified until, its exp, its claims): tokens checked lately (``claims``)
        self._verified: dict[str, tuple[float, int, Claims]] = {}
        if settings.jwt_algorithm == "HS256":
            self._key = settings.jwt_secret.get_secret_value()
        elif settings.jwt_jwks_url:
            self.jwks = JwksKeys(settings.jwt_jwks_url, lifespan_s=fixed.JWT_JWKS_CACHE_S,
                                 cooldown_s=fixed.JWT_JWKS_COOLDOWN_S,
                                 timeout_s=JWKS_TIMEOUT_S)
        elif settings.jwt_public_key:
            self._key = _public_key(settings)

    def _signing_key(self, token: str) -> SigningKey:
        if self.jwks is None:
            if not self._key:
                raise Unauthorized("The service has no key to verify tokens with.")
            return self._key
        return self.jwks.key_for(token)  # AuthUnavailable (503) or Unauthorized

    def verify(self, token: str) -> str:
        """The user id of a valid token; ``Unauthorized`` with a plain reason otherwise."""
        return str(self.claims(token)["sub"])

    def claims(self, token: str) -> Claims:
        """The claims of a valid token (signature, expiry, issuer, audience, lifetime and
        ``sub`` checked); ``Unauthorized`` with a plain reason otherwise.

        A token verified in the last ``VERIFIED_FOR_S`` seconds is not verified again (its
        signature and claims cannot have changed; only its expiry is checked anew): a client
        sends the same token with every request, and the signature check and pyjwt's key
        checks cost more than the rest of a cached answer."""
        now = self.clock()
        known = self._verified.get(token)
        if known is not None and known[0] > now:
            if known[1] <= now - fixed.JWT_LEEWAY_S:  # as ``expired``
                raise Unauthorized("The token has expired.")
            return dict(known[2])
        claims = self._verify(token, now)
        if len(self._verified) >= VERIFIED_MAX:
            self._verified.clear()  # many callers at once: start again rather than grow
        self._verified[token] = (now + VERIFIED_FOR_S, _seconds(claims, "exp"), claims)
        return dict(claims)

    def _verify(self, token: str, now: float) -> Claims:
        s = self.settings
        require = ["exp", "sub"] + (["iss"] if s.jwt_issuer else []) \
            + (["aud"] if s.jwt_audience else [])
        key = self._signing_key(token)
        try:
            claims = jwt.decode(token, key, algorithms=[s.jwt_algorithm],
                                issuer=s.jwt_issuer or None, audience=_audiences(s) or None,
                                options={"require": require, "verify_aud": bool(s.jwt_audience),
                                         "verify_exp": False, "verify_nbf": False,
                                         "verify_iat": False})
        except (jwt.InvalidIssuerError, jwt.InvalidAudienceError) as exc:
            # PyJWT checks iss and aud after the signature and, when it checks them, the times:
            # an expired token for another service still says it has expired
            check_times(jwt.decode(token, options={"verify_signature": False}), now)
            if isinstance(exc, jwt.InvalidIssuerError):
                raise Unauthorized("The token was issued by someone this service does not "
                                   "trust.") from exc
            raise Unauthorized("The token is meant for another service (audience).") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("The token is not valid.") from exc
        check_times(claims, now)
        self._check_lifetime(claims, now)
        user = claims.get("sub")
        if not isinstance(user, str) or not USER_ID.fullmatch(user):
            raise Unauthorized("The token's subject is not a valid user id.")
        return dict(claims)

    def _check_lifetime(self, claims: Claims, now: float) -> None:
        cap = self.settings.jwt_max_ttl_s + fixed.JWT_LEEWAY_S
        exp = _number(claims["exp"])
        iat = claims.get("iat")
        start = float(iat) if isinstance(iat, int | float) and not isinstance(iat, bool) else now
        if max(exp - start, exp - now) > cap:
            raise Unauthorized(f"The token lives longer than this service accepts "
                               f"({self.settings.jwt_max_ttl_s} s).")


_verifiers: dict[tuple[object, ...], TokenVerifier] = {}
_lock = threading.Lock()


def verifier_for(auth: Auth) -> TokenVerifier:
    """One verifier (and one JWKS key cache) per process and auth section."""
    key = (auth.jwt_algorithm, auth.jwt_secret.get_secret_value(), auth.jwt_public_key,
           auth.jwt_jwks_url, auth.jwt_issuer, auth.jwt_audience, auth.jwt_max_ttl_s,
           fixed.JWT_JWKS_CACHE_S, fixed.JWT_JWKS_COOLDOWN_S, fixed.JWT_LEEWAY_S)
    with _lock:
        verifier = _verifiers.get(key)
        if verifier is None:
            verifier = _verifiers[key] = TokenVerifier(auth)
        return verifier


def verify_token(auth: Auth, token: str) -> str:
    return verifier_for(auth).verify(token)


def verify_claims(auth: Auth, token: str) -> Claims:
    return verifier_for(auth).claims(token)


def scopes(claims: Claims) -> set[str]:
    """The token's scopes: ``scope`` as a space-separated string (RFC 8693) or a list."""
    value = claims.get("scope") or claims.get("scp") or ""
    items = value.split() if isinstance(value, str) else value
    return {str(s) for s in items} if isinstance(items, list | tuple | set) else set()


def bearer(header: str | None) -> str:
    if not header:
        raise Unauthorized("An Authorization: Bearer <token> header is required.")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("The Authorization header must be 'Bearer <token>'.")
    return token.strip()
