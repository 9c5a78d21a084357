"""``/docs`` and ``/redoc`` work offline from packaged files (no other host named in the
pages, favicon included) where docs are on; in prod ``/docs``, ``/redoc`` and
``/openapi.json`` answer 404 unless ``RAG_API_DOCS`` turns them on. Also, in process: a bad
token is answered before the body is read at all."""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from typing import Any

import httpx
import pytest

from rag_core.app import create_app
from rag_core.parts import Parts

pytestmark = pytest.mark.anyio
URL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*["']?([^"' )>]+)""", re.IGNORECASE)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def client_for(parts: Parts, **changes: Any) -> httpx.AsyncClient:
    settings = parts.settings.with_overrides(**changes)
    app = create_app(settings, parts=replace(parts, settings=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_everything_from_the_service_itself(memory_parts: Parts,
                                                                  page: str) -> None:
    async with client_for(memory_parts, profile="dev") as client:
        r = await client.get(page)
        assert r.status_code == 200 and "text/html" in r.headers["content-type"]
        assert "http://" not in r.text and "https://" not in r.text and "//" not in \
            r.text.replace("://", "")
        linked = set(URL.findall(r.text))
        assert any(u.endswith("favicon.png") for u in linked)
        assert any(u.endswith(".js") for u in linked)
        for url in linked | {"/openapi.json"}:
            got = await client.get(url)
            assert got.status_code == 200 and len(got.content) > 100, url


async def test_prod_answers_404_for_the_docs_unless_a_setting_turns_them_on(
        memory_parts: Parts) -> None:
    prod = {"profile": "prod", "jwt_secret": secrets.token_urlsafe(48)}
    async with client_for(memory_parts, **prod) as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui.css"):
            r = await client.get(path)
            assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", path
    async with client_for(memory_parts, api_docs=True, **prod) as client:
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


@pytest.mark.parametrize("headers", [[], [(b"authorization", b"Bearer not.a.token")]])
async def test_a_bad_token_is_answered_without_reading_the_body(memory_parts: Parts,
                                                                headers: list[Any]) -> None:
    settings = memory_parts.settings.with_overrides(jwt_secret=secrets.token_hex(32))
    app = create_app(settings, parts=replace(memory_parts, settings=settings))
    reads: list[str] = []
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        reads.append("body")
        return {"type": "http.request", "body": b'{"notes": []}', "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for path in ("/v1/notes:bulk", "/v1/query", "/v1/users/ben/notes:bulk"):
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
                 "query_string": b"", "root_path": "", "server": ("t", 80),
                 "client": ("127.0.0.1", 1),
                 "headers": [(b"content-type", b"application/json"),
                             (b"content-length", b"13"), *headers]}
        sent.clear()
        await app(scope, receive, send)
        assert sent[0]["status"] == 401, path
        assert b'"UNAUTHORIZED"' in b"".join(m.get("body", b"") for m in sent[1:])
    assert reads == []
