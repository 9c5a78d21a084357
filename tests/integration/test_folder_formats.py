"""Notes as people keep them, through the whole service on the real PostgreSQL, Redis and
embedding model: a fact that stands only in a PDF, only under a Word document's heading or only
in an HTML page's main content is answered with a citation to that file; the page's navigation
is never indexed; ``rag-core ingest`` of a folder with bad files stores the rest, reports each
bad file on its line with its code, and exits 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from note_files import (
    DOCX_FACT,
    HTML_FACT,
    NAV_TEXT,
    PDF_FACT,
    write_docx,
    write_html,
    write_pdf,
    write_zip_bomb,
)

from rag_core.cli import main as cli
from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_path
from rag_core.pipeline import Pipeline
from rag_core.store.pgvector import store_for

pytestmark = pytest.mark.integration

OTHER_NOTES = {
    "psalm.md": "# Psalm 23 at the hospital\n\nPastor Okafor read Psalm 23 at the hospital "
                "chapel and spoke about the valley as a place walked through.\n",
    "choir.md": "# Choir rota\n\nThe choir sings at the nine o'clock service on the first "
                "Sunday of each month, and rehearses on Wednesday evenings.\n",
}


def _folder(root: Path) -> Path:
    root.mkdir()
    for name, text in OTHER_NOTES.items():
        (root / name).write_text(text, encoding="utf-8")
    write_pdf(root / "gleaning-handout.pdf", PDF_FACT + " Boaz told his reapers to leave "
              "extra sheaves for Ruth.", title="Gleaning in Ruth")
    write_docx(root / "minutes" / "elders-may.docx",
               [("Opening prayer", "Elder Ruth opened the meeting with a prayer."),
                ("Building fund", DOCX_FACT)], title="Elders meeting, May")
    write_html(root / "web" / "bake-sale.html", HTML_FACT)
    return root


@pytest.mark.parametrize("question,note_id,words", [
    ("What did Boaz tell his reapers to leave for Ruth?", "gleaning-handout", "sheaves"),
    ("How much did the roof fund of Saint Brendan reach?", "minutes--elders-may", "4,200"),
    ("How much did the parish bake sale raise?", "web--bake-sale", "310"),
])
def test_a_fact_only_in_one_file_is_answered_citing_that_file(
        live_parts: Any, tmp_path: Path, question: str, note_id: str, words: str) -> None:
    report = ingest_path(live_parts, "fiona", _folder(tmp_path / "notes"), progress=False)
    assert report.inserted == 5
    answer = Pipeline(live_parts).ask("fiona", question)
    assert note_id in {c.note_id for c in answer.citations}, answer.to_dict()
    assert words in answer.answer
    texts = [text for _, text, _ in live_parts.store.user_texts("fiona")]
    assert not any(NAV_TEXT in text or "Copyright" in text for text in texts)


def test_ingest_reports_bad_files_by_code_stores_the_rest_and_exits_1(
        database_url: str, redis_server: Any, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
           "RAG_STATE_DIR": str(settings.services.state_dir), "RAG_PROFILE": "ci"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    root = _folder(tmp_path / "notes")
    write_pdf(root / "locked.pdf", PDF_FACT, password="secret")
    write_pdf(root / "scan.pdf", "")
    write_zip_bomb(root / "bomb.docx")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n")
    code = cli.main(["ingest", str(root), "--user", "gina", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1, err
    lines = sorted(x for x in err.splitlines() if x.startswith("error "))
    assert [x.split(":", 1)[0] for x in lines] == [
        "error PDF_ENCRYPTED", "error PDF_NO_TEXT", "error UNKNOWN_TYPE", "error ZIP_BOMB"]
    for line, name in zip(lines, ["locked.pdf", "scan.pdf", "photo.png", "bomb.docx"],
                          strict=True):
        assert name in line
    assert "inserted=5" in out and "failed=4" in out
    store = store_for(settings.with_overrides(database_url=database_url))
    try:
        assert len(store.list_notes("gina")) == 5
    finally:
        store.close()


def test_ingest_of_a_hostile_folder_names_the_deep_page_stores_the_rest_and_exits_1(
        database_url: str, redis_server: Any, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 81: a page nested 1,100 deep is its file's ``DOCUMENT_TOO_COMPLEX`` (never a
    ``RecursionError``), the page with hidden text is stored without it, and a Texinfo page's
    keyword no longer refuses it (``dropped=1`` in the summary)."""
    from hostile_files import HIDDEN_TEXT, SHOWN_TEXT, deep_html, hidden_html

    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
                        "RAG_STATE_DIR": str(settings.services.state_dir),
                        "RAG_PROFILE": "ci"}.items():
        monkeypatch.setenv(name, value)
    root = tmp_path / "hostile"
    root.mkdir()
    deep_html(root / "deep.html")
    hidden_html(root / "choir.html")
    (root / "Introduction.html").write_text(
        "<html><head><title>Introduction (libffi)</title><meta name='keywords' content='"
        + "Introduction (libffi: the portable foreign function interface library)'></head>"
        "<body><p>libffi provides a portable, high level programming interface.</p></body>"
        "</html>")
    code = cli.main(["ingest", str(root), "--user", "hana", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, err
    [line] = [x for x in err.splitlines() if x.startswith("error ")]
    assert line.startswith("error DOCUMENT_TOO_COMPLEX:") and "deep.html" in line
    assert "inserted=2" in out and "failed=1" in out and "dropped=1" in out
    store = store_for(settings.with_overrides(database_url=database_url))
    try:
        texts = [text for _, text, _ in store.user_texts("hana")]
    finally:
        store.close()
    assert any(SHOWN_TEXT in t for t in texts)
    assert not any(HIDDEN_TEXT in t for t in texts)
