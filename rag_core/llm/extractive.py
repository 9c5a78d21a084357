"""The offline generator: answers with the best sentences of the retrieved notes, cited.

Deterministic, no model, no network. Every answer starts with :data:`PREFIX`, which says that
it is an extractive summary, so nobody mistakes it for a language model's answer.

How it picks: the prompt's chunks are split into sentences (Markdown list items and hard-wrapped
lines handled); each sentence is scored by the question's content words it shares (lowercased,
stop words removed, crude stemming, each word weighted by how rare it is among the candidate
sentences), plus a small bonus for the chunk's rank and the sentence's position. For questions
about who / when / which series, each chunk's metadata line (title, speaker, date, series,
scripture) is a candidate too. The best 2 to 4 sentences that fit the output budget are kept,
put back in reading order, and each is followed by ``[n]``, the chunk's number in the prompt.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

from rag_core.llm.base import DECLINE, Generation, Prompt
from rag_core.text.sentences import split_sentences
from rag_core.tokens import TokenCounter, default_counter
from rag_core.types import Chunk, TokenUsage, listed

PREFIX = "From your notes (extractive summary, no language model):"
NOTHING = DECLINE  # no sentence to pick: the prompt's decline marker

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(re.findall(r"\S+", """
a about after again all also am an and any are as at be been before being but by can could did
do does doing for from had has have he her here hers him his how i if in into is it its just me
more most my no nor not of on once only or other our ours out over own same she should so some
such than that the their theirs them then there these they this those through to too under until
up very was we were what when where which while who whom why will with would you your yours
yourself tell say said says notes note sermon sermons talk message according mention mentioned
"""))
# A question about who / when / which sermon: the chunks' metadata lines become candidates.
_META_CUE = re.compile(r"^\W*(who|when|which)\b|\b(and|or|but) (who|when|which)\b|"
                       r"\b(preach\w*|spoke|speaker|series|date|what year|which year)\b",
                       re.IGNORECASE)
_BRACKET_NUMBER = re.compile(r"\[(\d{1,3})\]")
_MIN_CHARS = 20
_MIN_SENTENCES, _MAX_SENTENCES = 2, 4
_EXTRA_RATIO = 0.6  # a 3rd or 4th sentence must score at least this share of the best


def _stem(word: str) -> str:
    for suffix in ("ings", "ing", "ness", "ies", "es", "ed", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=8192)
def content_words(text: str) -> frozenset[str]:
    """Lowercased, stemmed words of ``text`` without stop words (memoised: a note's sentences
    are read again for every answer made from them)."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower())
                     if w not in _STOP and len(w) > 1)


def _human_date(value: object) -> str:
    try:
        day = date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return f"{day:%B} {day.day}, {day.year}"


def metadata_sentence(chunk: Chunk) -> str | None:
    """The chunk's metadata as one sentence, e.g. '"Title" by X, March 3, 2024, in the series
    Y, on Z.'"""
    meta = chunk.metadata
    title = str(meta.get("title") or "").strip()
    if not title:
        return None
    parts = [f'"{title}"']
    if meta.get("speaker"):
        parts.append(f"by {meta['speaker']}")
    text = " ".join(parts)
    if meta.get("date"):
        text += f", {_human_date(meta['date'])}"
    if meta.get("series"):
        text += f", in the series {meta['series']}"
    scripture = [str(s) for s in listed(meta.get("scripture"))]
    if scripture:
        text += ", on " + ", ".join(scripture)
    return text + "."


@dataclass(frozen=True)
class _Candidate:
    n: int  # the chunk's number in the prompt
    pos: int  # the sentence's position in the chunk (-1: the metadata line)
    text: str
    words: frozenset[str]


class ExtractiveGenerator:
    name = "extractive"
    model = "extractive"  # no provider's model: the answer's ``model`` names the generator

    def __init__(self, counter: TokenCounter | None = None) -> None:
        self.counter = counter or default_counter()

    def generate(self, prompt: Prompt) -> Generation:
        text = self.answer(prompt)
        usage = TokenUsage(
            input_tokens=self.counter.count_messages(prompt.messages),
            output_tokens=self.counter.count(text),
        )
        return Generation(text=text, usage=usage, model="extractive",
                          usage_source="counted")  # in process: our own count

    def stream(self, prompt: Prompt) -> Iterator[str]:
        yield from re.findall(r"\S+\s*", self.answer(prompt))

    def answer(self, prompt: Prompt) -> str:
        candidates = self._candidates(prompt)
        if not candidates:
            return self._fit(NOTHING, prompt.max_tokens)
        ranked = self._rank(prompt.question, candidates)
        picked = self._pick(ranked)
        return self._render(picked, prompt.max_tokens)

    # --- steps ------------------------------------------------------------------------------

    def _candidates(self, prompt: Prompt) -> list[_Candidate]:
        cued = bool(_META_CUE.search(prompt.question))
        seen: set[str] = set()
        out: list[_Candidate] = []
        for n, chunk in enumerate(prompt.chunks, start=1):
            texts = [(pos, s) for pos, s in enumerate(split_sentences(chunk.text))]
            meta = metadata_sentence(chunk) if cued else None
            if meta:
                texts.insert(0, (-1, meta))
            for pos, sentence in texts:
                key = " ".join(_WORD.findall(sentence.lower()))
                if len(sentence) < _MIN_CHARS or key in seen:
                    continue  # fragments, and sentences repeated by overlapping chunks
                seen.add(key)
                # a "[7]" in a note would read as a citation: only ours may look like one
                sentence = _BRACKET_NUMBER.sub(r"(\1)", sentence)
                out.append(_Candidate(n, pos, sentence, content_words(sentence)))
        return out

    def _rank(self, question: str, candidates: list[_Candidate]
              ) -> list[tuple[float, _Candidate]]:
        wanted = content_words(question)
        total = len(candidates)
        df = {w: sum(1 for c in candidates if w in c.words) for w in wanted}
        idf = {w: math.log(1 + total / df[w]) if df[w] else math.log(1 + total) for w in wanted}
        norm = sum(idf.values()) or 1.0
        scored = []
        for c in candidates:
            overlap = sum(idf[w] for w in wanted & c.words) / norm
            bonus = 0.08 / c.n + 0.02 / (2 + c.pos)
            scored.append((overlap + bonus, c))
        scored.sort(key=lambda item: (-item[0], item[1].n, item[1].pos))
        return scored

    @staticmethod
    def _pick(ranked: list[tuple[float, _Candidate]]) -> list[tuple[float, _Candidate]]:
        best = ranked[0][0]
        picked = ranked[:_MIN_SENTENCES]
        for score, cand in ranked[_MIN_SENTENCES:_MAX_SENTENCES]:
            if score >= _EXTRA_RATIO * best:
                picked.append((score, cand))
        return picked

    def _render(self, picked: list[tuple[float, _Candidate]], max_tokens: int) -> str:
        """Reading order, each sentence cited; the weakest dropped until the budget holds."""
        picked = list(picked)
        while True:
            ordered = sorted((c for _, c in picked), key=lambda c: (c.n, c.pos))
            text = " ".join([PREFIX] + [f"{c.text} [{c.n}]" for c in ordered])
            if self.counter.count(text) <= max_tokens or len(picked) == 1:
                break
            picked.pop()  # sorted best first: the last is the weakest
        if self.counter.count(text) <= max_tokens:
            return text
        only = picked[0][1]
        tail = f" [{only.n}]"
        room = max_tokens - self.counter.count(f"{PREFIX} ... {tail}")
        if room < 1:
            return self._fit(text, max_tokens)
        cut, _ = self.counter.truncate(only.text, room)
        return self._fit(f"{PREFIX} {cut} ...{tail}", max_tokens)

    def _fit(self, text: str, max_tokens: int) -> str:
        return self.counter.truncate(text, max_tokens)[0]
