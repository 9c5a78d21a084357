"""Identity you can trust: secrets the prod profile accepts, tokens from a gateway (RS256/ES256,
a public key or a JWKS served over real HTTP), iss/aud, whole subjects, a lifetime cap."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from fastapi import FastAPI
from jwks_server import JWKSServer, Key

from rag_core.api.auth import (
    MIN_SECRET_BITS,
    TokenVerifier,
    check_auth_settings,
    issue_token,
    secret_bits,
    verify_token,
)
from rag_core.api.deps import UserDep
from rag_core.config import DEFAULT_JWT_SECRET, Settings
from rag_core.errors import AuthUnavailable, InvalidArgument, InvalidSettings, Unauthorized

ISS, AUD = "https://gateway.example", "rag-core"
STRONG = secrets.token_urlsafe(48)


def hs(settings: Settings, **claims: object) -> str:
    now = int(time.time())
    body = {"sub": "amara", "iat": now, "exp": now + 600, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None},
                      settings.auth.jwt_secret.get_secret_value(), algorithm="HS256")


# --- secrets and the prod profile ----------------------------------------------------------------


@pytest.mark.parametrize("secret,why", [
    (DEFAULT_JWT_SECRET, "built-in development secret"),
    ("short-but-random-Q7x", "has 20 characters"),
    ("password" * 6, "too predictable"),
    ("ab" * 40, "too predictable"),
])
def test_prod_refuses_the_built_in_or_a_weak_secret(settings: Settings, secret: str,
                                                    why: str) -> None:
    prod = settings.with_overrides(profile="prod", jwt_secret=secret)
    with pytest.raises(InvalidSettings, match=why) as info:
        check_auth_settings(prod)
    assert info.value.code == "INVALID_SETTINGS" and secret not in info.value.message
    check_auth_settings(settings.with_overrides(jwt_secret=secret))  # ci/dev: allowed


@pytest.mark.parametrize("secret", [STRONG, secrets.token_hex(32), secrets.token_hex(16) * 2],
                         ids=["urlsafe-48-bytes", "hex-32-bytes", "hex-16-bytes-twice"])
def test_prod_accepts_generated_secrets(settings: Settings, secret: str) -> None:
    check_auth_settings(settings.with_overrides(profile="prod", jwt_secret=secret))


def test_secret_bits_ranks_repetition_below_randomness() -> None:
    assert secret_bits("a" * 100) == 0
    assert secret_bits("password" * 8) < MIN_SECRET_BITS < secret_bits(secrets.token_hex(32))


def test_prod_with_a_gateway_key_needs_issuer_and_audience(settings: Settings) -> None:
    key = Key.new("k1")
    prod = settings.with_overrides(profile="prod", jwt_algorithm="RS256",
                                   jwt_public_key=key.public_pem())
    with pytest.raises(InvalidSettings, match="RAG_JWT_ISSUER and RAG_JWT_AUDIENCE"):
        check_auth_settings(prod)
    check_auth_settings(prod.with_overrides(jwt_issuer=ISS, jwt_audience=AUD))
    with pytest.raises(InvalidSettings, match="needs RAG_JWT_PUBLIC_KEY or RAG_JWT_JWKS_URL"):
        check_auth_settings(settings.with_overrides(jwt_algorithm="ES256"))
    with pytest.raises(InvalidSettings, match="neither PEM text nor a readable file"):
        check_auth_settings(settings.with_overrides(jwt_algorithm="ES256",
                                                    jwt_public_key="/no/such/key.pem"))
    with pytest.raises(InvalidSettings, match="only allowed in the dev profile"):
        check_auth_settings(settings.with_overrides(auth_enabled=False))


# --- subjects and lifetimes (finding 12 of issue 14) -------------------------------------------


def test_subject_is_matched_whole(settings: Settings) -> None:
    assert verify_token(settings.auth, hs(settings, sub="amara")) == "amara"
    for sub in ("amara\n", "amara\nbola", " amara", "a b", "x" * 129):
        with pytest.raises(Unauthorized, match="subject"):
            verify_token(settings.auth, hs(settings, sub=sub))


def test_token_lifetime_is_capped(settings: Settings) -> None:
    s = settings.with_overrides(jwt_max_ttl_s=3600)
    now = int(time.time())
    assert verify_token(s.auth, hs(s, exp=now + 3600)) == "amara"
    for claims in ({"exp": 253402300799},  # the year 9999
                   {"exp": now + 7200},
                   {"iat": None, "exp": now + 4000},  # no iat: measured from now
                   {"iat": now - 86400, "exp": now + 600}):  # issued long ago
        with pytest.raises(Unauthorized, match="lives longer"):
            verify_token(s.auth, hs(s, **claims))
    with pytest.raises(Unauthorized, match="not valid"):  # issued in the future
        verify_token(s.auth, hs(s, iat=now + 600, exp=now + 900))


def test_issue_token_refuses_a_ttl_above_the_cap(settings: Settings) -> None:
    s = settings.with_overrides(jwt_max_ttl_s=3600)
    assert verify_token(s.auth, issue_token(s, "amara", ttl_s=3600)) == "amara"
    for ttl in (3601, 10**9, 0, -5):
        with pytest.raises(InvalidArgument, match="--ttl must be between 1 and 3600") as info:
            issue_token(s, "amara", ttl_s=ttl)
        assert info.value.code == "INVALID_ARGUMENT"
    with pytest.raises(InvalidArgument, match="user id"):
        issue_token(s, "amara\n")


# --- gateway tokens: a public key ------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_gateway_token_with_a_public_key(settings: Settings, tmp_path: Path,
                                         algorithm: str) -> None:
    key = Key.new("k1", algorithm)
    pem_file = tmp_path / "gateway.pem"
    pem_file.write_text(key.public_pem())
    for public in (key.public_pem(), str(pem_file)):
        s = settings.with_overrides(jwt_algorithm=algorithm, jwt_public_key=public,
                                    jwt_issuer=ISS, jwt_audience=AUD)
        v = TokenVerifier(s.auth)
        assert v.verify(key.sign(iss=ISS, aud=AUD)) == "amara"
        with pytest.raises(Unauthorized, match="not valid"):  # another key, same kid
            v.verify(Key.new("k1", algorithm).sign(iss=ISS, aud=AUD))
        with pytest.raises(Unauthorized, match="not valid"):  # HS256 with the public key text
            v.verify(jwt.encode({"sub": "amara", "exp": int(time.time()) + 60, "iss": ISS,
                                 "aud": AUD}, "x" * 64, algorithm="HS256"))


def test_wrong_or_missing_issuer_and_audience(settings: Settings) -> None:
    key = Key.new("k1")
    s = settings.with_overrides(jwt_algorithm="RS256", jwt_public_key=key.public_pem(),
                                jwt_issuer=ISS, jwt_audience=f"{AUD}, other-name")
    v = TokenVerifier(s.auth)
    assert v.verify(key.sign(iss=ISS, aud="other-name")) == "amara"
    assert v.verify(key.sign(iss=ISS, aud=["x", AUD])) == "amara"
    with pytest.raises(Unauthorized, match="issued by someone"):
        v.verify(key.sign(iss="https://evil.example", aud=AUD))
    with pytest.raises(Unauthorized, match="another service"):
        v.verify(key.sign(iss=ISS, aud="billing"))
    with pytest.raises(Unauthorized, match="not valid"):  # required claims missing
        v.verify(key.sign(iss=ISS))
    with pytest.raises(Unauthorized, match="not valid"):
        v.verify(key.sign(aud=AUD))


# --- gateway tokens: a JWKS over real HTTP -----------------------------------------------------


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    server = JWKSServer([Key.new("rsa-1"), Key.new("ec-1", "ES256")]).start()
    yield server
    server.stop()


def test_jwks_keys_are_fetched_once_and_cached(settings: Settings, jwks: JWKSServer) -> None:
    s = settings.with_overrides(jwt_algorithm="RS256", jwt_jwks_url=jwks.url,
                                jwt_issuer=ISS, jwt_audience=AUD)
    v = TokenVerifier(s.auth)
    for _ in range(5):
        assert v.verify(jwks.keys[0].sign(iss=ISS, aud=AUD)) == "amara"
    assert jwks.fetches == 1
    for kid in ("unknown-kid", "another-unknown", "a-third"):
        with pytest.raises(Unauthorized, match="not signed by a known key"):
            v.verify(Key.new(kid).sign(iss=ISS, aud=AUD))
    assert jwks.fetches == 1  # forged key ids do not make us refetch within PyJWT's cooldown
    with pytest.raises(Unauthorized, match="not valid"):  # right kid, ES256 not allowed here
        v.verify(jwks.keys[1].sign(iss=ISS, aud=AUD))


def test_jwks_es256(settings: Settings, jwks: JWKSServer) -> None:
    s = settings.with_overrides(jwt_algorithm="ES256", jwt_jwks_url=jwks.url)
    assert TokenVerifier(s.auth).verify(jwks.keys[1].sign()) == "amara"


def test_identity_provider_down_is_a_coded_503(settings: Settings, jwks: JWKSServer) -> None:
    url = jwks.url
    jwks.stop()
    v = TokenVerifier(settings.with_overrides(jwt_algorithm="RS256", jwt_jwks_url=url).auth)
    with pytest.raises(AuthUnavailable) as info:
        v.verify(Key.new("rsa-1").sign())
    assert info.value.status == 503 and info.value.code == "AUTH_UNAVAILABLE"


# --- the FastAPI dependency -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_dependency_returns_the_user_and_shows_the_scheme(settings: Settings,
                                                                anyio_backend: str) -> None:
    from fastapi.responses import JSONResponse

    from rag_core.errors import RagError

    app = FastAPI()
    app.state.settings = settings

    @app.exception_handler(RagError)
    async def coded(_: object, exc: RagError) -> JSONResponse:
        return JSONResponse(exc.to_dict(), status_code=exc.status)

    @app.get("/me")
    def me(user: UserDep) -> dict[str, str]:
        return {"user": user}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/me", headers={"Authorization": f"Bearer {hs(settings)}"})
        assert r.json() == {"user": "amara"}
        for headers, message in (({}, "header is required"),
                                 ({"Authorization": "Basic abc"}, "must be 'Bearer <token>'"),
                                 ({"Authorization": "Bearer " + hs(settings, sub="amara\n")},
                                  "subject")):
            r = await client.get("/me", headers=headers)
            assert r.status_code == 401 and message in r.json()["error"]["message"]
        spec = (await client.get("/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["bearer"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "`sub` is the user id" in scheme["description"]
    assert spec["paths"]["/me"]["get"]["security"] == [{"bearer": []}]


class Clock:
    """Epoch seconds that move only when a test moves them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_token_verified_before_still_expires() -> None:
    """A token verified lately is not verified again (``TokenVerifier.claims``), but its
    expiry is checked on every use, on the verifier's clock; a forged twin of it is verified in
    full. The clock starts years from now: the wall clock plays no part."""
    from rag_core.api.auth import VERIFIED_FOR_S
    from rag_core.config import fixed

    settings = Settings(profile="ci", jwt_secret=STRONG)
    clock = Clock(4_000_000_000.0)
    verifier = TokenVerifier(settings.auth, clock=clock)
    start = int(clock.now)
    token = hs(settings, iat=start, exp=start + 30)
    assert verifier.verify(token) == "amara"
    assert verifier.verify(token) == "amara"  # remembered
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(Unauthorized, match="not valid"):
        verifier.verify(forged)
    clock.now = start + 30 + fixed.JWT_LEEWAY_S - 1  # within the leeway: still good
    assert verifier.verify(token) == "amara"
    clock.now = start + 30 + fixed.JWT_LEEWAY_S  # remembered, and expired all the same
    with pytest.raises(Unauthorized, match="expired") as info:
        verifier.verify(token)
    assert info.value.status == 401 and info.value.code == "UNAUTHORIZED"
    clock.now = start + VERIFIED_FOR_S + 1  # past the memo's life: verified in full, expired
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(token)
    assert verifier.verify(hs(settings, iat=start + 60, exp=start + 120)) == "amara"


def test_token_times_follow_the_verifiers_clock() -> None:
    """``iat``, ``nbf`` and ``exp`` are judged at the verifier's clock with the leeway; an
    expired token for another audience still says it has expired (times come first)."""
    from rag_core.config import fixed

    settings = Settings(profile="ci", jwt_secret=STRONG)
    now = 4_000_000_000
    verifier = TokenVerifier(settings.auth, clock=Clock(float(now)))
    leeway = fixed.JWT_LEEWAY_S
    assert verifier.verify(hs(settings, iat=now + leeway, nbf=now + leeway,
                              exp=now + 60)) == "amara"
    for claims, why in (({"iat": now + leeway + 1, "exp": now + 60}, "not valid"),
                        ({"iat": now, "nbf": now + leeway + 1, "exp": now + 60}, "not valid"),
                        ({"iat": now, "exp": "soon"}, "not valid"),
                        ({"iat": now - 60, "exp": now - leeway}, "expired")):
        with pytest.raises(Unauthorized, match=why):
            verifier.verify(hs(settings, **claims))
    # the wall clock by default (today, years before ``now``): a token of an hour is valid
    today = TokenVerifier(settings.auth)
    assert today.verify(hs(settings, exp=int(time.time()) + 3600)) == "amara"
    key = Key.new("k1")
    s = settings.with_overrides(jwt_algorithm="RS256", jwt_public_key=key.public_pem(),
                                jwt_issuer=ISS, jwt_audience=AUD)
    gateway = TokenVerifier(s.auth, clock=Clock(float(now)))
    with pytest.raises(Unauthorized, match="expired"):
        gateway.verify(key.sign(iss=ISS, aud="billing", iat=now - 60, exp=now - leeway))
    with pytest.raises(Unauthorized, match="another service"):
        gateway.verify(key.sign(iss=ISS, aud="billing", iat=now, exp=now + 60))
