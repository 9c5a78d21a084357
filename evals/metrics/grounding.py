"""Groundedness: the share of an answer's sentences that a chunk they cite supports.

An answer is cut into sentences; citation markers that open a sentence (``Text. [1] Next``)
belong to the sentence before, as extractive answers write them. A sentence is **supported**
when at least ``SUPPORT_SHARE`` of its content words (three letters or more, not a stop word,
not a number inside a citation) occur in the text of a chunk it cites. A sentence without a
citation is unsupported; a fragment with no content words is not counted. Groundedness is
supported / counted, None for an answer with nothing to count.

Word overlap is a floor, not a judge: a paraphrase with other words scores low and a
sentence that recombines cited words wrongly scores high. It is cheap, deterministic and
needs no model, so it can run on every answer of every generator; the LLM judge
(``evals.metrics.llm_judge``) is the semantic complement when a strong model is at hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

SUPPORT_SHARE = 0.6
_CITE = re.compile(r"\[(\d{1,3})\]")
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_LEADING_CITES = re.compile(r"^((?:\s*\[\d{1,3}\])+)\s*")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# scikit-learn's English stop words (installed with sentence-transformers), plus the words
# answers use to introduce a citation.
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS) | {"according", "notes", "note", "said", "says"}


@dataclass(frozen=True)
class Sentence:
    text: str
    cites: tuple[int, ...]


def sentences(answer: str) -> list[Sentence]:
    """The answer's sentences with the citation numbers each carries."""
    parts = [p.strip() for p in _SPLIT.split(answer) if p and p.strip()]
    merged: list[str] = []
    for part in parts:
        lead = _LEADING_CITES.match(part)
        if lead and merged:
            merged[-1] += " " + lead.group(1).strip()
            part = part[lead.end():].strip()
        if part:
            merged.append(part)
    return [Sentence(s, tuple(int(n) for n in _CITE.findall(s))) for s in merged]


def content_words(text: str) -> list[str]:
    plain = _CITE.sub(" ", text.lower().replace("\u2019", "'"))
    return [w for w in _WORD.findall(plain) if len(w) >= 3 and w not in STOP_WORDS]


def supported(sentence: Sentence, cited_texts: Mapping[int, str],
              share: float = SUPPORT_SHARE) -> bool:
    """Does one of the chunks the sentence cites hold enough of its content words?"""
    wanted = content_words(sentence.text)
    if not wanted:
        return False
    for n in sentence.cites:
        source = cited_texts.get(n)
        if not source:
            continue
        have = set(_WORD.findall(source.lower().replace("\u2019", "'")))
        if sum(w in have for w in wanted) / len(wanted) >= share:
            return True
    return False


def groundedness(answer: str, cited_texts: Mapping[int, str],
                 share: float = SUPPORT_SHARE) -> float | None:
    """Share of the answer's countable sentences that their cited chunks support.

    ``cited_texts`` maps a citation number ``n`` of the answer to the text of the chunk it
    names (the post-processed answer keeps only numbers of retrieved chunks)."""
    counted = [s for s in sentences(answer) if content_words(s.text)]
    if not counted:
        return None
    return sum(supported(s, cited_texts, share) for s in counted) / len(counted)
