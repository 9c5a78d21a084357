"""Step 7 of the pipeline: tidy the generated text, filter leaks, defuse markup, map citations to
chunks.

An answer that echoes the system prompt (``leaks_system_prompt``: verbatim, paraphrased,
translated, encoded or disguised) is replaced whole by ``LEAK_REPLACEMENT``. Markdown images
and links are defused, and markup the model wrote that no retrieved note holds is removed
(``rag_core.safety.markup.defuse_markup``); nothing is HTML-escaped: the answer carries the
note's characters (``<MIME>``, ``a < b``) and whatever renders it as HTML escapes it. Web and
e-mail addresses are dropped unless the question asks for a link (``markup.asks_for_link``): a
link an injected note asked for is how a deployment is made to phish its own users.

A whole answer goes through ``finish``. A streamed answer goes through ``OutputGuard``, which
applies the very same function to what has arrived so far and lets out only text that passed
it, holding back the last ``holdback`` characters (an echo of the instructions can only be
recognised once enough of it has arrived).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rag_core.llm.prompt import leaks_system_prompt
from rag_core.safety.markup import asks_for_link, defuse_markup, drop_links
from rag_core.types import Chunk, Citation

LEAK_REPLACEMENT = (
    "I can't share my instructions, but I'm glad to answer questions about your notes."
)
_CITE = re.compile(r"\[(\d{1,3})\]")
_BLANKS = re.compile(r"\n{3,}")
_SPACES = re.compile(r"[ \t]+")


def tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").strip()
    text = _SPACES.sub(" ", text)
    return _BLANKS.sub("\n\n", text)


def map_citations(text: str, sources: list[Chunk]) -> tuple[str, list[Citation]]:
    """Keep ``[n]`` that name a retrieved source; drop the others from the text.

    Every returned citation is one of ``sources``: a model cannot cite what was not retrieved.
    """
    citations: dict[int, Citation] = {}

    def keep(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if 1 <= n <= len(sources):
            chunk = sources[n - 1]
            citations.setdefault(n, Citation(n=n, chunk_id=chunk.chunk_id, note_id=chunk.note_id,
                                             title=chunk.title, score=round(chunk.score, 4)))
            return match.group(0)
        return ""

    cleaned = _CITE.sub(keep, text)
    cleaned = re.sub(r" +([.,;:!?])", r"\1", cleaned)
    return cleaned, [citations[n] for n in sorted(citations)]


@dataclass(frozen=True)
class Finished:
    text: str
    citations: list[Citation] = field(default_factory=list)
    leaked: bool = False


def finish(text: str, sources: list[Chunk], question: str | None = None) -> Finished:
    """The answer as it may leave: tidy, no echo of the instructions, only real citations, and
    no web address that ``question`` did not ask for (``None``: no question to judge by, as
    for a library caller formatting text; the pipeline always passes it)."""
    text = tidy(text)
    if leaks_system_prompt(text, [c.text for c in sources]):
        return Finished(LEAK_REPLACEMENT, [], leaked=True)
    return render(text, sources, question)


def render(text: str, sources: list[Chunk], question: str | None = None) -> Finished:
    """``finish`` after its leak check: markup no source holds removed, links the question did
    not ask for dropped, citations mapped (``text`` already tidy)."""
    text = defuse_markup(text, [c.text for c in sources])
    if question is not None and not asks_for_link(question):
        text = drop_links(text)
    cleaned, citations = map_citations(text, sources)
    return Finished(cleaned, citations)


def finish_text(text: str, sources: list[Chunk],
                question: str | None = None) -> tuple[str, list[Citation]]:
    done = finish(text, sources, question)
    return done.text, done.citations


class OutputGuard:
    """Step 7 for a stream: ``feed`` each piece as it arrives and send on what it returns;
    ``close`` gives the final answer and the last text to send.

    What leaves is always a prefix of ``finish`` applied to the text so far, cut at a blank and
    ``holdback`` characters short of the end, so that every delta passed the same checks as the
    whole answer. The checks read the whole text, so after the first text has gone out they run
    once ``step`` more characters have arrived, not at every piece (a token at a time made a
    600-character answer cost a second of CPU). Once an echo of the instructions is seen nothing
    more leaves, and the final answer is the replacement.
    """

    def __init__(self, sources: list[Chunk], holdback: int, question: str | None = None, *,
                 step: int = 40) -> None:
        self.sources = sources
        self.question = question
        self.holdback = holdback
        self.step = step  # characters of new text between two checks
        self.raw = ""
        self.sent = ""
        self.leaked = False
        self._checked = 0  # where the text that was last checked ended
        self._passed = ""  # the last raw text that passed the leak check

    def feed(self, piece: str) -> str:
        self.raw += piece
        if self.leaked:
            return ""
        cut = max(self.raw.rfind(" ", 0, max(0, len(self.raw) - self.holdback) + 1), 0)
        if cut <= self._checked or (self.sent and cut - self._checked < self.step):
            return ""  # nothing new, or too little to be worth a check (each reads it all);
            # the first text goes out as soon as there is any: time to first token
        self._checked = cut
        return self._advance(self.raw[:cut])

    def close(self) -> tuple[Finished, str]:
        # a text that already passed the leak check (an answer fed in one piece) is not read again
        done = render(tidy(self.raw), self.sources, self.question) \
            if self.raw and self.raw == self._passed else finish(self.raw, self.sources,
                                                                  self.question)
        if done.leaked:
            self.leaked = True
            return done, ""
        rest = done.text[len(self.sent):] if done.text.startswith(self.sent) else ""
        self.sent += rest
        return done, rest

    def _advance(self, prefix: str) -> str:
        if finish(self.raw, self.sources, self.question).leaked:
            self.leaked = True
            return ""
        self._passed = self.raw
        # the whole text so far passed the leak check: its prefix needs the rest of step 7 only
        text = render(tidy(prefix), self.sources, self.question).text if prefix else ""
        if not text.startswith(self.sent) or len(text) <= len(self.sent):
            return ""  # wait: the text so far renders differently than what was sent
        new = text[len(self.sent):]
        self.sent = text
        return new
