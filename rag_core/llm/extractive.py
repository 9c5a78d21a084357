"""The offline generator: answers with the best sentences of the retrieved notes, cited.

Deterministic, no model, no network. It says in its answer that it is extractive, so nobody
mistakes it for a language model's summary.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rag_core.llm.base import Generation, Prompt
from rag_core.tokens import TokenCounter, default_counter
from rag_core.types import TokenUsage

PREFIX = "From your notes (extractive answer, no language model):"
NOTHING = "Your notes don't seem to cover this."

_SENTENCE = re.compile(r"[^.!?]+[.!?]+[\"')\]]*|[^.!?]+$")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = set("""a an and are as at be but by did do does for from had has have he her his how i
in is it its me my of on or our she so that the their them they this to was we were what when
where which who why will with you your about say said says tell notes note sermon sermons
preached preach speaker pastor there these those than then into also can could would should
""".split())


def _stem(word: str) -> str:
    for suffix in ("ings", "ing", "ness", "ies", "es", "ed", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    return {_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


class ExtractiveGenerator:
    name = "extractive"

    def __init__(self, counter: TokenCounter | None = None, max_sentences: int = 3) -> None:
        self.counter = counter or default_counter()
        self.max_sentences = max_sentences

    def generate(self, prompt: Prompt) -> Generation:
        text = self._answer(prompt)
        usage = TokenUsage(
            input_tokens=sum(self.counter.count(m["content"]) for m in prompt.messages),
            output_tokens=self.counter.count(text),
        )
        return Generation(text=text, usage=usage, model="extractive")

    def stream(self, prompt: Prompt) -> Iterator[str]:
        text = self.generate(prompt).text
        for piece in re.findall(r"\S+\s*", text):
            yield piece

    def _answer(self, prompt: Prompt) -> str:
        if not prompt.chunks:
            return NOTHING
        wanted = content_words(prompt.question)
        scored: list[tuple[float, int, int, str]] = []
        for n, chunk in enumerate(prompt.chunks, start=1):
            for pos, sentence in enumerate(_SENTENCE.findall(chunk.text)):
                sentence = sentence.strip()
                if len(sentence) < 20:
                    continue
                words = content_words(sentence)
                overlap = len(wanted & words)
                score = overlap / (1 + len(wanted)) + 0.15 / n + 0.02 / (1 + pos)
                scored.append((score, n, pos, sentence))
        if not scored:
            return NOTHING
        scored.sort(key=lambda s: (-s[0], s[1], s[2]))
        budget = prompt.max_tokens - self.counter.count(PREFIX) - 2
        picked: list[tuple[int, int, str]] = []
        used = 0
        for _, n, pos, sentence in scored[: self.max_sentences * 3]:
            piece = f"{sentence} [{n}]"
            cost = self.counter.count(piece) + 1
            if used + cost > budget:
                continue
            picked.append((n, pos, piece))
            used += cost
            if len(picked) >= self.max_sentences:
                break
        if not picked:
            n, _, sentence = scored[0][1], 0, scored[0][3]
            cut, _ = self.counter.truncate(sentence, max(budget - 4, 1))
            picked = [(n, 0, f"{cut} [{n}]")]
        picked.sort()
        return PREFIX + " " + " ".join(p for _, _, p in picked)
