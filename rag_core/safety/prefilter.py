"""Literal prefilters for the pattern families: skip a regex search that cannot match.

Each family is an alternation of long regexes, and Python's engine tries it at every position
of every view of every segment; most text (honest questions, note sentences) matches nothing.
From each pattern's parse tree, :func:`required_literals` reads a set of plain strings such that
any match contains at least one of them ("ignore", "instruction", ...). A view that contains
none of a family's strings is not searched for that family.

The rule is sound, not a heuristic: a string is required only when every way through the
pattern passes through it. Only runs of ASCII literal characters count (``\\s+`` inside a run
is one space), compared in lower case with the text's white space squeezed to single spaces,
and the filter is used on ASCII text only: there, case-insensitive matching of an ASCII letter
is its two cases and nothing else (outside ASCII, ``re.IGNORECASE`` also equates ``ſ`` with
``s``, the Kelvin sign with ``k``, ...). Anything the reader does not know (a character class,
a back-reference, a conditional) gives no requirement, so the family is searched as before.

The parse tree is CPython's own (``re._parser``, private: the parser ``re.compile`` runs; there
is no public one). What it buys, measured: ``python benchmarks/bench_safety_cpu.py --questions
150 --repeats 5`` (2026-11-28, a machine shared at load 9, prefilter and literal index on against
off in the same run): the sanitiser 65.1 -> 6.5 ms per novel question (0.11x), the leak filter
3.66 -> 1.23 ms per golden answer and 32.9 -> 10.5 ms per mock answer (0.32x); on a quiet machine
(2026-11-23) 9.32 -> 2.88 ms per question. A Python without that module reads no requirement
from any pattern (``required_literals`` gives None): every family is searched, the same flags,
only slower.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

try:  # CPython 3.11+'s parser of regexes, private: what it buys is in the docstring
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as parser  # type: ignore[attr-defined]
except ImportError:  # a Python without it: no requirement read, every family searched
    parser = None

Requirement = frozenset[str] | None  # None: nothing is required (always search)
_SPACES = re.compile(r"\s+")


class Written(Protocol):
    """A pattern as written: a compiled ``re.Pattern`` or a ``Source``."""

    @property
    def pattern(self) -> str: ...

    @property
    def flags(self) -> int: ...


class Source(NamedTuple):
    """A pattern as written, compiled only where it is searched: the sanitiser's families
    hold these (reading their literals and compiling each family's alternation needs no
    compiled pattern, and a cold process compiled all of them on import)."""

    pattern: str
    flags: int = 0

    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)


def squeeze(text: str) -> str | None:
    """The form :meth:`Prefilter.may_match` reads: ``text`` in lower case with every run of
    white space one space; None for text outside ASCII (searched whatever it holds)."""
    return _SPACES.sub(" ", text.lower()) if text.isascii() else None


# The most frequent English words: a required string made of them alone filters little.
_COMMON = frozenset({
    "a", "an", "the", "and", "or", "but", "if", "then", "so", "of", "to", "in", "on", "at",
    "by", "for", "from", "with", "as", "is", "are", "was", "were", "be", "been", "it", "its",
    "this", "that", "these", "those", "i", "you", "he", "she", "we", "they", "me", "my",
    "your", "his", "her", "our", "their", "what", "which", "who", "when", "where", "why",
    "how", "do", "does", "did", "not", "no", "all", "any", "can", "will", "would", "should",
})


def _chance(text: str) -> float:
    """A rough chance that a line of honest English holds ``text``: white space alone and the
    most frequent words are likely, short pieces sit inside many words; otherwise letters are
    common, spaces more, digits and punctuation rare. It only orders choices that are all
    sound."""
    words = text.split()
    if not words:
        return 1.0
    if all(w in _COMMON for w in words):
        return 0.3
    if len(text.strip()) == 1:
        return 0.9  # one letter ("r" of ``r[eè]gles?``) is in nearly every line
    if len(text.strip()) <= 3:
        return 0.05
    p = 1.0
    for ch in text:
        p *= 0.2 if ch == " " else 0.08 if ch.isalpha() else 0.02
    return p


def _better(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether ``a`` filters better than ``b``: a line is less likely to hold any of it."""
    def chance(strings: frozenset[str]) -> float:
        miss = 1.0
        for s in strings:
            miss *= 1.0 - _chance(s)
        return 1.0 - miss
    return chance(a) < chance(b)


def _best(candidates: Iterable[Requirement]) -> Requirement:
    best: Requirement = None
    for cand in candidates:
        if cand is not None and (best is None or _better(cand, best)):
            best = cand
    return best


@lru_cache(maxsize=4096)
def _matches_ascii(cp: int, flags: int) -> bool:
    """Whether the literal character ``cp`` matches some ASCII character under ``flags``
    (``ſ`` matches ``s`` when case is ignored; a Cyrillic or CJK letter matches none)."""
    one = re.compile(re.escape(chr(cp)), flags)
    return any(one.fullmatch(chr(a)) for a in range(128))


def _node(op: Any, av: Any, flags: int) -> Requirement:
    if op is c.SUBPATTERN:  # (group, flags added, flags removed, body)
        return _sequence(av[3], (flags | av[1]) & ~av[2])
    if op is c.ATOMIC_GROUP:
        return _sequence(av, flags)
    if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
        low, _high, sub = av
        return _sequence(sub, flags) if low >= 1 else None
    if op is c.BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            req = _sequence(branch, flags)
            if req is None:
                return None
            union |= req
        return frozenset(union)
    return None  # AT, ASSERT, ASSERT_NOT, IN, ANY, NOT_LITERAL, GROUPREF, ...: no requirement


def _is_spaces(op: Any, av: Any) -> bool:
    """``\\s+``: one or more white-space characters, one space in the squeezed text."""
    return (op is c.MAX_REPEAT and av[0] >= 1 and len(av[2]) == 1
            and av[2][0] == (c.IN, [(c.CATEGORY, c.CATEGORY_SPACE)]))


def _run(chars: list[str]) -> frozenset[str]:
    return frozenset([_SPACES.sub(" ", "".join(chars))])


def _sequence(nodes: Any, flags: int) -> Requirement:
    """Every node of a sequence matches, so any node's requirement is the sequence's; adjacent
    ASCII literal characters, with white space squeezed to one space, make one string."""
    candidates: list[Requirement] = []
    run: list[str] = []
    for op, av in nodes:
        if op is c.LITERAL and av < 128:
            run.append(chr(av).lower())
            continue
        if op is c.LITERAL and not _matches_ascii(av, flags):
            return frozenset()  # no ASCII text can match the sequence
        if _is_spaces(op, av):
            run.append(" ")
            continue
        if run:
            candidates.append(_run(run))
            run = []
        candidates.append(_node(op, av, flags))
    if run:
        candidates.append(_run(run))
    return _best(candidates)


def required_literals(pattern: Written | str) -> Requirement:
    """Lower-case strings of which every match of ``pattern`` contains one (on ASCII text,
    compared in lower case with white space squeezed), or None when the parse gives none."""
    if parser is None:
        return None  # no parse tree to read: always search
    text, flags = (pattern, 0) if isinstance(pattern, str) else (pattern.pattern, pattern.flags)
    parsed = parser.parse(text, flags)
    return _sequence(parsed, parsed.state.flags)  # with inline global flags such as (?i)


def family_literals(patterns: Iterable[Written]) -> Requirement:
    """The union over a family's patterns (None as soon as one pattern requires nothing)."""
    union: set[str] = set()
    for p in patterns:
        req = required_literals(p)
        if req is None:
            return None
        union |= req
    return frozenset(union)


def literals_key(families: Mapping[str, Sequence[Written]]) -> str:
    """What stored literals were read from: a digest of every family's patterns and flags
    (``re.UNICODE``, which compiling a text pattern adds, left out)."""
    written = [[name, [[p.pattern, p.flags & ~re.UNICODE] for p in patterns]]
               for name, patterns in families.items()]
    return hashlib.sha256(json.dumps(written).encode()).hexdigest()


Stored = tuple[str, Mapping[str, Sequence[str] | None]]  # (literals_key, literals by family)


class Prefilter:
    """Per family, the strings one of which a view must contain to be worth searching (none
    for a family that no ASCII text can match).

    ``stored``: literals read before, with the ``literals_key`` of the patterns they were read
    from; used when the key is that of ``families`` (parsing every pattern again cost a cold
    process about 0.15 s), read anew otherwise."""

    def __init__(self, families: Mapping[str, Sequence[Written]],
                 stored: Stored | None = None) -> None:
        if stored is not None and stored[0] == literals_key(families):
            self.literals: dict[str, Requirement] = {
                name: None if lits is None else frozenset(lits)
                for name, lits in stored[1].items()}
        else:
            self.literals = {name: family_literals(patterns)
                             for name, patterns in families.items()}

    def may_match(self, family: str, squeezed: str | None) -> bool:
        """False only when ``family`` cannot match the text that :func:`squeeze` gave
        ``squeezed`` for."""
        lits = self.literals.get(family)
        return squeezed is None or lits is None or any(s in squeezed for s in lits)
