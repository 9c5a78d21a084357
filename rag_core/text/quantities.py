"""Numbers as values, in digits ("120,000", "$1,250", "5km", "62k") or words ("three hundred
and ten"), each run one value (``values``); and the numbers of a parsed question for
``nlp.Facts`` (``number``, ``span_numbers``, ``hyphenated``: "twelve" and "12" are both "12")."""

from __future__ import annotations

import re
from collections.abc import Set
from typing import Any

_UNITS = {w: i for i, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
     "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
     "eighteen", "nineteen"))}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
         "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000, "million": 1_000_000, "billion": 1_000_000_000}
_AFTER_DIGITS = {**_SCALES, "k": 1000, "bn": 1_000_000_000}  # "5 thousand", "62k", "£2bn"
_WORDS = {**{w: float(v) for w, v in _UNITS.items()}, **_TENS, **_SCALES, "once": 1,
          "twice": 2, "thrice": 3, "dozen": 12, "half": 0.5, "double": 2, "triple": 3}
NUMBER_WORDS = frozenset(_WORDS)
# Units of a span of time: "thirty-one years" counts years, it names no date
TIME_UNITS = frozenset({"year", "month", "week", "day", "hour", "minute", "decade", "century"})
_DIGITS = re.compile(r"^\d[\d.,:]*$")
# a word, a number in digits, or a mark that ends a number in words ("sixty-one. Twenty")
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?|[A-Za-z]+|[.,;:!?()]")
# Nouns that a number counts when it shapes the answer asked for ("in two sentences", "three
# points"), not a fact the notes must give.
ANSWER_SHAPE = frozenset({"sentence", "word", "line", "paragraph", "point", "bullet"})
# A word of letters and digits together ("a1b2c3", "mp3", "5th") names a code or a rank, not
# a quantity: it is left out whole rather than read as the digits in it.
_MIXED = re.compile(r"\b\w*(?:[A-Za-z]\d|\d[A-Za-z])\w*\b")
# but digits with a unit written onto them ("5km", "120kg", "4pm") are the number and the unit
_GLUED = re.compile(r"\b(\d[\d,]*(?:\.\d+)?)(?!(?:st|nd|rd|th|s)\b)([A-Za-z]+)\b")
# Words that make a number approximate (grammar, as spaCy attaches them: advmod or quantmod)
APPROXIMATE = frozenset({"almost", "nearly", "about", "around", "roughly", "approximately",
                         "some", "over", "under", "more", "less", "fewer", "least", "most",
                         "up", "close", "than", "maybe", "perhaps", "several"})


def _word_value(words: list[str]) -> float:
    total, part = 0, 0
    for w in words:
        if w in _UNITS:
            part += _UNITS[w]
        elif w in _TENS:
            part += _TENS[w]
        elif w == "hundred":
            part = max(part, 1) * 100
        else:  # thousand, million, billion
            total += max(part, 1) * _SCALES[w]
            part = 0
    return float(total + part)


def _goes_on(run: list[str], word: str) -> bool:
    """``word`` continues the number in words ``run`` began, as English writes one: after a
    scale word anything, a scale word after any, a unit 1-9 after a tens word ("sixty-one");
    two units or two tens in a row are two numbers ("seven, nine", "one twenty")."""
    last = run[-1]
    return word in _SCALES or last in _SCALES or (
        last in _TENS and word in _UNITS and 0 < _UNITS[word] < 10)


def values(text: str) -> set[float]:
    """Every number of ``text`` as a value (a run of number words is one number)."""
    out: set[float] = set()
    run: list[str] = []
    tokens = _TOKEN.findall(_MIXED.sub(" ", _GLUED.sub(r"\1 \2", text)).replace("-", " "))
    scaled = -1  # the scale word after digits ("5 thousand"), read with them
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if i == scaled:
            continue
        numeric = low in _UNITS or low in _TENS or low in _SCALES
        joined = low in ("and", ",") and run and run[-1] in _SCALES and i + 1 < len(tokens) \
            and (tokens[i + 1].lower() in _UNITS or tokens[i + 1].lower() in _TENS)
        if numeric:
            if run and not _goes_on(run, low):
                out.add(_word_value(run))
                run = []
            if low in _SCALES and not run and i > 0 and tokens[i - 1].lower() == "a":
                run.append("one")  # "a hundred"
            run.append(low)
            continue
        if joined:
            continue
        if run:
            out.add(_word_value(run))
            run = []
        if tok[0].isdigit():
            digits = tok.replace(",", "")
            try:
                value = float(digits)
            except ValueError:
                continue
            nxt = tokens[i + 1].lower() if i + 1 < len(tokens) else ""
            if nxt in _AFTER_DIGITS:
                value, scaled = value * _AFTER_DIGITS[nxt], i + 1
            out.add(value)
    if run:
        out.add(_word_value(run))
    return out


def quantity(text: str) -> str:
    """A number or number word as one canonical value ("twelve" and "12" are both "12")."""
    low = text.lower().replace(",", "")
    return f"{_WORDS[low]:g}" if low in _WORDS else low.rstrip(".")


def number(token: Any) -> str | None:
    """The value of one parsed token, or None ("one talent" is "a talent": none)."""
    text = token.text.lower().replace(",", "")
    if text == "one" and token.dep_ == "nummod":
        return None
    digits = _DIGITS.match(text) or (text[:1].isdigit() and text.isalnum())  # 40, 3rd, 1990s
    return quantity(text) if digits or text in _WORDS else None


def span_numbers(doc: Any, time_labels: Set[str]) -> set[int]:
    """Positions of the numbers and unit of a span of time ("thirty-one years"): a count."""
    out: set[int] = set()
    for t in doc:
        if t.lemma_.lower() in TIME_UNITS and t.ent_type_ in time_labels:
            nums = [c for c in t.subtree if c.i < t.i and (c.like_num or c.text == "-")]
            if nums:
                out |= {c.i for c in nums} | {t.i}
    return out


def hyphenated(doc: Any, numbers: set[str]) -> set[str]:
    """``numbers`` with "forty-six" read as 46, not as 40 and 6."""
    out = set(numbers)
    for t in doc[:-2]:
        tens, units = t.lower_, doc[t.i + 2].lower_
        if doc[t.i + 1].text == "-" and tens in _TENS and units in _UNITS \
                and 0 < _UNITS[units] < 10:
            out -= {quantity(tens), quantity(units)}
            out.add(f"{_TENS[tens] + _UNITS[units]:g}")
    return out
