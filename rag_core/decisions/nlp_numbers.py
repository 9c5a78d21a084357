"""Numbers of a question as values (``rag_core.decisions.nlp.facts`` keeps them in
``Facts.numbers``): digits as written, number words as their value ("twelve" and "12" are
both "12"), "forty-six" as one number, and the count of a span of time ("thirty-one years")
as a number rather than a date."""

from __future__ import annotations

import re
from collections.abc import Set
from typing import Any

_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen")
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
VALUES: dict[str, float] = {w: float(i) for i, w in enumerate(_SMALL)}
VALUES.update(TENS)
VALUES.update({"hundred": 100, "thousand": 1000, "million": 1_000_000, "once": 1, "twice": 2,
               "thrice": 3, "dozen": 12, "half": 0.5, "double": 2, "triple": 3})
NUMBER_WORDS = frozenset(VALUES)
# Units of a span of time: "thirty-one years" counts years, it names no date
TIME_UNITS = frozenset({"year", "month", "week", "day", "hour", "minute", "decade", "century"})
_DIGITS = re.compile(r"^\d[\d.,:]*$")


def quantity(text: str) -> str:
    """A number or number word as one canonical value ("twelve" and "12" are both "12")."""
    low = text.lower().replace(",", "")
    if low in VALUES:
        return f"{VALUES[low]:g}"
    return low.rstrip(".")


def number(token: Any) -> str | None:
    """The value of one token, or None."""
    text = token.text.lower().replace(",", "")
    if _DIGITS.match(text) or (text[:1].isdigit() and text.isalnum()):  # 40, 3rd, 1990s
        return text.rstrip(".")
    if text == "one" and token.dep_ == "nummod":
        return None  # "one talent" is "a talent"; "one" against "two" still differs
    if text in VALUES:
        return f"{VALUES[text]:g}"
    return None


def span_numbers(doc: Any, time_labels: Set[str]) -> set[int]:
    """The positions of the numbers and the unit of a span of time ("thirty-one years", "6
    months"): a count, compared as a number, not a date to anchor."""
    out: set[int] = set()
    for t in doc:
        if t.lemma_.lower() in TIME_UNITS and t.ent_type_ in time_labels:
            nums = [c for c in t.subtree if c.i < t.i and (c.like_num or c.text == "-")]
            if nums:
                out |= {c.i for c in nums} | {t.i}
    return out


def hyphenated(doc: Any, numbers: set[str]) -> set[str]:
    """``numbers`` with "forty-six" (tens, hyphen, units) read as 46, not as 40 and 6."""
    out = set(numbers)
    for t in doc[:-2]:
        tens, units = t.lower_, doc[t.i + 2].lower_
        if doc[t.i + 1].text == "-" and tens in TENS and units in VALUES \
                and 0 < VALUES[units] < 10:
            out -= {quantity(tens), quantity(units)}
            out.add(f"{TENS[tens] + VALUES[units]:g}")
    return out
