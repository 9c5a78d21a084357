"""Checks a QA item states on its answer, in the item's ``assert`` list::

    "assert": [{"type": "contains", "value": "870"},
               {"type": "not_contains", "value": ["Tuesday", "Friday"]},
               {"type": "regex", "value": "\\b8[0-9]{2}\\b"},
               {"type": "cites", "value": "rosa-002"},
               {"type": "no_context", "value": false}]

``contains`` (every value) and ``not_contains`` (none of them) compare case-insensitively with
runs of whitespace as one space; ``regex`` is searched in the answer as written (Python ``re``);
``cites`` needs every named note among the answer's citations; ``no_context`` (default true)
says whether the answer must be the refusal. Each assertion is one check of its question.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

KINDS = ("contains", "not_contains", "regex", "cites", "no_context")


@dataclass(frozen=True)
class Assertion:
    kind: str
    values: tuple[str, ...] = ()  # texts, a pattern, or note ids
    flag: bool = True  # no_context: whether the refusal is expected

    @property
    def name(self) -> str:
        """The check's name in a question's row: ``contains: 870``."""
        shown = str(self.flag).lower() if self.kind == "no_context" else " | ".join(self.values)
        return f"{self.kind}: {shown}"


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


def _texts(kind: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(
            isinstance(v, str) and v.strip() for v in items):
        raise ValueError(f"assertion {kind}: value must be a non-empty text or a list of them")
    return tuple(items)


def parse(raw: object) -> list[Assertion]:
    """The ``assert`` field of a QA item; a ``ValueError`` says what is wrong with it."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("assert must be a list of {\"type\", \"value\"} objects")
    out: list[Assertion] = []
    for entry in raw:
        if not isinstance(entry, dict) or entry.get("type") not in KINDS:
            raise ValueError(f"each assertion is an object with a type among {list(KINDS)}, "
                             f"got {entry!r}")
        kind, value = str(entry["type"]), entry.get("value")
        if kind == "no_context":
            if value is not None and not isinstance(value, bool):
                raise ValueError("assertion no_context: value must be true or false")
            out.append(Assertion(kind, flag=True if value is None else value))
            continue
        values = _texts(kind, value)
        if kind == "regex":
            if len(values) != 1:
                raise ValueError("assertion regex: value must be one pattern")
            try:
                re.compile(values[0])
            except re.error as exc:
                raise ValueError(f"assertion regex: {values[0]!r} is not a pattern: "
                                 f"{exc}") from None
        out.append(Assertion(kind, values))
    return out


def holds(assertion: Assertion, answer: str, cited_note_ids: Sequence[str],
          no_context: bool) -> bool:
    """Whether ``answer`` (its citations' notes, whether it was the refusal) passes."""
    text = _squash(answer)
    if assertion.kind == "contains":
        return all(_squash(v) in text for v in assertion.values)
    if assertion.kind == "not_contains":
        return not any(_squash(v) in text for v in assertion.values)
    if assertion.kind == "regex":
        return re.search(assertion.values[0], answer) is not None
    if assertion.kind == "cites":
        return set(assertion.values) <= set(cited_note_ids)
    return no_context == assertion.flag
