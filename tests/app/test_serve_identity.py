"""Deployable for real, through ``rag-core serve`` (real uvicorn) in the prod profile:

* the built-in or a weak JWT secret stops the service before it starts, with a plain message;
* gateway tokens (RS256, keys from a JWKS served over real HTTP, iss/aud checked) pass, and
  forged, foreign, long-lived or newline-suffixed ones do not, nor one signed with the
  published development secret;
* an LLM that refuses the service's token is ``LLM_MISCONFIGURED`` for questions and an ``llm``
  check in ``/readyz``, until the token is accepted again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwks_server import JWKSServer, Key
from served_app import ServedApp, clean_env, serve, wait_for

from rag_core.config import DEFAULT_JWT_SECRET, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ISS, AUD = "https://gateway.example", "rag-core"
METRICS_TOKEN = "scrape-token-for-the-identity-tests"
OPERATOR = {"Authorization": f"Bearer {METRICS_TOKEN}"}  # readiness details, as /metrics
QUESTION = "What did Pastor Okafor say about faith that moves before it sees?"


# --- prod refuses the default secret (nothing is started) -----------------------------------------


@pytest.mark.parametrize("command", ["rag-core serve", "uvicorn"])
@pytest.mark.parametrize("secret,message", [
    (None, "RAG_JWT_SECRET is the built-in development secret"),
    ("password" * 6, "RAG_JWT_SECRET is too predictable"),
])
def test_prod_refuses_to_start_with_the_default_or_a_weak_secret(
        tmp_path: Path, command: str, secret: str | None, message: str) -> None:
    env = clean_env(RAG_PROFILE="prod", RAG_STATE_DIR=str(tmp_path / "state"))
    if secret:
        env["RAG_JWT_SECRET"] = secret
    args = ([sys.executable, "-m", "rag_core", "serve", "--port", "1"] if command != "uvicorn"
            else [sys.executable, "-m", "uvicorn", "rag_core.app:app", "--port", "1"])
    out = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=300)
    assert out.returncode != 0
    assert f"error INVALID_SETTINGS: {message}" in out.stderr
    assert "Traceback" not in out.stderr and (secret or DEFAULT_JWT_SECRET) not in out.stderr
    assert not (tmp_path / "state").exists()  # no embedded server was started


# --- a prod service behind a gateway -------------------------------------------------------------


@dataclass
class Gateway:
    app: ServedApp
    key: Key
    jwks: JWKSServer
    mock_url: str

    def token(self, **claims: Any) -> str:
        return self.key.sign({"iss": ISS, "aud": AUD, **claims})

    def stats(self, token: str) -> httpx.Response:
        return self.app.get("/v1/stats", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture(scope="module")
def gateway(module_database_url: str, redis_server: Any, short_tmp: Path) -> Iterator[Gateway]:
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    work = short_tmp / "gw"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3):
        shutil.copy(ROOT / "golden" / "notes" / "amara" / f"amara-00{i}.md", notes)
    settings = Settings(profile="ci", state_dir=work / "state", database_url=module_database_url,
                        redis_url=redis_server.url)
    parts = build_parts(settings)
    ingest_path(parts, "amara", notes, progress=False)
    parts.close()
    mock_url, stop_mock, _ = start_mock(api_key="the-token-the-llm-expects")
    jwks = JWKSServer([Key.new("gw-2024")]).start()
    env = clean_env(
        RAG_PROFILE="prod", RAG_STATE_DIR=str(work / "state"), DATABASE_URL=module_database_url,
        REDIS_URL=redis_server.url, RAG_JWT_ALGORITHM="RS256", RAG_JWT_JWKS_URL=jwks.url,
        RAG_JWT_ISSUER=ISS, RAG_JWT_AUDIENCE=AUD, RAG_JWT_MAX_TTL_S="3600",
        RAG_LLM="hf", RAG_LLM_BASE_URL=f"{mock_url}/v1", HF_TOKEN="hf_a_token_it_refuses",
        RAG_LLM_MAX_RETRIES="0", RAG_LLM_RECHECK_S="1", RAG_SEMANTIC_CACHE_ENABLED="false",
        RAG_DB_POOL_MAX_SIZE="2", RAG_METRICS_TOKEN=METRICS_TOKEN)
    try:
        with serve(work, env, ready=lambda s: s.get("/readyz", headers=OPERATOR).json()
                   ["checks"]["model_loaded"]) as app:
            yield Gateway(app, jwks.keys[0], jwks, mock_url)
    finally:
        jwks.stop()
        stop_mock()


def test_gateway_tokens_from_a_jwks_are_accepted(gateway: Gateway) -> None:
    r = gateway.stats(gateway.token())
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == "amara"
    assert gateway.stats(gateway.token(sub="bola")).json()["user_id"] == "bola"


@pytest.mark.parametrize("kind", ["wrong_issuer", "wrong_audience", "no_audience", "unknown_key",
                                  "same_kid_other_key", "year_9999", "newline_subject",
                                  "default_secret_hs256"])
def test_forged_or_foreign_tokens_are_refused(gateway: Gateway, kind: str) -> None:
    now = int(time.time())
    tokens = {
        "wrong_issuer": lambda: gateway.token(iss="https://evil.example"),
        "wrong_audience": lambda: gateway.token(aud="billing"),
        "no_audience": lambda: gateway.key.sign({"iss": ISS}),
        "unknown_key": lambda: Key.new("other").sign({"iss": ISS, "aud": AUD}),
        "same_kid_other_key": lambda: Key.new("gw-2024").sign({"iss": ISS, "aud": AUD}),
        "year_9999": lambda: gateway.token(exp=253402300799),
        "newline_subject": lambda: gateway.token(sub="amara\n"),
        "default_secret_hs256": lambda: jwt.encode(
            {"sub": "amara", "iat": now, "exp": now + 600, "iss": ISS, "aud": AUD},
            DEFAULT_JWT_SECRET, algorithm="HS256"),
    }
    r = gateway.stats(tokens[kind]())
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "UNAUTHORIZED"


def test_a_refused_llm_token_is_a_coded_error_and_a_readiness_check(gateway: Gateway) -> None:
    r = gateway.app.get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "not_ready"}  # prod: terse
    r = gateway.app.get("/readyz", headers=OPERATOR)
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["postgres"] and checks["redis"] and checks["model_loaded"]
    assert checks["llm"]["ok"] is False and checks["llm"]["reason"] == "unauthorized"
    assert checks["llm"]["code"] == "LLM_MISCONFIGURED"
    r = gateway.app.post("/v1/query", json={"query": QUESTION},
                         headers={"Authorization": f"Bearer {gateway.token()}"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "LLM_MISCONFIGURED", r.text
    assert "HF_TOKEN" not in r.text  # the detail is the operator's: log and /readyz
    assert gateway.app.get("/metrics").status_code == 401  # prod: metrics need their token
    metrics = gateway.app.get("/metrics", headers={"Authorization":
                                                   f"Bearer {METRICS_TOKEN}"}).text
    assert 'llm_misconfigured_total{reason="unauthorized"}' in metrics
    assert gateway.app.log().count("the language model is misconfigured") == 1


def test_readiness_returns_once_the_llm_accepts_the_token(gateway: Gateway) -> None:
    httpx.post(f"{gateway.mock_url}/admin/config", timeout=5,
               json={"api_key": "hf_a_token_it_refuses"}).raise_for_status()
    wait_for("/readyz to turn ready after the fix",
             lambda: gateway.app.get("/readyz").status_code == 200, deadline_s=120,
             every_s=0.5, log=gateway.app.log_path)
    r = gateway.app.post("/v1/query", json={"query": QUESTION},
                         headers={"Authorization": f"Bearer {gateway.token()}"})
    assert r.status_code == 200 and r.json()["generator"] == "hf", r.text
