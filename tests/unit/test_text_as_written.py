"""Text as its author wrote it and titles from the document (issue 81): words cut at a line's end
joined by the stated rule, ligatures as letters, running lines kept once, tables as rows in
place, a PDF's title from its first line or outline, a Word file's from its first heading."""

from __future__ import annotations

from pathlib import Path

import docx
from fpdf import FPDF

from rag_core.ingest.readers import read
from rag_core.ingest.readers.pdf import body_of, first_line_title
from rag_core.ingest.readers.pdf_tables import rows
from rag_core.ingest.readers.written import dehyphenate, known_words, letters, running_lines


def test_a_cut_word_is_joined_when_the_document_or_the_vocabulary_knows_it() -> None:
    pages = ["The iden-\ntifier names the node.", "Each identifier is unique; the code "
             "YYMMDDhhmm-\nhh stays; the field is OP-\nTIONAL here."]
    known = known_words(pages, frozenset({"optional"}))
    lines = dehyphenate("\n".join(pages).split("\n"), known)
    text = " ".join(lines)
    assert "identifier names" in text  # written elsewhere in the document
    assert "OPTIONAL here" in text  # in the vocabulary
    assert "YYMMDDhhmm-hh stays" in text  # neither: a compound keeps its hyphen


def test_ligatures_and_soft_hyphens_become_letters() -> None:
    assert letters("e\ufb03cient \ufb01le \ufb02ow co\u00adoperate") == \
        "efficient file flow cooperate"


def test_a_running_header_and_page_numbers_are_kept_once() -> None:
    pages = [[f"Chapter 4: Function reference {n}", f"body line {n} of the page", str(n)]
             for n in range(18, 22)]
    kept = running_lines(pages)
    flat = [line for page in kept for line in page]
    assert sum("Chapter 4" in line for line in flat) == 1
    assert [line for line in flat if line.startswith("body")] == [
        f"body line {n} of the page" for n in range(18, 22)]


def test_a_pdf_body_drops_running_lines_and_keeps_paragraphs() -> None:
    pages = [f"Manual header\nText of page {n} goes on\nand on.\n\nSecond paragraph {n}.\n{n}"
             for n in range(1, 4)]
    body = body_of(pages)
    assert body.count("Manual header") == 1
    assert "Text of page 2 goes on and on.\n\nSecond paragraph 2." in body


def test_a_first_line_is_a_title_only_when_it_reads_as_one() -> None:
    assert first_line_title(["Shared MIME-info Database\nX Desktop Group"]) == \
        "Shared MIME-info Database"
    for not_title in ("12", "2024-05-01", "This is a sentence that ends.", "iv", ""):
        assert first_line_title([not_title + "\nmore"]) in (None, "iv") or not not_title
    assert first_line_title(["2024-05-01\nx"]) is None and first_line_title(["12\nx"]) is None


def test_laid_out_rows_that_line_up_are_a_table_and_prose_is_not() -> None:
    laid = ("Header:\n"
            "   2      CARD16    MAJOR_VERSION\n"
            "   4      CARD32    ALIAS_LIST_OFFSET\n"
            "\n"
            "   •   a bullet item\n"
            "   •   another one\n"
            "This sentence is justified  with  two spaces and is much longer than a cell.\n")
    assert rows(laid) == {"2 CARD16 MAJOR_VERSION": "2 | CARD16 | MAJOR_VERSION",
                          "4 CARD32 ALIAS_LIST_OFFSET": "4 | CARD32 | ALIAS_LIST_OFFSET"}


def test_a_pdf_without_a_title_property_is_titled_by_its_first_line(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, "Parish Handbook\n\nThe vestry meets on the first Monday.")
    pdf.output(str(tmp_path / "handbook-2024.pdf"))
    [note] = read(tmp_path / "handbook-2024.pdf")
    assert note.title == "Parish Handbook"


def test_a_word_file_keeps_tables_in_place_and_takes_its_first_heading_as_title(
        tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph("Rota for May", style="Heading 1")
    document.add_paragraph("Before the table.")
    table = document.add_table(rows=2, cols=2)
    for r, (a, b) in enumerate([("Sunday", "Ann"), ("Wednesday", "Ben")]):
        table.cell(r, 0).text, table.cell(r, 1).text = a, b
    document.add_paragraph("After the table.")
    document.save(str(tmp_path / "rota.docx"))
    [note] = read(tmp_path / "rota.docx")
    assert note.title == "Rota for May"
    assert "Before the table.\n\nSunday | Ann\n\nWednesday | Ben\n\nAfter the table." in note.body


def test_html_table_cells_are_rows(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text(
        "<html><head><title>Fees</title></head><body><p>Fees below.</p><table>"
        "<tr><th>Item</th><th>Cost</th></tr><tr><td><p>Hall</p></td><td>40</td></tr>"
        "</table><p>Paid at the office.</p></body></html>")
    [note] = read(tmp_path / "t.html")
    assert note.body == "Fees below.\n\nItem | Cost\n\nHall | 40\n\nPaid at the office."
