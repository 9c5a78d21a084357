"""Normalising untrusted text, and the views that the pattern families run on.

``clean`` is what the rest of the service sees: NFKC, invisible and control characters deleted
(zero-width characters, soft hyphens, bidi controls, Unicode tag characters, variation
selectors, C0/C1 controls other than tab and line breaks), line breaks kept as ``\\n`` (at most
one blank line in a row) so that patterns anchored at a line start still find a ``SYSTEM:``
line in the middle of a question, and a note keeps its paragraphs.
Deleting (not replacing with a space) is what undoes ``ig\\u200bnore``.

``views`` are for detection only, never shown or sent on: case-folded, accents and other
combining marks dropped, Cyrillic/Greek/Armenian/small-capital look-alikes folded to Latin,
leetspeak read as letters, letters spaced or dotted apart joined again, and near-miss spellings
of a few attack words corrected. Folding a Russian question to Latin garbles it, which is why
the plain case-folded view is always among the views as well.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

LINE_BREAKS = "\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_NEWLINES = re.compile("\r\n|\r|[" + LINE_BREAKS[1:] + "]")
_EXTRA_INVISIBLE = frozenset(
    [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0]
    + list(range(0xFE00, 0xFE10)) + list(range(0xE0100, 0xE01F0))
)
_BLANKS = frozenset([0x2800])  # braille blank: looks like a space, is not one
_TAG_START, _TAG_END = 0xE0000, 0xE007F
_SPACES = re.compile(r"[^\S\n]+")
_WIDE = re.compile(r"[^\S\n]{2,}")
_ONE = re.compile(r"[^\S\n ]")
_LINE_ENDS = re.compile(r" *\n *")
_BLANK_LINES = re.compile(r"\n{3,}")

# Capitals first (Greek capital nu looks like N, its small letter like v).
_CAPITALS = str.maketrans({
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "А": "A", "В": "B", "Е": "E", "К": "K",
    "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "У": "Y", "І": "I",
    "Ј": "J", "Ѕ": "S",
})
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "г": "r", "д": "d", "е": "e", "ё": "e", "з": "3", "и": "u", "й": "u",
    "к": "k", "м": "m", "н": "h", "о": "o", "п": "n", "р": "p", "с": "c", "т": "t", "у": "y",
    "х": "x", "ш": "w", "ь": "b", "і": "i", "ї": "i", "ј": "j", "ѕ": "s", "һ": "h", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɩ": "i", "ү": "y", "ҫ": "c", "ѡ": "w",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "ν": "v",
    "ο": "o", "ρ": "p", "σ": "o", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ϲ": "c", "ϳ": "j",
    "μ": "u",
    # Armenian
    "օ": "o", "ս": "u", "ո": "n", "զ": "q", "ց": "g", "հ": "h", "ւ": "l",
    # Latin look-alikes and small capitals
    "ı": "i", "ȷ": "j", "ɑ": "a", "ɡ": "g", "ɪ": "i", "ʀ": "r", "ʏ": "y", "ᴀ": "a", "ʙ": "b",
    "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m",
    "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ǫ": "q", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w",
    "ᴢ": "z", "ℓ": "l",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "9": "g", "@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e"})
# A whole run of word and leet characters that holds both a letter a-z and a digit or symbol
# (which of the two comes first does not matter): each lookahead reads the run once from its
# start, so a long word costs its length, not its length squared as a pattern with a
# backtracking split inside the run did.
_LEET_TOKEN = re.compile(r"(?<![\w@$!|+€])(?=[\w@$!|+€]*?[a-z])(?=[\w@$!|+€]*?[0-9@$!|+€])"
                         r"[\w@$!|+€]+")
# Single characters joined by one and the same separator: "i g n o r e", "i.g.n.o.r.e", "a-s".
_SPELLED = re.compile(r"(?<![^\W_])[^\W_]([ .\-_*·/|~])(?:[^\W_]\1)*[^\W_](?![^\W_])")
_WORD = re.compile(r"[a-z]{4,}")


def is_invisible(ch: str) -> bool:
    """A format, control or filler character that prints as nothing (not tab or a line break)."""
    cp = ord(ch)
    if ch in "\t\n\r":
        return False
    if cp in _EXTRA_INVISIBLE:
        return True
    return unicodedata.category(ch) in ("Cf", "Cc", "Cs", "Co")


class _CharTable(dict[int, int | str | None]):
    """A ``str.translate`` table filled on first sight of each character by ``rule`` (the
    character itself, a replacement, or None to delete it): the rule runs once per distinct
    character instead of once per character of every text. Characters past the first 64k
    distinct ones are looked up every time (the table stays bounded under hostile input)."""

    def __init__(self, rule: Callable[[str], str | None]) -> None:
        super().__init__()
        self._rule = rule

    def __missing__(self, cp: int) -> int | str | None:
        out = self._rule(chr(cp))
        value = cp if out == chr(cp) else out
        if len(self) < 65536:
            self[cp] = value
        return value


_CLEAN_TABLE = _CharTable(lambda c: None if is_invisible(c) else " " if ord(c) in _BLANKS else c)
_INVISIBLE_TABLE = _CharTable(lambda c: None if is_invisible(c) else c)
_MARKS_TABLE = _CharTable(lambda c: None if unicodedata.category(c) == "Mn" else c)
_LETTERS_TABLE = _CharTable(lambda c: c if c.isalpha() else None)  # what ``squash`` keeps


# lone surrogates and the non-characters: U+FDD0-FDEF and the last two code points of each plane
_BAD_CODE_POINT = re.compile("[\ud800-\udfff\ufdd0-\ufdef" + "".join(
    f"{chr(plane + 0xFFFE)}{chr(plane + 0xFFFF)}" for plane in range(0, 0x110000, 0x10000)) + "]")


def bad_code_point(text: str) -> str | None:
    """A description of the first lone surrogate or Unicode non-character in ``text``, if any
    (valid JSON can carry either; PostgreSQL and UTF-8 cannot)."""
    found = _BAD_CODE_POINT.search(text)
    if found is None:
        return None
    cp, i = ord(found.group()), found.start()
    if 0xD800 <= cp <= 0xDFFF:
        return f"a lone surrogate (U+{cp:04X}) at position {i}"
    return f"a Unicode non-character (U+{cp:04X}) at position {i}"


def tag_text(text: str) -> str:
    """The ASCII hidden in Unicode tag characters (U+E0020-E007E), outside flag emoji."""
    out: list[str] = []
    run: list[str] = []
    for ch in text:
        cp = ord(ch)
        if _TAG_START + 0x20 <= cp < _TAG_END:
            run.append(chr(cp - _TAG_START))
            continue
        if run:
            out.append("".join(run))
            run = []
    if run:
        out.append("".join(run))
    # A subdivision flag (England, Scotland, Wales) is a short run of lowercase tags.
    return " ".join(r for r in out if not re.fullmatch(r"[a-z0-9]{2,7}", r))


def clean(text: str) -> str:
    """NFKC, invisible characters deleted, runs of spaces at most two wide, line breaks kept as
    ``\\n`` with at most one blank line in a row."""
    text = _NEWLINES.sub("\n", text).translate(_CLEAN_TABLE)
    # NFKC can expose new invisible characters
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE_TABLE)
    text = _WIDE.sub("  ", _ONE.sub(" ", text))  # a double space may separate spelled words
    return _BLANK_LINES.sub("\n\n", _LINE_ENDS.sub("\n", text)).strip()


def one_line(text: str) -> str:
    """``clean`` text with its line breaks turned into spaces."""
    return _SPACES.sub(" ", text.replace("\n", " ")).strip()


_REGIONAL = {cp: chr(ord("a") + cp - 0x1F1E6) for cp in range(0x1F1E6, 0x1F200)}


def fold(text: str) -> str:
    """Case-folded, combining marks dropped, look-alike letters (and the regional indicator
    letters that flags are made of) read as Latin."""
    # marks out before case folding, which would make U+0345 a letter
    decomposed = unicodedata.normalize("NFD", text)
    bare = decomposed.translate(_MARKS_TABLE)
    folded = unicodedata.normalize("NFC", bare.translate(_CAPITALS).casefold())
    return folded.translate(_CONFUSABLES).translate(_REGIONAL)


def unleet(text: str) -> str:
    """Tokens that mix letters with digits or symbols read as letters (``1gn0r3``)."""
    return _LEET_TOKEN.sub(lambda m: m.group(0).translate(_LEET), text)


def join_spelled(text: str) -> str:
    """Letters written apart (``i g n o r e``, ``i.g.n.o.r.e``) joined back into words."""
    return _SPELLED.sub(lambda m: m.group(0).replace(m.group(1), ""), text)


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (adjacent swaps count 1), stopping past ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


@lru_cache(maxsize=16)
def _by_initial(vocabulary: frozenset[str]) -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for word in vocabulary:
        index.setdefault(word[0], []).append(word)
    return {k: tuple(sorted(v)) for k, v in index.items()}


@lru_cache(maxsize=65536)
def _nearest(word: str, vocabulary: frozenset[str]) -> str:
    if word in vocabulary:
        return word
    limit = 1 if len(word) < 9 else 2
    best, score = word, limit + 1
    for known in _by_initial(vocabulary).get(word[0], ()):
        if abs(len(known) - len(word)) <= limit:
            d = _distance(word, known, limit)
            if d < score:
                best, score = known, d
    return best


def correct_spelling(text: str, vocabulary: frozenset[str], min_length: int = 6) -> str:
    """Near misses of the words in ``vocabulary`` (``instrutcions``, ``sytsem``) spelled right:
    words of ``min_length`` letters or more, one edit (an adjacent swap counts one) under nine
    letters, two from nine on, first letter kept."""
    if not vocabulary:
        return text
    return _WORD.sub(lambda m: _nearest(m.group(0), vocabulary)
                     if len(m.group(0)) >= min_length else m.group(0), text)


def squash(text: str) -> str:
    """Letters only: ``i-g n.o r e`` and ``ignore_all`` both become ``ignoreall``."""
    return text.translate(_LETTERS_TABLE)


def views(text: str, vocabulary: frozenset[str] = frozenset(), min_length: int = 6) -> list[str]:
    """The detection views of ``clean`` text, most literal first, without repeats;
    ``vocabulary`` holds the words worth correcting when misspelled (``min_length`` letters or
    more)."""
    plain = text.casefold()
    folded = fold(text)
    leet = unleet(folded)
    joined = join_spelled(leet)
    fixed = correct_spelling(joined, vocabulary, min_length)
    return list(dict.fromkeys((plain, folded, leet, joined, fixed)))


# Bidirectional controls: embeddings, overrides, isolates and the implicit marks.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                          "\u2066\u2067\u2068\u2069")


# The categories a one-line value that people read (a note id, a note's front-matter field, a
# search filter) may not hold: controls, format characters (bidi controls, zero-width joiners
# and spaces, soft hyphen), line and paragraph separators, private use, lone surrogates (text
# that is not UTF-8) and unassigned code points. Each prints as nothing or as something other
# than what it is, so two values that look the same would differ.
UNREADABLE_CATEGORIES = {"Cc": "a control character", "Cf": "an invisible formatting character",
                         "Zl": "a line separator", "Zp": "a paragraph separator",
                         "Co": "a private-use character", "Cs": "a lone surrogate (not UTF-8)",
                         "Cn": "an unassigned code point"}


def unreadable_character(text: str) -> str | None:
    """The first character of ``text`` that ``UNREADABLE_CATEGORIES`` refuses, described
    (``a line separator (U+2028)``), or None."""
    for char in text:
        kind = UNREADABLE_CATEGORIES.get(unicodedata.category(char))
        if kind:
            return f"{kind} (U+{ord(char):04X})"
    return None


def character_problem(text: str) -> str | None:
    """Why ``text`` cannot be a field's or a filter's value, or None: a bidirectional control
    named as such, else any character ``UNREADABLE_CATEGORIES`` refuses."""
    for char in text:
        if char in BIDI_CONTROLS:
            return f"contains the bidirectional control U+{ord(char):04X}"
    problem = unreadable_character(text)
    return f"contains {problem}" if problem else None
