"""What a reader derives never refuses a note (issue 81): a Texinfo page's keyword (its title,
70 characters, no comma) is dropped as a tag, a long derived title is bounded, and each fitting
is counted for the ingest summary; what a user writes keeps its limits and its clear errors."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from rag_core.errors import InvalidNote
from rag_core.ingest.readers import read, read_folder
from rag_core.ingest.readers.derived import fit
from rag_core.ingest.readers.documents import Draft

TEXINFO_KEYWORD = "Introduction (libffi: the portable foreign function interface library)"


def _texinfo_page(path: Path, keywords: str = TEXINFO_KEYWORD) -> Path:
    path.write_text(
        "<!DOCTYPE html><html><head><title>Introduction (libffi: the portable foreign "
        f"function interface library)</title><meta name='keywords' content='{keywords}'>"
        "</head><body><h2>1 What is libffi?</h2><p>Compilers for high level languages "
        "generate code that follow certain conventions.</p></body></html>")
    return path


def test_a_texinfo_page_is_read_its_keyword_dropped_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _texinfo_page(tmp_path / "Introduction.html")
    with caplog.at_level(logging.INFO, logger="rag_core.ingest"):
        found = read_folder(tmp_path)
    assert found.failures == []
    [note] = found.notes
    assert note.title == TEXINFO_KEYWORD and note.tags == ()
    assert found.dropped == 1 and found.files[0].dropped == 1
    logged = [r for r in caplog.records if r.getMessage() == "derived fields fitted"]
    assert len(logged) == 1  # once per file


def test_keywords_that_fit_are_kept_and_only_the_misfits_dropped(tmp_path: Path) -> None:
    long = "x" * 41
    [note] = read(_texinfo_page(tmp_path / "p.html", f"ffi, closures, {long}, ffi"))
    assert note.tags == ("ffi", "closures")


def test_a_long_derived_title_is_bounded_and_an_overlong_author_dropped() -> None:
    draft = fit(Draft(body="text", title="word " * 1_000, author="a" * 200,
                      tags=[f"t{n}" for n in range(25)]))
    assert draft.title is not None and len(draft.title) <= 2_000
    assert draft.author is None and len(draft.tags) == 20
    assert len(draft.dropped) == 1 + 1 + 5


def test_a_derived_title_loses_the_characters_a_field_may_not_hold() -> None:
    draft = fit(Draft(body="text", title="Annual\u202e report\tof\u0000 the board"))
    assert draft.title == "Annual report of the board"


def test_the_user_s_own_front_matter_keeps_its_limits(tmp_path: Path) -> None:
    (tmp_path / "n.md").write_text(f"---\ntitle: Mine\ntags: [{'y' * 41}]\n---\nText.\n")
    with pytest.raises(InvalidNote, match="'tags' has 41 characters"):
        read(tmp_path / "n.md")
