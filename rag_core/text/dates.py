"""Years, decades, months and ISO dates as the facts of a text read them (both the notes' and a
question's): the patterns and the month names."""

from __future__ import annotations

import calendar
import re

WORD = re.compile(r"[^\W\d_]+")
YEAR = re.compile(r"^(1[5-9]|20)\d\d$")
DECADE = re.compile(r"^((?:1[5-9]|20)\d)0s$")
YEARS = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
ISO = re.compile(r"\b((?:1[5-9]|20)\d\d)-(0?[1-9]|1[0-2])\b")  # "2024-05", "2024-05-12"
CLOCK = re.compile(r"^(?:[01]?\d|2[0-4])\.[0-5]\d$")  # "3.20", "11.45": a time of day
AMOUNTS = ("MONEY", "QUANTITY", "PERCENT")  # spaCy's labels of an amount
# month names and their abbreviations ("Sep", "Sept"), from the calendar module
MONTHS = {**{n.lower(): i for i, n in enumerate(calendar.month_name) if n},
          **{n.lower(): i for i, n in enumerate(calendar.month_abbr) if n}, "sept": 9}
# a month named with its year ("May 2022", "8 May 2022", "May 8th, 2022", "May of 2022")
MONTH_YEAR = re.compile(rf"\b({'|'.join(MONTHS)})\b\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?,?"
                        r"\s+(?:of\s+)?((?:1[5-9]|20)\d\d)\b", re.IGNORECASE)
