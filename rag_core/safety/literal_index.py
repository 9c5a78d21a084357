"""Which patterns of each family a view is worth searching with, read in one pass over it.

``prefilter.Prefilter`` answers per family, one substring test per literal (a few hundred
Python-level tests per view), and a family that passes is searched with the alternation of all
its patterns. ``LiteralIndex`` reads the same literals (``prefilter.required_literals``) per
*pattern*, and finds every literal a view holds with one regex search built as a trie of all of
them; a family is then searched only with the patterns whose literals the view holds (or that
require none).

Why the answer is the same: a pattern's literals are strings one of which every match
contains (sound, see ``prefilter``), so a pattern skipped here cannot match the view; the
alternation of a family's patterns matches a text exactly when one of its patterns, compiled
the same way (the same wrapping and flags as ``sanitiser._combined``), matches it somewhere.

Finding the literals: the trie's alternation tries longer continuations before ending a
literal, so at each position of the squeezed view the match is the longest literal that starts
there, and every other literal that starts there is a prefix of it. Each literal is therefore
read as itself and all its prefixes that are literals too; a lookahead at every position reports
each start. The trie holds the families' literals, which are the union of their patterns'
(``prefilter.family_literals``). Only ASCII views are read (``prefilter.squeeze`` gives None
otherwise, and the caller searches everything, as before).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rag_core.safety.prefilter import Requirement, Written, required_literals


def wrapped(pattern: Written) -> str:
    """``pattern`` as one alternative of its family's alternation (``sanitiser._combined``)."""
    text = pattern.pattern
    return f"(?s:{text[4:]})" if text.startswith("(?s)") else f"(?:{text})"


class _Trie(dict[str, "_Trie"]):
    """A character trie: a child per next character, the key "" where a word ends."""


def _branches(node: _Trie) -> str:
    ends = "" in node
    branches = [re.escape(ch) + _branches(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = "|".join(branches)
    if ends:
        return f"(?:{body}|)"  # a longer word first: the empty alternative only when none goes on
    return body if len(branches) == 1 else f"(?:{body})"


def _trie_pattern(words: Sequence[str]) -> str:
    """A regex matching the longest of ``words`` at a position: nested alternations of a
    character trie, continuations before the end of a word."""
    trie = _Trie()
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, _Trie())
        node[""] = _Trie()
    return _branches(trie)


class LiteralIndex:
    """The literals of ``families`` (``literals``: per family, as ``prefilter.Prefilter``
    holds them) found in one pass, and per family the patterns worth searching. The trie is
    compiled on first use, and a family's patterns are read (``required_literals``) and
    compiled one by one the first time a view holds one of its literals: a cold process that
    checks an honest question pays only for the families it comes near."""

    def __init__(self, families: Mapping[str, Sequence[Written]],
                 literals: Mapping[str, Requirement]) -> None:
        self._families = families
        self._literals = dict(literals)
        self._finder: re.Pattern[str] | None = None
        self._prefixes: dict[str, frozenset[str]] = {}
        self._requirements: dict[str, list[Requirement]] = {}
        self._compiled: dict[tuple[str, int], re.Pattern[str]] = {}

    def _build(self) -> re.Pattern[str]:
        words = sorted({s for lits in self._literals.values() if lits for s in lits})
        known = set(words)
        # each word with the words that are prefixes of it (all start where it starts)
        self._prefixes = {w: frozenset(w[:i] for i in range(1, len(w) + 1) if w[:i] in known)
                          for w in words}
        self._finder = re.compile(f"(?=({_trie_pattern(words)}))" if words else "(?!)")
        return self._finder

    def present(self, squeezed: str) -> frozenset[str]:
        """Every literal that the squeezed ASCII view holds (``prefilter.squeeze``)."""
        finder = self._finder or self._build()
        found: set[str] = set()
        for start in {m.group(1) for m in finder.finditer(squeezed)}:
            found |= self._prefixes[start]
        return frozenset(found)

    def searches(self, family: str, present: frozenset[str]) -> list[re.Pattern[str]] | None:
        """The patterns of ``family`` that a view holding the literals ``present`` may match,
        each compiled as its alternative in the family's alternation; None when that is all of
        them (the alternation is then one search)."""
        lits = self._literals.get(family)
        if lits is not None and not lits & present:
            return []
        if family not in self._requirements:
            self._requirements[family] = [required_literals(p) for p in self._families[family]]
        chosen = [i for i, req in enumerate(self._requirements[family])
                  if req is None or req & present]
        if len(chosen) == len(self._requirements[family]):
            return None
        return [self._pattern(family, i) for i in chosen]

    def _pattern(self, family: str, i: int) -> re.Pattern[str]:
        if (family, i) not in self._compiled:
            patterns = self._families[family]
            # the alternation's flags, as ``sanitiser._combined`` gives them
            self._compiled[family, i] = re.compile(wrapped(patterns[i]), patterns[0].flags)
        return self._compiled[family, i]
