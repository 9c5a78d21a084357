"""The readers: each format's text and fields, and every bad file refused with its code while
the rest of the folder is read (files written here, never downloaded: ``tests/note_files.py``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

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

from rag_core.ingest.notes import MAX_NOTE_FILE_BYTES
from rag_core.ingest.readers import FileRefused, load_notes, read, read_folder


def test_a_pdf_gives_its_text_layer_title_and_author(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "handout.pdf", PDF_FACT, title="Ruth handout",
                     author="Ann Lee")
    [note] = read(path)
    assert (note.id, note.title, note.speaker) == ("handout", "Ruth handout", "Ann Lee")
    assert PDF_FACT in note.body and note.date is not None


def test_a_word_document_keeps_its_headings_as_structure(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "minutes.docx", [("Opening", "We met at seven."),
                                                  ("Budget", DOCX_FACT)],
                      title="Elders meeting")
    [note] = read(path)
    assert note.title == "Elders meeting" and note.speaker == "Clerk Ada Byrne"
    assert note.body.index("# Budget") < note.body.index(DOCX_FACT)
    assert "# Opening" in note.body


def test_html_keeps_the_main_content_and_drops_navigation_header_and_footer(
        tmp_path: Path) -> None:
    [note] = read(write_html(tmp_path / "news.html", HTML_FACT))
    assert note.title == "Parish news" and note.speaker == "Editor Tom Hale"
    assert note.date == "2024-05-02"
    assert HTML_FACT in note.body and "# Bake sale" in note.body
    for left_out in (NAV_TEXT, "banner", "Copyright"):
        assert left_out not in note.body


def test_an_obsidian_vault_gives_tags_plain_links_and_the_folder_as_series(
        tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    (vault / ".obsidian").mkdir(parents=True)
    (vault / ".obsidian" / "app.json").write_text("{}")
    (vault / "Sermons" / "Titus").mkdir(parents=True)
    (vault / "Sermons" / "Titus" / "Grace.md").write_text(
        "---\ndate: 2024-01-07\ntags: [grace]\n---\n"
        "We read [[Titus 2|the second chapter]] beside [[Ephesians#2]]. #mercy #grace\n"
        "```\n#not-a-tag in code\n```\n", encoding="utf-8")
    [note] = load_notes(vault)
    assert note.id == "sermons--titus--grace" and note.title == "Grace"
    assert note.series == "Titus" and note.date == "2024-01-07"
    assert note.tags == ("grace", "mercy")
    assert "We read the second chapter beside Ephesians." in note.body and "[[" not in note.body


def test_a_notion_export_page_gives_its_properties_as_fields(tmp_path: Path) -> None:
    folder = tmp_path / "Sermons 0123456789abcdef0123456789abcdef"
    folder.mkdir()
    (folder / "Hope as an anchor 89abcdef0123456789abcdef01234567.md").write_text(
        "# Hope as an anchor\n\nDate: March 10, 2024\nSpeaker: Ruth Okafor\n"
        "Tags: hope, Hebrews\n\nHope is an anchor for the soul, firm and secure.\n",
        encoding="utf-8")
    [note] = load_notes(tmp_path)
    assert note.title == "Hope as an anchor" and note.date == "2024-03-10"
    assert note.speaker == "Ruth Okafor" and note.tags == ("hope", "Hebrews")
    assert note.series == "Sermons"
    assert note.body == "Hope is an anchor for the soul, firm and secure."


def test_text_takes_its_title_from_the_file_name_and_its_date_from_the_file(
        tmp_path: Path) -> None:
    path = tmp_path / "youth_camp_plan.txt"
    path.write_text("Tents go up on Friday.\n", encoding="utf-8")
    os.utime(path, (1_700_000_000, 1_700_000_000))
    [note] = read(path)
    assert (note.title, note.date, note.body) == ("youth camp plan", "2023-11-14",
                                                  "Tents go up on Friday.")


def test_the_same_file_keeps_its_id(tmp_path: Path) -> None:
    write_pdf(tmp_path / "a" / "Handout One.pdf", PDF_FACT)
    first = [n.id for n in load_notes(tmp_path)]
    assert first == ["a--handout-one"] and [n.id for n in load_notes(tmp_path)] == first


def _bad_folder(root: Path) -> dict[str, str]:
    """A folder of one good note and every bad file; the code each bad file must get."""
    root.mkdir()
    (root / "good.md").write_text("# Good\n\nA good note.\n", encoding="utf-8")
    write_pdf(root / "locked.pdf", PDF_FACT, password="secret")
    write_pdf(root / "scan.pdf", "")
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage")
    good_docx = write_docx(root / "ok.docx", [("H", DOCX_FACT)])
    (root / "truncated.docx").write_bytes(good_docx.read_bytes()[:400])
    good_docx.unlink()
    write_zip_bomb(root / "bomb.docx")
    with open(root / "huge.html", "wb") as f:  # sparse: 50 MB without the disk
        f.truncate(50 * 1024 * 1024)
    (root / "photo.png").write_bytes(b"\x89PNG\r\n")
    outside = root.parent / "secret.md"
    outside.write_text("# Secret\n\ndiary\n", encoding="utf-8")
    os.symlink(outside, root / "link.md")
    (root / "bad\x07name.md").write_text("# Bell\n\nring\n", encoding="utf-8")
    return {"locked.pdf": "PDF_ENCRYPTED", "scan.pdf": "PDF_NO_TEXT",
            "corrupt.pdf": "PDF_CORRUPT", "truncated.docx": "DOCX_CORRUPT",
            "bomb.docx": "ZIP_BOMB", "huge.html": "FILE_TOO_LARGE",
            "photo.png": "UNKNOWN_TYPE", "link.md": "LINK_OUTSIDE",
            "bad\x07name.md": "BAD_FILE_NAME"}


def test_every_bad_file_is_reported_with_its_code_and_the_rest_is_read(
        tmp_path: Path) -> None:
    expected = _bad_folder(tmp_path / "notes")
    found = read_folder(tmp_path / "notes")
    assert [n.id for n in found.notes] == ["good"]
    codes = {Path(f.path).name: f.code for f in found.failures}
    assert codes == expected
    for failure in found.failures:
        assert failure.rel.replace("\x07", "\\x07") in failure.message or \
            repr(failure.rel)[1:-1] in failure.message
    scan = next(f for f in found.failures if f.code == "PDF_NO_TEXT")
    assert "no text found; OCR is not supported" in scan.message


def test_a_strict_read_raises_the_coded_error(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked.pdf", PDF_FACT, password="secret")
    with pytest.raises(FileRefused) as info:
        read(path)
    assert info.value.code == "PDF_ENCRYPTED" and info.value.status == 422
    big = tmp_path / "big.md"
    with open(big, "wb") as f:
        f.truncate(MAX_NOTE_FILE_BYTES + 1)
    with pytest.raises(FileRefused) as info:
        read(big)
    assert info.value.code == "FILE_TOO_LARGE" and info.value.status == 413


def test_one_bad_line_never_stops_the_rest_of_a_file(tmp_path: Path) -> None:
    title = ("Effects of " + "a long clinical abstract title " * 12)[:367]
    lines = [json.dumps({"id": "a1", "title": title, "body": "First abstract."}),
             json.dumps({"id": "a2", "title": "No body"}),
             json.dumps({"id": "a3", "title": "Third", "body": "Third abstract."})]
    (tmp_path / "abstracts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = read_folder(tmp_path)
    assert [n.id for n in found.notes] == ["a1", "a3"]
    assert [(f.path.rsplit(":", 1)[1], f.code) for f in found.failures] == [("2", "INVALID_NOTE")]
    assert found.notes[0].body.startswith(title)
