"""Numbers and dates of two questions compared (the ``numbers`` and ``dates`` rules of
``rag_core.decisions.semantic_rules``): the same values, no conflicting values, or, in the
strict mode, values added on one side only that the other question's evidence holds."""

from __future__ import annotations

import re
from typing import Any

from rag_core.decisions import nlp
from rag_core.decisions.semantic_evidence import Check, Evidence


def fmt(a: Any, b: Any) -> str:
    return f"{sorted(a) if isinstance(a, frozenset) else a} vs " \
           f"{sorted(b) if isinstance(b, frozenset) else b}"


def _values(f: nlp.Facts) -> frozenset[str]:
    return f.numbers | {nlp.quantity(d) for d in f.dates}


def value_checks(a: nlp.Facts, b: nlp.Facts, strict: bool) -> list[Check]:
    """Numbers and dates compared together ("seventy-seven" may be a number on one side and
    a date on the other): ``strict``, the same values; else no value on each side that the
    other lacks. A failure is reported as ``dates`` when only date values differ."""
    va, vb = _values(a), _values(b)
    only_a, only_b = va - vb, vb - va
    ok = not (only_a or only_b) if strict else not (only_a and only_b)
    dated = {nlp.quantity(d) for d in a.dates | b.dates}
    rule = "dates" if (only_a | only_b) and (only_a | only_b) <= dated else "numbers"
    other = "dates" if rule == "numbers" else "numbers"
    return [Check(rule, ok, fmt(va, vb)), Check(other, True, f"compared under {rule}")]


def _in_text(value: str, evidence: Evidence) -> bool:
    """A number or date word written in the best chunk of ``evidence`` (as a word)."""
    text = " ".join(evidence.texts[:1]).lower().replace(",", "")
    return bool(text) and re.search(rf"(?<![\w.]){re.escape(value)}(?![\w])", text) is not None


def grounded_values(a: nlp.Facts, b: nlp.Facts, new: Evidence, cached: Evidence) -> list[Check]:
    """Numbers and dates of the strict mode: the same values, or values added on one side
    only that the other question's evidence holds (context: "in 1996" added to a question
    whose cached answer came from the 1996 story). ``a`` is the cached question."""
    va, vb = _values(a), _values(b)
    only_a, only_b = sorted(va - vb), sorted(vb - va)
    # looked up as written in the evidence: a value the notes spell out ("thirty") is not
    # found and refuses, the safe side
    ok = not (only_a and only_b) and all(_in_text(v, new) for v in only_a) \
        and all(_in_text(v, cached) for v in only_b)
    dated = {nlp.quantity(d) for d in a.dates | b.dates}
    rule = "dates" if (set(only_a) | set(only_b)) <= dated and (only_a or only_b) else "numbers"
    other = "dates" if rule == "numbers" else "numbers"
    extra = " (added on one side, in the other's evidence)" if ok and (only_a or only_b) else ""
    return [Check(rule, ok, fmt(va, vb) + extra), Check(other, True, f"compared under {rule}")]
