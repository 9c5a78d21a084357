"""Step 5 of the pipeline: fit the best chunks, with their metadata, into the context budget."""

from __future__ import annotations

from rag_core.tokens import TokenCounter
from rag_core.types import Chunk


def source_header(n: int, chunk: Chunk) -> str:
    """The line that introduces source ``[n]`` in the prompt: title and metadata."""
    meta = chunk.metadata
    parts = [f"[{n}] {meta.get('title') or 'Untitled note'}"]
    for label, key in (("speaker", "speaker"), ("date", "date"), ("series", "series")):
        if meta.get(key):
            parts.append(f"{label}: {meta[key]}")
    scripture = meta.get("scripture") or []
    if scripture:
        parts.append("scripture: " + ", ".join(str(s) for s in scripture))
    tags = meta.get("tags") or []
    if tags:
        parts.append("tags: " + ", ".join(str(t) for t in tags))
    return " | ".join(parts)


def format_source(n: int, chunk: Chunk) -> str:
    return f"{source_header(n, chunk)}\n{chunk.text}"


def select_context(chunks: list[Chunk], counter: TokenCounter, budget: int) -> list[Chunk]:
    """Best chunks first, each whole with its header, while the budget lasts.

    A chunk that does not fit is skipped (a shorter one further down may still fit). If not even
    the best chunk fits, it is cut to the budget so that the answer still has a source.
    """
    selected: list[Chunk] = []
    used = 0
    for chunk in chunks:
        cost = counter.count(format_source(len(selected) + 1, chunk))
        if used + cost <= budget:
            selected.append(chunk)
            used += cost
    if not selected and chunks:
        best = chunks[0]
        room = budget - counter.count(source_header(1, best)) - 1
        text, _ = counter.truncate(best.text, max(room, 1))
        selected.append(Chunk(**{**best.__dict__, "text": text}))
    return selected


def context_tokens(chunks: list[Chunk], counter: TokenCounter) -> int:
    return sum(counter.count(format_source(i, c)) for i, c in enumerate(chunks, start=1))
