"""Files of every format the readers take, written here with the libraries at hand (fpdf2 for
PDF, python-docx for Word), never downloaded: the readers' tests and the folder tests share
them."""

from __future__ import annotations

import zipfile
from pathlib import Path

import docx
from fpdf import FPDF

PDF_FACT = "The gleaning laws of Leviticus 19 kept a margin of every field for the poor."
DOCX_FACT = "The roof fund of Saint Brendan reached 4,200 dollars by the end of May."
HTML_FACT = "The parish bake sale raised 310 pounds for the night shelter."
NAV_TEXT = "Donate to the cathedral organ appeal today"


def write_pdf(path: Path, text: str, *, title: str | None = None, author: str | None = None,
              password: str | None = None) -> Path:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    if password:
        pdf.set_encryption(owner_password="owner", user_password=password)
    if text:
        pdf.multi_cell(0, 8, text)
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(path))
    return path


def write_docx(path: Path, sections: list[tuple[str, str]], *, title: str | None = None,
               author: str = "Clerk Ada Byrne") -> Path:
    document = docx.Document()
    document.core_properties.title = title or ""
    document.core_properties.author = author
    for heading, text in sections:
        document.add_paragraph(heading, style="Heading 1")
        document.add_paragraph(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    document.save(str(path))
    return path


def write_html(path: Path, main: str, *, title: str = "Parish news") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"<!doctype html><html><head><title>{title}</title>"
        "<meta name='author' content='Editor Tom Hale'>"
        "<meta name='date' content='2024-05-02'></head><body>"
        f"<nav><a href='/'>Home</a> {NAV_TEXT}</nav><header>St Brendan's banner</header>"
        f"<main><h1>Bake sale</h1><p>{main}</p></main>"
        "<footer>Copyright the parish office</footer></body></html>", encoding="utf-8")
    return path


def write_zip_bomb(path: Path, expanded: int = 80 * 1024 * 1024) -> Path:
    """A DOCX-named zip whose one part expands to ``expanded`` bytes of zeros (packed small)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * expanded)
    return path
