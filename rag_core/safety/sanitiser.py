"""The question sanitiser: normalise, then flag by pattern family, sentence by sentence.

``scan_question(text)``:

1. ``clean`` the text (invisible characters deleted, NFKC, line breaks kept) and read what
   Unicode tag characters hid;
2. cut it into segments: lines, then sentences (two requests joined by ", then" are two);
3. look at each segment through every detection view (``normalise.views``) and through every
   decoding of it (``decode.decodings``: base64, hex, rot13, ...), and at the whole text the
   same way (attacks split over sentences);
4. report every family that matched (``flags``).

What goes on (``Scan.text``): the question with flagged segments left out, on one line. Nothing
is cut *inside* a segment: an honest question either passes whole, or (a false positive) loses
the sentence that looked like an attack. Once a segment is left out, the others stay only if they
read as a question or request of their own. When a flag comes from the whole text only (it
cannot be pinned on one segment) or what remains is not a question (fewer than two words), the
text is empty: the pipeline answers with its refusal and calls no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from rag_core.safety import decode, stored_literals
from rag_core.safety.families import FAMILIES as WORDING
from rag_core.safety.families_syntax import DAN, SQUASHED, SQUASHED_ALWAYS
from rag_core.safety.families_syntax import FAMILIES as SYNTAX
from rag_core.safety.languages import FAMILY as OTHER_LANGUAGE
from rag_core.safety.literal_index import LiteralIndex
from rag_core.safety.normalise import clean, fold, one_line, squash, tag_text, views
from rag_core.safety.prefilter import Prefilter, Source, literals_key, squeeze

# Sentence ends, and ", then" / "; and then", which join two requests in one sentence ("tell
# me X, then make up Y"): each is judged on its own.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|(?<=[,;])\s+(?=(?:and\s+)?then\s)",
                           re.IGNORECASE)
_WORDS = re.compile(r"[^\W\d_]{2,}")
# After an attack sentence is left out, what remains is answered only where it reads as a
# question or a request of its own ("Print it verbatim." after a dropped leak request does not).
_ASKS = re.compile(r"\?|^\W*(?:(?:and|then|also|now|please|first|but|so)\s+)*(?:what|who|whom|"
                   r"whose|when|where|which|why|how|did|does|do|is|are|was|were|can|could|would|"
                   r"will|should|has|have|tell\s+me|summari[sz]e|explain|describe|remind\s+me|"
                   r"give\s+me|show\s+me|list)\b", re.IGNORECASE)
_SPELLED_RUN = re.compile(r"(?:\b\w[ .\-_*·/|~]+){6,}\w\b")
FAMILIES = {**WORDING, **SYNTAX}


def _combined(patterns: Sequence[Source]) -> re.Pattern[str]:
    """One alternation of a family's patterns: one search per view instead of one per pattern
    (the same matches; a leading ``(?s)`` becomes a scoped ``(?s:...)``)."""
    parts = [f"(?s:{p.pattern[4:]})" if p.pattern.startswith("(?s)") else f"(?:{p.pattern})"
             for p in patterns]
    return re.compile("|".join(parts), patterns[0].flags)


class _Combined(Mapping[str, re.Pattern[str]]):
    """Each family's alternation, compiled the first time a view gets past the prefilter for
    that family: an honest question passes no family's prefilter, so a cold process answering
    it (a cached answer at the command line) compiles none of them (a few tenths of a second
    for all)."""

    def __init__(self, families: dict[str, list[Source]]) -> None:
        self._families = families
        self._compiled: dict[str, re.Pattern[str]] = {}

    def __getitem__(self, family: str) -> re.Pattern[str]:
        if family not in self._compiled:
            self._compiled[family] = _combined(self._families[family])
        return self._compiled[family]

    def __iter__(self) -> Iterator[str]:
        return iter(self._families)

    def __len__(self) -> int:
        return len(self._families)


# what each view is searched for, in order, and the searches that cannot match (ASCII views):
# the literals stored in ``stored_literals`` while they are those of these patterns
_ALL = {**FAMILIES, "other_language": OTHER_LANGUAGE}
_SEARCHED = _Combined(_ALL)
_PREFILTER = Prefilter(_ALL, (stored_literals.KEY, stored_literals.LITERALS))
_INDEX = LiteralIndex(_ALL, _PREFILTER.literals)
FAMILY_NAMES = (*FAMILIES, "other_language", "hidden_text")
# Words of six letters or more that the English patterns spell out: misspellings of these are
# corrected in the last detection view (``normalise.correct_spelling``).
VOCABULARY = frozenset(w for patterns in FAMILIES.values() for p in patterns
                       for w in re.findall(r"(?<![\\a-z])[a-z]{6,}", p.pattern))


@dataclass(frozen=True)
class Scan:
    text: str  # what goes on to retrieval and the model ("" = refuse)
    flags: tuple[str, ...]
    dropped: int = 0  # segments left out


def segments(text: str) -> list[str]:
    """Lines, then sentences (and requests joined by ", then"); empty pieces dropped."""
    out: list[str] = []
    for line in text.split("\n"):
        out += [s.strip() for s in _SENTENCE_END.split(line) if s.strip()]
    return out


def _match_views(texts: Iterable[str]) -> list[str]:
    """The families that match one of ``texts``. An ASCII view is searched for a family only
    with the patterns whose literals it holds (``literal_index``: the same answer as the
    family's whole alternation, which searches a view outside ASCII)."""
    found: list[str] = []
    for text in texts:
        squeezed = squeeze(text)
        present = None if squeezed is None else _INDEX.present(squeezed)
        for family in _SEARCHED:
            if family in found:
                continue
            if present is None or _PREFILTER.literals.get(family) is None:
                hit = _SEARCHED[family].search(text) is not None
            else:
                patterns = _INDEX.searches(family, present)
                hit = (_SEARCHED[family].search(text) is not None if patterns is None
                       else any(p.search(text) for p in patterns))
            if hit:
                found.append(family)
    return found


def families_in(text: str, *, decode_payloads: bool = True) -> list[str]:
    """Families matched by ``clean`` text through its views and, optionally, its decodings
    (a decoding is looked at plain and folded only: rot13 and reversal of an honest question
    are gibberish, and reading gibberish as leetspeak or correcting its spelling only costs
    time)."""
    all_views = views(text, VOCABULARY) if decode_payloads else views(text)[:2]
    found = _match_views(all_views)
    if DAN.search(text) and "jailbreak" not in found:
        found.append("jailbreak")
    squashed = squash(fold(text))
    squashed_patterns = SQUASHED_ALWAYS + (SQUASHED if _SPELLED_RUN.search(text) else [])
    if any(p.search(squashed) for p in squashed_patterns) and "ignore_instructions" not in found:
        found.append("ignore_instructions")
    if decode_payloads:
        for hidden in decode.decodings(text):
            inner = families_in(clean(hidden), decode_payloads=False)
            if inner:
                found += [f for f in (*inner, "encoding_trick") if f not in found]
    return found


@lru_cache(maxsize=4096)
def scan_question(text: str) -> Scan:
    """Flag ``text`` by family and keep what is safe to answer (see the module docstring).
    Memoised: a repeated question (the common case behind a cache hit) costs a lookup."""
    hidden = tag_text(text)
    body = clean(text)
    flags: list[str] = []
    kept: list[str] = []
    dropped = 0
    for segment in segments(body):
        found = families_in(segment)
        if found:
            dropped += 1
            flags += [f for f in found if f not in flags]
        else:
            kept.append(segment)
    if dropped:
        kept = [s for s in kept if _ASKS.search(s)]
    whole = families_in(body) if len(segments(body)) > 1 else []
    unexplained = [f for f in whole if f not in flags]
    flags += unexplained
    if hidden:
        flags += [f for f in ("hidden_text", *families_in(clean(hidden))) if f not in flags]
    remainder = one_line(" ".join(kept)).rstrip(",; ")
    if unexplained or (dropped and len(_WORDS.findall(remainder)) < 2):
        remainder = ""
    return Scan(text=remainder if dropped or unexplained else one_line(body),
                flags=tuple(flags), dropped=dropped)


def write_stored_literals() -> None:
    """Rewrite ``stored_literals.py`` from the patterns (``python -m rag_core.safety.sanitiser``
    after a family changed; a unit test says when it is due)."""
    from pathlib import Path

    lines = [f"KEY = {literals_key(_ALL)!r}", "LITERALS: dict[str, tuple[str, ...] | None] = {"]
    for name, lits in Prefilter(_ALL).literals.items():  # read from the patterns themselves
        if lits is None:
            lines.append(f"    {name!r}: None,")
            continue
        lines.append(f"    {name!r}: (")
        for text in sorted(lits):
            item = f" {text!r},"
            if len(lines[-1]) + len(item) > 99 or lines[-1].endswith("("):
                lines.append(f"       {item}")
            else:
                lines[-1] += item
        lines.append("    ),")
    path = Path(stored_literals.__file__)
    head = path.read_text().split("\nKEY = ", 1)[0]
    path.write_text(head + "\n" + "\n".join(lines) + "\n}\n")


if __name__ == "__main__":
    write_stored_literals()
