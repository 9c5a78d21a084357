"""Step 5 of the pipeline: fit the best chunks, with their metadata, into the context budget.

``render_source`` is the one rendering of a source: both the budget here and the prompt
(``rag_core.llm.prompt``) use it, so the budget counts exactly the text the model is sent.
Note text and metadata are neutralised on the way (``rag_core.safety.markup``): special tokens
removed, our delimiter tags defused, role lines and forged ``[n]`` headers quoted, metadata on
one line.
"""

from __future__ import annotations

from rag_core.safety.markup import note_field, note_text
from rag_core.tokens import TokenCounter
from rag_core.types import Chunk


def source_header(n: int, chunk: Chunk) -> str:
    """The line that introduces source ``[n]`` in the prompt: title and metadata, one line."""
    meta = chunk.metadata
    parts = [f"[{n}] {note_field(meta.get('title') or 'Untitled note') or 'Untitled note'}"]
    for label, key in (("speaker", "speaker"), ("date", "date"), ("series", "series")):
        if meta.get(key):
            parts.append(f"{label}: {note_field(meta[key])}")
    scripture = meta.get("scripture") or []
    if scripture:
        parts.append("scripture: " + ", ".join(note_field(s) for s in scripture))
    tags = meta.get("tags") or []
    if tags:
        parts.append("tags: " + ", ".join(note_field(t) for t in tags))
    return " | ".join(parts)


def render_source(n: int, chunk: Chunk) -> str:
    """Source ``[n]`` exactly as the prompt shows it: ``<note n="n">``, the header line, the
    neutralised text, ``</note>``."""
    return f'<note n="{n}">\n{source_header(n, chunk)}\n{note_text(chunk.text).strip()}\n</note>'


def format_source(n: int, chunk: Chunk) -> str:  # the name callers knew; one rendering
    return render_source(n, chunk)


def select_context(chunks: list[Chunk], counter: TokenCounter, budget: int) -> list[Chunk]:
    """Best chunks first, each whole with its header, while the budget lasts (counted on the
    rendered sources, joined as the prompt joins them).

    A chunk that does not fit is skipped (a shorter one further down may still fit). If not even
    the best chunk fits, it is cut to the budget so that the answer still has a source.
    """
    selected: list[Chunk] = []
    for chunk in chunks:
        if context_tokens([*selected, chunk], counter) <= budget:
            selected.append(chunk)
    if not selected and chunks:
        best = chunks[0]
        room = budget - context_tokens([Chunk(**{**best.__dict__, "text": ""})], counter)
        text = note_text(best.text)
        while room > 0:
            text, _ = counter.truncate(text, room)
            cut = Chunk(**{**best.__dict__, "text": text})
            if context_tokens([cut], counter) <= budget:
                return [cut]
            room -= 1
        return [Chunk(**{**best.__dict__, "text": ""})]
    return selected


def context_tokens(chunks: list[Chunk], counter: TokenCounter) -> int:
    """Tokens of the sources exactly as the prompt renders them (joined by line breaks)."""
    if not chunks:
        return 0
    return counter.count("\n".join(render_source(i, c) for i, c in enumerate(chunks, start=1)))
