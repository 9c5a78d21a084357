"""``PUT /v1/notes/{id}`` with a file body and its Content-Type, in process on the fast lane's
parts: a PDF, a Word document, an HTML page and plain text stored as the folder reader reads
them (the path's id, the document's title), a bad file refused with its code, an unknown type
with 415, and JSON exactly as before."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from note_files import DOCX_FACT, HTML_FACT, NAV_TEXT, PDF_FACT, write_docx, write_html, write_pdf
from test_note_inputs_api import auth, make_client

from rag_core.api.note_files import DOCX_TYPE
from rag_core.parts import Parts

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(memory_parts: Parts) -> httpx.AsyncClient:
    return make_client(memory_parts)


async def test_documents_are_read_by_their_content_type(
        client: httpx.AsyncClient, tmp_path: Path) -> None:
    bodies = {
        "handout": (write_pdf(tmp_path / "h.pdf", PDF_FACT, title="Gleaning").read_bytes(),
                    "application/pdf", "Gleaning", PDF_FACT),
        "minutes": (write_docx(tmp_path / "m.docx", [("Budget", DOCX_FACT)],
                               title="Elders").read_bytes(), DOCX_TYPE, "Elders", DOCX_FACT),
        "news": (write_html(tmp_path / "n.html", HTML_FACT).read_bytes(),
                 "text/html; charset=utf-8", "Parish news", HTML_FACT),
        "plain": (b"Tents go up on Friday.\n", "text/plain", "plain", "Tents go up"),
    }
    async with client:
        for note_id, (data, kind, title, fact) in bodies.items():
            r = await client.put(f"/v1/notes/{note_id}", content=data,
                                 headers={**auth(), "Content-Type": kind})
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "inserted"
            got = (await client.get(f"/v1/notes/{note_id}", headers=auth())).json()
            assert got["id"] == note_id and got["title"] == title and fact in got["body"]
            assert NAV_TEXT not in got["body"]
        again = await client.put("/v1/notes/handout", content=bodies["handout"][0],
                                 headers={**auth(), "Content-Type": "application/pdf"})
        assert again.json()["status"] == "unchanged"


async def test_bad_files_and_unknown_types_are_refused_with_their_codes(
        client: httpx.AsyncClient, tmp_path: Path) -> None:
    locked = write_pdf(tmp_path / "l.pdf", PDF_FACT, password="secret").read_bytes()
    cases = [(locked, "application/pdf", 422, "PDF_ENCRYPTED"),
             (b"%PDF-1.4\nbroken", "application/pdf", 422, "PDF_CORRUPT"),
             (b"PK\x03\x04 not really", DOCX_TYPE, 422, "DOCX_CORRUPT"),
             (b"\x89PNG\r\n", "image/png", 415, "UNKNOWN_TYPE")]
    async with client:
        for data, kind, status, code in cases:
            r = await client.put("/v1/notes/bad", content=data,
                                 headers={**auth(), "Content-Type": kind})
            assert r.status_code == status, r.text
            assert r.json()["error"]["code"] == code
        assert (await client.get("/v1/notes/bad", headers=auth())).status_code == 404


async def test_json_bodies_are_read_as_before(client: httpx.AsyncClient) -> None:
    async with client:
        r = await client.put("/v1/notes/j1", json={"title": "T", "body": "B."}, headers=auth())
        assert r.status_code == 200 and r.json()["status"] == "inserted"
        bad = await client.put("/v1/notes/j2", content=b'{"title": ', headers={
            **auth(), "Content-Type": "application/json"})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_REQUEST"
        other = await client.put("/v1/notes/j3", json={"id": "zz", "title": "T", "body": "B"},
                                 headers=auth())
        assert other.status_code == 422 and other.json()["error"]["code"] == "INVALID_NOTE"
