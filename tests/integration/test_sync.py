"""``rag-core sync`` on the real PostgreSQL, Redis and embedding model: new files added, changed
ones re-embedded (only theirs), notes whose file is gone deleted through the path of ``DELETE``
(the user's notes version moves, so cached answers go), notes of the API or another folder never
touched, a file that fails keeping its notes, a second run changing nothing, ``--dry-run``
writing nothing, and a sync after ``rag-core ingest`` of the same folder skipping every file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from note_files import PDF_FACT, write_pdf

from rag_core.cli import main as cli
from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_notes
from rag_core.ingest.sync import sync_folder
from rag_core.parts import build_parts
from rag_core.types import Note

pytestmark = pytest.mark.integration


def _note(root: Path, name: str, text: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# {Path(name).stem.title()}\n\n{text}\n", encoding="utf-8")


def _vault(root: Path) -> Path:
    _note(root, "advent.md", "Advent is a season of waiting with hope.")
    _note(root, "lent.md", "Lent is forty days of preparation before Easter.")
    _note(root, "feasts/pentecost.md", "Pentecost remembers the Spirit given to the church.")
    write_pdf(root / "handout.pdf", PDF_FACT, title="Gleaning")
    return root


def _ids(parts: Any, user: str) -> list[str]:
    return [row["note_id"] for row in parts.store.list_notes(user)]


def test_sync_adds_changes_and_removes_only_what_its_folder_holds(
        live_parts: Any, tmp_path: Path) -> None:
    root = _vault(tmp_path / "vault")
    other = tmp_path / "other"
    _note(other, "retreat.md", "The retreat is at Iona in June.")
    sync_folder(live_parts, "hana", other)
    ingest_notes(live_parts, "hana", [Note(id="from-api", title="API", body="Put over HTTP.")],
                 progress=False)

    first = sync_folder(live_parts, "hana", root)
    assert sorted(first.added) == ["advent", "feasts--pentecost", "handout", "lent"]
    assert not (first.changed or first.removed or first.failed)

    again = sync_folder(live_parts, "hana", root)
    assert (again.added, again.changed, again.removed) == ([], [], [])
    assert sorted(again.unchanged) == sorted(first.added)

    _note(root, "lent.md", "Lent is forty days of fasting, prayer and giving.")
    (root / "advent.md").unlink()
    _note(root, "easter.md", "Easter morning begins in the dark at the empty tomb.")
    version = live_parts.store.notes_version("hana")
    chunks_before = {t for n, t, _ in live_parts.store.user_texts("hana")
                     if n == "feasts--pentecost"}
    assert chunks_before
    dry = sync_folder(live_parts, "hana", root, dry_run=True)
    assert (dry.added, dry.changed, dry.removed) == (["easter"], ["lent"], ["advent"])
    assert live_parts.store.notes_version("hana") == version  # nothing written

    done = sync_folder(live_parts, "hana", root)
    assert (done.added, done.changed, done.removed) == (["easter"], ["lent"], ["advent"])
    assert sorted(done.unchanged) == ["feasts--pentecost", "handout"]
    assert live_parts.store.notes_version("hana") > version
    assert sorted(_ids(live_parts, "hana")) == ["easter", "feasts--pentecost", "from-api",
                                                 "handout", "lent", "retreat"]
    assert chunks_before == {t for n, t, _ in live_parts.store.user_texts("hana")
                             if n == "feasts--pentecost"}
    assert "fasting" in live_parts.store.get_note("hana", "lent").body

    last = sync_folder(live_parts, "hana", root)
    assert (last.added, last.changed, last.removed) == ([], [], [])


def test_a_file_that_fails_keeps_its_notes_and_is_reported_again(
        live_parts: Any, tmp_path: Path) -> None:
    root = _vault(tmp_path / "vault")
    sync_folder(live_parts, "ines", root)
    (root / "handout.pdf").write_bytes(b"%PDF-1.4\ntruncated")
    for _ in range(2):
        report = sync_folder(live_parts, "ines", root)
        assert [(Path(f.path).name, f.code) for f in report.failed] == [
            ("handout.pdf", "PDF_CORRUPT")]
        assert report.removed == [] and "handout" in _ids(live_parts, "ines")


def test_sync_after_ingest_of_the_same_folder_skips_every_file(
        database_url: str, redis_server: Any, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
           "RAG_STATE_DIR": str(settings.services.state_dir), "RAG_PROFILE": "ci"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    root = _vault(tmp_path / "vault")
    assert cli.main(["ingest", str(root), "--user", "jon", "--quiet"]) == 0
    capsys.readouterr()
    assert cli.main(["sync", str(root), "--user", "jon", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "added=0 changed=0 removed=0 unchanged=4 failed=0" in out
    (root / "lent.md").unlink()
    assert cli.main(["sync", str(root), "--user", "jon", "--dry-run"]) == 0
    assert "would be removed: lent" in capsys.readouterr().out
    parts = build_parts(settings.with_overrides(database_url=database_url,
                                                redis_url=redis_server.url))
    try:
        assert "lent" in _ids(parts, "jon")
    finally:
        parts.close()
