"""Step 5 of the pipeline: fit the best chunks, with their metadata, into the context budget.

The budget counts the very text the model is sent: each source rendered once by
``prompt.format_note_block``, and those rendered blocks are what the prompt carries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag_core.llm.prompt import format_note_block
from rag_core.tokens import TokenCounter
from rag_core.types import Chunk


@dataclass(frozen=True)
class Context:
    """The chunks that fit, the blocks they were rendered to, and what those cost in tokens."""

    chunks: list[Chunk] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    tokens: int = 0


def select_context(chunks: list[Chunk], counter: TokenCounter, budget: int, *,
                   guard: bool = True) -> Context:
    """Best chunks first, each whole with its metadata, while the budget lasts.

    A chunk that does not fit is skipped (a shorter one further down may still fit). If not even
    the best chunk fits, its text is cut so that its block fits, so that the answer still has a
    source. ``guard``: planted instructions left out of the blocks (``format_note_block``).
    """
    selected: list[Chunk] = []
    blocks: list[str] = []
    used = 0
    for chunk in chunks:
        block = format_note_block(len(selected) + 1, chunk, guard=guard)
        cost = counter.count(block)
        if used + cost <= budget:
            selected.append(chunk)
            blocks.append(block)
            used += cost
    if not selected and chunks:
        best = chunks[0]
        room = budget - counter.count(format_note_block(1, _with_text(best, ""), guard=guard))
        for _ in range(8):  # token counts of joined text are nearly, not exactly, additive
            text, _ = counter.truncate(best.text, max(room, 1))
            cut = _with_text(best, text)
            block = format_note_block(1, cut, guard=guard)
            tokens = counter.count(block)
            if tokens <= budget or room <= 1:
                break
            room -= tokens - budget
        return Context([cut], [block], tokens)
    return Context(selected, blocks, used)


def _with_text(chunk: Chunk, text: str) -> Chunk:
    return Chunk(**{**chunk.__dict__, "text": text})
