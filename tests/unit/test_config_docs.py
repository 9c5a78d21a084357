"""``python -m rag_core.config.docs``: writes the settings reference of docs/configuration.md
from the code, and with ``--check`` says (exit 1) when the file has fallen behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag_core.config import docs


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "configuration.md"
    copy.write_text(docs.PATH.read_text())
    monkeypatch.setattr(docs, "PATH", copy)
    return copy


def test_check_passes_on_the_committed_page_and_changes_nothing(page: Path) -> None:
    before = page.read_text()
    assert docs.main(["--check"]) == 0
    assert page.read_text() == before


def test_check_fails_on_a_stale_page_and_the_writer_brings_it_back(
        page: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fresh = page.read_text()
    stale = fresh.replace("`RAG_LLM_ROUTE`", "`RAG_LLM_ROUTE_OLD`", 1)
    assert stale != fresh
    page.write_text(stale)
    assert docs.main(["--check"]) == 1
    assert "differs from the code" in capsys.readouterr().err
    assert page.read_text() == stale  # --check changes nothing
    assert docs.main([]) == 0
    assert page.read_text() == fresh


def test_the_text_around_the_generated_part_is_kept(page: Path) -> None:
    text = "# Intro written by hand\n\n" + docs.render() + "\n\n## After, by hand\n"
    assert "`RAG_PROFILE`" in text
    assert docs.updated(text.replace("`RAG_PROFILE`", "`X`")) == text


@pytest.mark.parametrize("marker", ["begin", "end"])
def test_a_page_without_its_markers_is_refused(marker: str) -> None:
    text = docs.render()
    text = text.replace(docs.BEGIN if marker == "begin" else docs.END, "")
    with pytest.raises(ValueError, match="has no marker"):
        docs.updated(text)
