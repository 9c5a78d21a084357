"""Plain text: lower case, accents off, so that two spellings of one name are one."""

from __future__ import annotations

import unicodedata

# letters Unicode does not decompose into a plain letter and an accent ("Østby": Ostby)
_FOLDED = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ł": "l", "đ": "d",
                         "ð": "d", "þ": "th", "ı": "i", "ħ": "h"})


def plain(text: str) -> str:
    """Lower case, accents off ("José" and "Jose" are one name, "Østby" and "Ostby" too)."""
    decomposed = unicodedata.normalize("NFKD", text.lower().translate(_FOLDED))
    return "".join(c for c in decomposed if not unicodedata.combining(c))
