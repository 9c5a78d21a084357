"""The checks every generated item passes before it is written, and the report of what they
dropped (``Report``: counts by reason, kept counts by form, assertions not written).

An item is dropped, never repaired, when

- its question does not read as one: a question (every form but ``keyword``) opens with a
  question word (after a preposition: "On what date") or an auxiliary verb and ends with
  "?"; a ``keyword`` search is two to five words with no "?"; neither holds a placeholder
  (a word in capitals followed by a colon, or braces) nor a pronoun or demonstrative of the
  third person outside a quoted title ("it", "they", "this"), which would have nothing to
  refer to; nor markup or a link (a title carrying an HTML tag is not what a person types);
- it depends on the other notes and they make it ambiguous: a title another note of the user
  shares (``who``/``when``), another note by the same speaker on the same date (``which``), a
  phrase another note holds (``topic``/``keyword``/``synonym``);
- it repeats a question already kept.

An assertion is not written (and counted) when it cannot fail: its value is in the question,
a citation marker satisfies it (a number of one or two digits: ``[1]`` holds "1"), or every
note of the user holds it (an answer from any of the user's notes would pass it, as "2025"
does when every note is of 2025). ``unsound`` recounts the written ones: it must be 0.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from evals.generate.facts import Library, squash
from rag_core.text.nlp import WH_TAGS, parse

_QUOTED = re.compile(r'"[^"]*"')
_PLACEHOLDER = re.compile(r"\b[A-Z]{2,}:|[{}<>]")
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z]|https?://|\bwww\.", re.IGNORECASE)
_CITATION = re.compile(r"\[?\d{1,2}\]?")


@dataclass
class Report:
    """What the checks kept and dropped."""

    kept: Counter[str] = field(default_factory=Counter)  # items by form
    pairs_kept: Counter[str] = field(default_factory=Counter)  # pairs by label/kind
    dropped: Counter[str] = field(default_factory=Counter)  # items and pairs, by reason
    assertions_not_written: Counter[str] = field(default_factory=Counter)  # by reason
    assertions_written: int = 0
    unsound: int = 0  # written assertions that cannot fail (must stay 0)


def reading_problem(text: str, keyword: bool) -> str | None:
    """Why ``text`` does not read as a question (or, ``keyword``, as a search), else None."""
    if _PLACEHOLDER.search(_QUOTED.sub('""', text)):
        return "a template word in the question"
    if _MARKUP.search(text):  # a note field that carries markup or a link is no one's words
        return "markup or a link from a note field"
    outside = _QUOTED.sub("the note", text)
    doc = parse(outside)
    for token in doc:
        morph = token.morph
        if token.pos_ in ("PRON", "DET") and token.tag_ not in WH_TAGS and (
                "Dem" in morph.get("PronType", [])
                or ("3" in morph.get("Person", []) and "Prs" in morph.get("PronType", []))):
            return "a pronoun with nothing to refer to"
    if keyword:
        if text.endswith("?") or not 2 <= len(text.split()) <= 5:
            return "a keyword search that is not a few words"
        return None
    opening = [t for t in doc[:2]]
    if opening and opening[0].pos_ == "ADP":  # "On what date ...", "In which year ..."
        opening = opening[1:]
    first = opening[0] if opening else None
    if not text.endswith("?") or first is None or not (
            first.tag_ in WH_TAGS or first.pos_ == "AUX" or first.lower_ == "how"):
        return "not a question"
    return None


def assertion_problem(value: object, question: str, lib: Library) -> str | None:
    """Why an assertion of ``value`` could not fail, else None."""
    wanted = squash(value)
    if _CITATION.fullmatch(wanted):
        return "a citation marker satisfies it"
    if wanted in squash(question):
        return "the question holds it"
    if lib.notes and all(wanted in squash(t) for t in lib.texts.values()):
        return "every note of the user holds it"
    return None


def _checks(item: Mapping[str, object]) -> list[dict[str, object]]:
    found = item.get("assert")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def sound_checks(item: dict[str, object], lib: Library, report: Report) -> None:
    """Leave out the item's assertions that cannot fail (counted by reason)."""
    checks = item.pop("assert", None)
    if not isinstance(checks, list):
        return
    kept = []
    for check in checks:
        problem = assertion_problem(check.get("value"), str(item["question"]), lib)
        if problem:
            report.assertions_not_written[problem] += 1
        else:
            kept.append(check)
    if kept:
        item["assert"] = kept


def ambiguity(item: Mapping[str, object], lib: Library) -> str | None:
    """Why the other notes of the user make the item ambiguous, else None."""
    how = item.get("made_by")
    if not isinstance(how, dict) or "note" not in how or item.get("expect_no_context"):
        return None
    note, form = str(how["note"]), how.get("form")
    others = [n for n in lib.notes if n.id != note]
    if form in ("who", "when", "which") and any(n.title == how.get("title") for n in others):
        return "another note has the same title"
    if form == "which" and any((n.speaker, n.date) == (how.get("speaker"), how.get("date"))
                               for n in others):
        return "another note by the speaker on the same date"
    if form in ("topic", "keyword", "synonym"):
        asked = squash(how.get("phrase", ""))
        if any(asked in squash(lib.texts[n.id]) for n in others):
            return "another note holds the phrase"
    return None


def keep(items: Sequence[dict[str, object]], libraries: Mapping[str, Library],
         report: Report) -> list[dict[str, object]]:
    """The items that pass every check, their assertions made sound."""
    out: list[dict[str, object]] = []
    asked: set[tuple[object, str]] = set()
    for item in items:
        lib = libraries[str(item["user_id"])]
        how = item.get("made_by")
        form = str(how.get("form")) if isinstance(how, dict) else "?"
        problem = (reading_problem(str(item["question"]), form in ("keyword", "synonym"))
                   or ambiguity(item, lib))
        if problem is None and _MARKUP.search(str(item.get("reference_answer", ""))):
            problem = "markup or a link from a note field"
        key = (item["user_id"], squash(item["question"]))
        if problem is None and key in asked:
            problem = "the same question twice"
        if problem:
            report.dropped[f"{form}: {problem}"] += 1
            continue
        asked.add(key)
        sound_checks(item, lib, report)
        report.kept[form] += 1
        out.append(item)
    report.unsound = unsound(out, libraries)
    report.assertions_written = sum(len(_checks(i)) for i in out)
    return out


def keep_pairs(pairs: Sequence[dict[str, object]], report: Report) -> list[dict[str, object]]:
    out = []
    for pair in pairs:
        problem = (reading_problem(str(pair["a"]), False)
                   or reading_problem(str(pair["b"]), False))
        if problem:
            report.dropped[f"pair {pair['kind']}: {problem}"] += 1
            continue
        report.pairs_kept[f"{pair['label']}/{pair['kind']}"] += 1
        out.append(pair)
    return out


def unsound(items: Sequence[Mapping[str, object]], libraries: Mapping[str, Library]) -> int:
    """How many written assertions cannot fail (``assertion_problem``)."""
    count = 0
    for item in items:
        lib = libraries[str(item["user_id"])]
        for check in _checks(item):
            if assertion_problem(check.get("value"), str(item["question"]), lib):
                count += 1
    return count
