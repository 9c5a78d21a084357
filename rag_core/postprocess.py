"""Step 7 of the pipeline: tidy the generated text, filter leaks, escape markup, map citations to
chunks.

An answer that echoes the system prompt (``leaks_system_prompt``: verbatim, paraphrased,
translated, encoded or disguised) is replaced whole by ``LEAK_REPLACEMENT``. Markdown images
and links are defused and HTML tags escaped (``rag_core.safety.markup.escape_markup``), so the
answer is safe text for any client.
"""

from __future__ import annotations

import re

from rag_core.llm.prompt import leaks_system_prompt
from rag_core.safety.markup import escape_markup
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


def finish_text(text: str, sources: list[Chunk]) -> tuple[str, list[Citation]]:
    text = tidy(text)
    if leaks_system_prompt(text):
        return LEAK_REPLACEMENT, []
    return map_citations(escape_markup(text), sources)
