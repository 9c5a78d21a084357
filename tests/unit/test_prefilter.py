"""The families' literal prefilter: what it reads from a pattern, and that it never skips a
search that would have matched (every view of every text the repository holds)."""

from __future__ import annotations

import json
import re
from functools import cache, lru_cache
from pathlib import Path

import pytest

from rag_core.safety import leak, prefilter, sanitiser, stored_literals
from rag_core.safety.normalise import clean, views
from rag_core.safety.prefilter import (
    Prefilter,
    Source,
    family_literals,
    literals_key,
    required_literals,
    squeeze,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.mark.parametrize(("pattern", "expected"), [
    (r"ignore\s+(?:all\s+)?previous", {"previous"}),
    (r"what\s+is\s*your", {"what is"}),  # \s+ is one space of the squeezed text, \s* ends a run
    (r"do  not\s+\s+tell", {"do not tell"}),
    (r"(?:for|dis)\s+(?:the|your)\s+rules", {" rules"}),
    (r"(?:forget|disregard)\s+it", {"forget", "disregard"}),
    (r"sy?stem", {"stem"}),
    (r"(?:system)+\s*prompt", {"system"}),
    (r"summari[sz]e", {"summari"}),
    (r"a|\d+", None),  # one branch requires nothing
    (r"(?:abc)?\w+", None),
    (r"x{0,3}yz", {"yz"}),
    (r"SYSTEM:", {"system:"}),  # lower case
    ("ca\u017fe au lait", {"e au lait"}),  # a letter that may match ASCII breaks the run
])
def test_required_literals_reads_the_parse_tree(pattern: str, expected: set[str] | None) -> None:
    got = required_literals(re.compile(pattern, re.IGNORECASE))
    assert got == (None if expected is None else frozenset(expected))


def test_a_family_requires_nothing_when_one_pattern_does_not() -> None:
    assert family_literals([re.compile("abc"), re.compile(r"\w+")]) is None
    # of "d" and "ef"/"gh", the pair: a line is likelier to hold a letter than either of two
    assert family_literals([re.compile("abc"), re.compile("d(?:ef|gh)")]) == {"abc", "ef", "gh"}


def test_the_stored_literals_are_those_of_the_patterns() -> None:
    """``stored_literals`` is what reading the sanitiser's patterns gives now (else: run
    ``python -m rag_core.safety.sanitiser``), and the sanitiser uses it."""
    assert literals_key(sanitiser._ALL) == stored_literals.KEY, \
        "stale: run python -m rag_core.safety.sanitiser"
    fresh = Prefilter(sanitiser._ALL).literals
    assert sanitiser._PREFILTER.literals == fresh


def test_stored_literals_of_other_patterns_are_not_used() -> None:
    families = {"f": [Source(r"ignore\s+(?:previous|prior)", re.I)]}
    assert Prefilter(families).literals == {"f": {"ignore pr"}}
    assert Prefilter(families, ("not the key", {"f": ("zzz",)})).literals == {"f": {"ignore pr"}}
    stored = (literals_key(families), {"f": ("zzz",)})
    assert Prefilter(families, stored).literals == {"f": {"zzz"}}  # the key says they hold
    # a compiled pattern and its source have one key (compiling adds re.UNICODE)
    assert literals_key({"f": [re.compile(r"ignore\s+(?:previous|prior)", re.I)]}) == stored[0]


def test_may_match_skips_only_texts_without_any_required_string() -> None:
    pf = Prefilter({"f": [re.compile(r"ignore\s+(?:previous|prior)", re.I)],
                    "g": [re.compile(r"\w+")]})
    assert not pf.may_match("f", squeeze("What did Ruth glean?"))
    assert pf.may_match("f", squeeze("Please IGNORE \t prior rules"))  # the search decides
    assert pf.may_match("f", squeeze("ignore\u00a0prior"))  # outside ASCII: always searched
    assert pf.may_match("g", squeeze("anything"))


def _texts() -> list[str]:
    out: list[str] = []
    for path in sorted(GOLDEN.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out += [v for k, v in row.items() if isinstance(v, str)
                        and k in ("question", "text", "a", "b", "answer", "expected_answer")]
    for path in sorted(GOLDEN.rglob("*.md")) + sorted((GOLDEN / "safety/sources").glob("*.txt")):
        out += path.read_text().splitlines()
    return [t for t in out if t.strip()]


@lru_cache(maxsize=1)
def _views() -> list[str]:
    seen: dict[str, None] = {}
    for text in _texts():
        body = clean(text)
        for piece in [body, *sanitiser.segments(body)]:
            for view in views(piece, sanitiser.VOCABULARY):
                seen.setdefault(view)
    return list(seen)


@cache
def _matched(family: str) -> tuple[str, ...]:
    return tuple(v for v in _views() if sanitiser._SEARCHED[family].search(v))


def test_the_corpus_is_large_and_holds_attacks() -> None:
    # the soundness test below means something only if many views match some family
    matching = {v for family in sanitiser._SEARCHED for v in _matched(family)}
    assert len(_views()) > 5000 and len(matching) > 300


@pytest.mark.parametrize("family", sorted(sanitiser._SEARCHED))
def test_the_prefilter_never_skips_a_view_that_the_family_matches(family: str) -> None:
    missed = [v for v in _matched(family)
              if not sanitiser._PREFILTER.may_match(family, squeeze(v))]
    assert missed == []
    assert _matched(family)  # every family is exercised by some text


def test_a_pattern_that_needs_a_letter_outside_ascii_is_never_searched_on_ascii() -> None:
    assert required_literals(re.compile(r"забудь\s+\w+", re.I)) == frozenset()
    assert required_literals(re.compile(r"(?:забудь|forget)\s+it", re.I)) == {"forget"}
    # with case ignored, the long s and the Kelvin sign match ASCII letters: no shortcut
    assert required_literals(re.compile("\u017f", re.I)) is None
    assert required_literals(re.compile("(?i)\u212a")) is None
    assert required_literals(re.compile("\u212a")) == frozenset()
    pf = Prefilter({"ru": [re.compile(r"забудь", re.I)]})
    assert not pf.may_match("ru", squeeze("forget it"))
    assert pf.may_match("ru", squeeze("забудь"))


def test_without_the_regex_parser_every_family_is_searched(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """``re._parser`` is private: a Python without it reads no requirement, so nothing is
    skipped (slower, never a missed flag)."""
    monkeypatch.setattr(prefilter, "parser", None)
    pattern = re.compile(r"ignore\s+(?:previous|prior)", re.I)
    assert required_literals(pattern) is None
    pf = Prefilter({"f": [pattern]})
    assert pf.literals == {"f": None} and pf.may_match("f", squeeze("What did Ruth glean?"))


def _leak_patterns() -> dict[str, tuple[Prefilter, re.Pattern[str]]]:
    out = {f"concept:{k}": (leak._CONCEPTS, p) for k, p in leak.RULE_CONCEPTS.items()}
    out.update({f"foreign:{k}": (leak._FOREIGN, p) for k, p in leak.FOREIGN_WORDS.items()})
    return out


@pytest.mark.parametrize("name", sorted(_leak_patterns()))
def test_the_leak_filters_prefilter_never_skips_a_view_that_its_pattern_matches(
        name: str) -> None:
    prefilter, pattern = _leak_patterns()[name]
    key = name.split(":", 1)[1]
    matched = [v for v in _views() if pattern.search(v)]
    assert [v for v in matched if not prefilter.may_match(key, squeeze(v))] == []
    assert matched  # the corpus exercises the pattern
