"""The edges of the app as operators run it (``rag-core serve``: real uvicorn on a loopback
port, this module's PostgreSQL database and the shared Redis), spoken to over raw sockets
where HTTP clients would hide the behaviour: a bad token is answered before the body is sent,
a body that never arrives is timed out and the connection closed, and the public readiness
answer names no dependency."""

from __future__ import annotations

import json
import secrets
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from served_app import ServedApp, clean_env, serve

from rag_core.api.auth import issue_token
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SECRET = secrets.token_hex(32)
METRICS_TOKEN = secrets.token_hex(16)
READ_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def served(module_database_url: str, redis_server: Any, short_tmp: Path) -> Iterator[ServedApp]:
    work = short_tmp / f"edge{uuid.uuid4().hex[:6]}"
    env = clean_env(DATABASE_URL=module_database_url, REDIS_URL=redis_server.url,
                    RAG_PROFILE="ci", RAG_STATE_DIR=str(work / "state"), RAG_JWT_SECRET=SECRET,
                    RAG_METRICS_TOKEN=METRICS_TOKEN,
                    RAG_BODY_READ_TIMEOUT_S=str(READ_TIMEOUT_S))
    with serve(work, env, ready=lambda s: s.get("/healthz").status_code == 200) as app:
        yield app


def exchange(app: ServedApp, head: str, body: bytes = b"", deadline_s: float = 60) -> bytes:
    """Send ``head`` (and ``body``), then read until the server closes the connection;
    ``deadline_s`` is generous: it only ends a test that would otherwise hang."""
    with socket.create_connection(("127.0.0.1", app.port), timeout=deadline_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return data


def status_and_body(raw: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("authorization", ["", "Authorization: Bearer forged.token.here\n"])
def test_a_bad_token_is_answered_before_the_body_is_sent(served: ServedApp,
                                                         authorization: str) -> None:
    raw = exchange(served, "POST /v1/notes:bulk HTTP/1.1\nHost: t\n"
                           "Content-Type: application/json\nContent-Length: 10000000\n"
                           f"{authorization}")  # the 10 MB never follow
    status, body = status_and_body(raw)
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"


def test_a_body_that_never_arrives_is_timed_out_and_the_connection_closed(
        served: ServedApp) -> None:
    token = issue_token(Settings(jwt_secret=SECRET), "amara")
    raw = exchange(served, "PUT /v1/notes/n1 HTTP/1.1\nHost: t\n"
                           "Content-Type: application/json\nContent-Length: 1000\n"
                           f"Authorization: Bearer {token}\n", b'{"title": ')
    status, body = status_and_body(raw)  # exchange returned: the server closed the connection
    assert status == 408 and body["error"]["code"] == "REQUEST_TIMEOUT"


def test_public_readiness_says_only_the_status(served: ServedApp) -> None:
    r = served.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    r = served.get("/readyz", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert r.status_code == 200 and set(r.json()) == {"status", "checks", "failing"}
    assert {"postgres", "redis", "breaker"} <= set(r.json()["checks"])
