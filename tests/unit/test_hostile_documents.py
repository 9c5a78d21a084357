"""Documents made to hurt the readers (issue 81): each costs bounded time and memory, an
exhausted limit is that file's ``DOCUMENT_TOO_COMPLEX`` and the rest of the folder is read, and
what a page hides from its readers is never note text. The hostile files are written here
(``tests/hostile_files.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import (
    HIDDEN_TEXT,
    SHOWN_TEXT,
    attribute_html,
    deep_html,
    hidden_html,
    paragraphs_docx,
)

from rag_core.ingest.readers import FileRefused, read, read_folder
from rag_core.ingest.readers.budget import Budget
from rag_core.ingest.readers.html import read_html

ROOT = Path(__file__).resolve().parents[2]
# What one hostile file may cost to read, in a process of its own: a few seconds of CPU and a
# few hundred MB (the probe of issue 81: 49 s and 1 GB for the Word file, over 90 s for the page)
MAX_CPU_S = 15.0
MAX_RSS_MB = 300


def test_a_folder_with_a_deep_page_names_it_and_stores_the_rest_without_hidden_text(
        tmp_path: Path) -> None:
    deep_html(tmp_path / "deep.html")
    hidden_html(tmp_path / "choir.html")
    found = read_folder(tmp_path)
    assert [(Path(f.path).name, f.code) for f in found.failures] == [
        ("deep.html", "DOCUMENT_TOO_COMPLEX")]
    assert "nested more than" in found.failures[0].message
    [note] = found.notes
    assert SHOWN_TEXT in note.body and HIDDEN_TEXT not in note.body
    assert "ignore" not in note.body.lower()


def test_every_kind_of_hidden_element_is_left_out() -> None:
    page = (b"<html><body><p>shown</p><p style='display : none'>a</p>"
            b"<p style='color:red; visibility:hidden'>b</p><p hidden>c</p>"
            b"<p aria-hidden='true'>d</p><p style='font-size: 0pt'>e</p>"
            b"<p aria-hidden='false'>kept</p><p style='font-size:10px'>kept too</p></body></html>")
    body = str(read_html(page, "page.html")["body"])
    assert body.split("\n\n") == ["shown", "kept", "kept too"]


@pytest.mark.parametrize("write,outcome", [
    (attribute_html, "DOCUMENT_TOO_COMPLEX"),
    (paragraphs_docx, "read"),
    (deep_html, "DOCUMENT_TOO_COMPLEX"),
])
def test_a_hostile_file_is_read_or_refused_within_seconds_and_a_few_hundred_mb(
        tmp_path: Path, write: object, outcome: str) -> None:
    name = {"attribute_html": "attrs.html", "paragraphs_docx": "many.docx",
            "deep_html": "deep.html"}[write.__name__]  # type: ignore[attr-defined]
    path = write(tmp_path / name)  # type: ignore[operator]
    code = (
        "import json, resource, sys\n"
        "from rag_core.ingest.readers import FileRefused, read\n"
        "try:\n"
        "    notes = read(sys.argv[1]); outcome = 'read'\n"
        "except FileRefused as exc:\n"
        "    outcome = exc.code\n"
        "use = resource.getrusage(resource.RUSAGE_SELF)\n"
        # the peak of this program's own memory (VmHWM): ru_maxrss keeps the peak of the
        # process it was forked from (a pytest worker of 2 GB), across the exec
        "hwm = next(int(line.split()[1]) for line in open('/proc/self/status')"
        " if line.startswith('VmHWM:'))\n"
        "print(json.dumps({'outcome': outcome, 'cpu': use.ru_utime + use.ru_stime,"
        " 'rss_mb': hwm / 1024}))\n")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                          text=True, cwd=ROOT, check=False)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    cost = json.loads(done.stdout.splitlines()[-1])
    assert cost["outcome"] == outcome
    assert cost["cpu"] < MAX_CPU_S and cost["rss_mb"] < MAX_RSS_MB, cost


def test_the_hostile_files_have_the_probe_s_sizes(tmp_path: Path) -> None:
    assert 2_200_000 < attribute_html(tmp_path / "a.html").stat().st_size < 2_400_000
    assert 300_000 <= paragraphs_docx(tmp_path / "m.docx").stat().st_size < 400_000
    assert deep_html(tmp_path / "d.html").stat().st_size < 13_000


def test_time_spent_is_a_limit_read_from_the_clock_it_is_given() -> None:
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0
        return now[0]

    budget = Budget("slow.html", clock=clock, max_seconds=5.0)
    page = b"<html><body>" + b"<p>x</p>" * 40_000 + b"</body></html>"
    with pytest.raises(FileRefused) as refused:
        read_html(page, "slow.html", budget)
    assert refused.value.code == "DOCUMENT_TOO_COMPLEX" and "after" in str(refused.value)


def test_pages_elements_and_text_size_are_limits_too() -> None:
    for budget, act in [
        (Budget("a.pdf", max_pages=10), lambda b: b.pages(11)),
        (Budget("b.html", max_elements=5), lambda b: b.element(6)),
        (Budget("c.docx", max_text_chars=100), lambda b: b.text(101)),
    ]:
        with pytest.raises(FileRefused) as refused:
            act(budget)
        assert refused.value.code == "DOCUMENT_TOO_COMPLEX"


def test_a_deep_word_file_is_refused_with_its_code(tmp_path: Path) -> None:
    import zipfile

    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    xml = (f'<w:document xmlns:w="{w}"><w:body>' + "<w:sdt><w:sdtContent>" * 600
           + "<w:p><w:r><w:t>deep</w:t></w:r></w:p>" + "</w:sdtContent></w:sdt>" * 600
           + "</w:body></w:document>")
    path = tmp_path / "deep.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", xml)
    with pytest.raises(FileRefused) as refused:
        read(path)
    assert refused.value.code == "DOCUMENT_TOO_COMPLEX"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("page", [
    b"<a " + b"/ " * 2_000_000, b"<a " + b"=" * 5_000_000, b"<" * 3_000_000,
    b"<!--" * 1_000_000, b"<a" + b" " * 5_000_000 + b"b>", b"<script>" + b"<a b=c>" * 500_000,
])
def test_the_scan_before_the_parser_is_linear_on_malformed_tags(page: bytes) -> None:
    """Runs of separators, equals signs, bare ``<`` or comments in one tag: each read once (a
    separator run rescanned at every position took minutes for 4 MB)."""
    try:
        read_html(page, "odd.html")
    except FileRefused as refused:
        assert refused.code == "DOCUMENT_TOO_COMPLEX"
