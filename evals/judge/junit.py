"""A run as JUnit XML (``--junit-xml PATH``), the file GitHub Actions, GitLab and Jenkins show
as tests: the suite ``gates`` holds one test case per gate (failed, skipped or passed), the
suite ``questions`` one per question that fails in this run: a failure when it passed in the
baseline, skipped when it failed there too or no baseline was compared (then it fails no run,
and the file agrees with the exit code)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from evals.gates import OPS, GateResult
from evals.judge.questions import Question


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def _suite(root: ET.Element, name: str, cases: int, failures: int, skipped: int) -> ET.Element:
    return ET.SubElement(root, "testsuite", name=name, tests=str(cases), failures=str(failures),
                         errors="0", skipped=str(skipped))


def write(path: Path, gates: Sequence[GateResult], failing: Sequence[Question],
          newly_failing: set[str] | None) -> Path:
    """``failing``: the questions that fail in this run; ``newly_failing``: the ids of those
    that passed in the baseline (None: no baseline compared)."""
    root = ET.Element("testsuites", name="python -m evals run")
    suite = _suite(root, "gates", len(gates), sum(g.status == "failed" for g in gates),
                   sum(g.status == "skipped" for g in gates))
    for gate in gates:
        case = _case(suite, "gates", gate.name)
        text = f"{gate.value} {OPS[gate.op][0]} {gate.threshold}: {gate.note}".strip()
        if gate.status == "failed":
            ET.SubElement(case, "failure", message=text).text = text
        elif gate.status == "skipped":
            ET.SubElement(case, "skipped", message=gate.note or "skipped")
    new = [q for q in failing if newly_failing is not None and q.id in newly_failing]
    suite = _suite(root, "questions", len(failing), len(new), len(failing) - len(new))
    for q in failing:
        case = _case(suite, f"questions.{q.user_id}", q.id)
        text = (f"{q.question}\nchecks failed: {', '.join(q.failed_checks)}\n"
                f"expected: {q.expected}\nanswer: {q.answer}")
        if q in new:
            ET.SubElement(case, "failure", message=", ".join(q.failed_checks)).text = text
        else:
            why = "no baseline compared" if newly_failing is None else "failed in the baseline too"
            ET.SubElement(case, "skipped", message=f"{why}: {', '.join(q.failed_checks)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
