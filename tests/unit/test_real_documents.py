"""Real documents written outside the team (``tests/corpus/``, sources and licences in its
README): every one read with no failure, titled as ``expected.json`` says, and its text as
written (issue 81). Their facts are retrieved in ``tests/integration/test_real_corpus.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_core.ingest.readers import read_folder

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def found() -> object:
    return read_folder(CORPUS / "debian")


def _body(found: object, name: str) -> str:
    [note] = [n for n in found.notes if n.id == Path(name).stem.lower()]  # type: ignore[attr-defined]
    return str(note.body)


def test_every_document_is_read_and_titled(found: object) -> None:
    assert found.failures == []  # type: ignore[attr-defined]
    titles = {f.rel: n.title for f in found.files  # type: ignore[attr-defined]
              for n in found.notes if n.id in f.note_ids}  # type: ignore[attr-defined]
    assert titles == {Path(rel).name: want["title"] for rel, want in EXPECTED.items()}


def test_the_manual_s_words_are_whole_and_its_running_header_kept_once(found: object) -> None:
    body = _body(found, "libtasn1.pdf")
    assert "iden- tifier" not in body and "identifier" in body
    assert body.count("Chapter 4: Function reference") <= 2
    assert "OPTIONAL" in body and "OP- TIONAL" not in body  # joined: a word of the vocabulary
    assert "YYMMDDhhmm-hh" in body  # kept with its hyphen: no such joined word anywhere
    assert not any("\ufb00" <= c <= "\ufb4f" for c in body)  # no ligature left


def test_the_spec_s_binary_layout_table_comes_out_as_rows(found: object) -> None:
    body = _body(found, "shared-mime-info-spec.pdf")
    assert "IconListEntry:\n4 | CARD32 | MIME_TYPE_OFFSET\n4 | CARD32 | ICON_NAME_OFFSET\n" \
        in body
    assert "4 | CARD32 | ALIAS_LIST_OFFSET" in body.splitlines()
    assert "<MIME>/icons" in body


def test_texinfo_pages_keep_their_text_and_lose_their_keyword_tags(found: object) -> None:
    body = _body(found, "libffi-Introduction.html")
    assert "FFI stands for Foreign Function Interface" in body
    assert found.dropped == 2  # type: ignore[attr-defined]  # one keyword per Texinfo page
