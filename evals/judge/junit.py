"""A run as JUnit XML (``--junit-xml PATH``), the file GitHub Actions, GitLab and Jenkins show
as tests: the suite ``gates`` holds one test case per gate (failed, skipped or passed), the
suite ``questions`` one per question that fails in this run or is marked ``expect: fail``:

- a failure when it passed in the baseline, or when it is new or its text changed since the
  baseline (the body holds the answers before and after);
- skipped when it failed in the baseline too, when no baseline was compared, or when it is a
  known failure (the message starts ``expected failure:`` with the item's ``reason``);
- passed, with a note, when a known failure now passes.

Each case is named by the question's text (shortened), then its id. Text that XML cannot
hold (control characters) is written as ``\\xNN``: the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from evals.gates import OPS, GateResult
from evals.judge.questions import Comparison, Question

NAME_CHARS = 80  # of a question's text in its case name
# characters XML 1.0 cannot hold, even escaped
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def clean(text: object) -> str:
    """``text`` with what XML cannot hold written as ``\\xNN`` (or ``\\uNNNN``)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256
                        else f"\\u{ord(m.group()):04x}", str(text))


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def case_name(q: Question) -> str:
    return clean(f"{_short(q.question, NAME_CHARS)} [{q.id}]")


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=clean(classname), name=name, time="0")


def _suite(root: ET.Element, name: str, cases: int, failures: int, skipped: int) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, tests=str(cases), failures=str(failures),
                         errors="0", skipped=str(skipped))


def _body(q: Question, before: str) -> str:
    return clean(f"{q.question}\nid: {q.id}\nchecks failed: {', '.join(q.failed_checks)}\n"
                 f"expected: {q.expected}\nbefore: {before}\nafter: {q.answer}")


def _verdict(q: Question, compared: Comparison | None) -> tuple[str, str, str]:
    """(failure | skipped | passed, message, body) of one listed question."""
    checks = ", ".join(q.failed_checks)
    if q.known_failure:
        if q.passed:
            return "passed", f"known failure now passes: remove expect: fail ({q.reason})", ""
        return "skipped", f"expected failure: {q.reason}", ""
    if compared is None:
        return "skipped", f"no baseline compared: {checks}", ""
    flips = {f.after.id: f for f in compared.newly_failing}
    changed = {f.after.id: f for f in compared.changed}
    if q.id in flips:
        return "failure", f"newly failing: {checks}", _body(q, flips[q.id].before.answer)
    if q.id in changed:
        old = changed[q.id].before
        return ("failure", f"text changed since the baseline and failing: {checks}",
                _body(q, f"(another question under this id: {old.question!r}) {old.answer}"))
    if any(n.id == q.id for n in compared.new):
        return ("failure", f"new since the baseline and failing: {checks}",
                _body(q, "(not in the baseline)"))
    return "skipped", f"failed in the baseline too: {checks}", ""


def write(path: Path, gates: Sequence[GateResult], listed: Sequence[Question],
          compared: Comparison | None) -> Path:
    """``listed``: the questions that fail in this run and the known failures; ``compared``:
    this run against the baseline (None: no baseline compared)."""
    root = ET.Element("testsuites", name="python -m evals run")
    suite = _suite(root, "gates", len(gates), sum(g.status == "failed" for g in gates),
                   sum(g.status == "skipped" for g in gates))
    for gate in gates:
        case = _case(suite, "gates", clean(gate.name))
        text = clean(f"{gate.value} {OPS[gate.op][0]} {gate.threshold}: {gate.note}".strip())
        if gate.status == "failed":
            ET.SubElement(case, "failure", message=text).text = text
        elif gate.status == "skipped":
            ET.SubElement(case, "skipped", message=clean(gate.note or "skipped"))
    verdicts = [(q, *_verdict(q, compared)) for q in listed]
    suite = _suite(root, "questions", len(verdicts),
                   sum(v[1] == "failure" for v in verdicts),
                   sum(v[1] == "skipped" for v in verdicts))
    for q, kind, message, body in verdicts:
        case = _case(suite, f"questions.{q.user_id}", case_name(q))
        if kind == "failure":
            ET.SubElement(case, "failure", message=clean(message)).text = body
        elif kind == "skipped":
            ET.SubElement(case, "skipped", message=clean(message))
        else:
            ET.SubElement(case, "system-out").text = clean(message)
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
