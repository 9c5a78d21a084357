"""``evals generate --notes`` and ``evals run --dataset`` read every format the service reads:
a user folder of a PDF, a Word document, an HTML page and an Obsidian note becomes a dataset
whose notes are those files' notes, and a file that cannot be read refuses the dataset naming
it (files written here: ``tests/note_files.py``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from note_files import DOCX_FACT, HTML_FACT, PDF_FACT, write_docx, write_html, write_pdf

from evals.datasets import load_dataset
from evals.generate.write import GenerateError, generate


def _notes(root: Path) -> Path:
    user = root / "notes" / "ruth"
    write_pdf(user / "handout.pdf", PDF_FACT + " Boaz left extra sheaves on purpose.",
              title="Gleaning handout", author="Ruth Okafor")
    write_docx(user / "minutes.docx", [("Building fund", DOCX_FACT)], title="Elders meeting")
    write_html(user / "news.html", HTML_FACT)
    (user / "vault").mkdir()
    (user / "vault" / "Grace.md").write_text(
        "---\ndate: 2024-01-07\nspeaker: Ruth Okafor\n---\nGrace meets us in [[Titus 2]]. "
        "#grace\n", encoding="utf-8")
    return root / "notes"


def test_a_dataset_made_from_documents_reads_them_as_the_service_does(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    generate(_notes(tmp_path / "src"), out, seed=7)
    assert (out / "notes" / "ruth" / "handout.pdf").is_file()
    ds = load_dataset(out)
    qa = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    referenced = {i for item in qa for i in item["reference_note_ids"]}
    assert referenced <= {"handout", "minutes", "news", "vault--grace"} and referenced
    assert set(ds.qa["user_id"]) == {"ruth"}


def test_a_file_that_cannot_be_read_refuses_the_dataset_naming_it(tmp_path: Path) -> None:
    notes = _notes(tmp_path / "src")
    write_pdf(notes / "ruth" / "locked.pdf", PDF_FACT, password="secret")
    with pytest.raises(GenerateError, match="PDF_ENCRYPTED: .*locked.pdf"):
        generate(notes, tmp_path / "gen", seed=7)
