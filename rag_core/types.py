"""Plain data types that flow between the pipeline steps: the ground floor, importing nothing
of ``rag_core`` (the answer they make up is ``rag_core.answer.Answer``; the decisions it carries,
``rag_core.decision_records``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

JsonObject = dict[str, object]  # a record as JSON: what ``json.dumps`` writes
CacheOutcome = Literal["hit", "miss", "semantic_hit", "off", "error"]
# how a note is cut into chunks (``RAG_CHUNKING``, ``ingest.chunking``)
ChunkingMethod = Literal["heading", "sentences", "window"]



def listed(value: object) -> list[object]:
    """A JSON value that holds a list (a note's ``tags`` or ``scripture`` in a chunk's
    metadata), its items as they are; anything else (absent: None) holds none."""
    return list(value) if isinstance(value, list | tuple) else []


@dataclass(frozen=True)
class Note:
    """One note as a user wrote it."""

    id: str
    title: str
    body: str
    date: str | None = None
    speaker: str | None = None
    series: str | None = None
    tags: tuple[str, ...] = ()
    scripture: tuple[str, ...] = ()

    def metadata(self) -> JsonObject:
        return {
            "title": self.title,
            "date": self.date,
            "speaker": self.speaker,
            "series": self.series,
            "tags": list(self.tags),
            "scripture": list(self.scripture),
        }


@dataclass(frozen=True)
class Chunk:
    """A piece of a note as stored and retrieved."""

    chunk_id: str
    note_id: str
    user_id: str
    ordinal: int
    text: str
    metadata: JsonObject = field(default_factory=dict)
    score: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None
    fused_score: float | None = None
    lexical_score: float | None = None
    matched_terms: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return str(self.metadata.get("title") or "")


@dataclass(frozen=True)
class Query:
    """A validated, sanitised question of one user."""

    user_id: str
    text: str
    original: str
    truncated: bool
    # counts the tokens of a text (``TokenCounter.count``): ``tokens`` asks it when first read,
    # so a question answered from the cache need not load the tokenizer
    counter: Callable[[str], int] = field(repr=False, compare=False)
    flags: tuple[str, ...] = ()

    @cached_property
    def tokens(self) -> int:
        return self.counter(self.text)


@dataclass
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class Citation:
    n: int
    chunk_id: str
    note_id: str
    title: str
    score: float


@dataclass(frozen=True)
class RetrievedRow:
    """One retrieved chunk as an answer lists it (``Answer.retrieved``): its ranks in each
    search and the fused score (None where a search did not find it)."""

    chunk_id: str
    note_id: str
    title: str
    score: float
    dense_rank: int | None = None
    lexical_rank: int | None = None
    fused_score: float | None = None


@dataclass(frozen=True)
class AnswerDebug:
    """What one freshly computed answer was built from, for the evaluation harness.

    Never part of ``Answer.to_dict`` (so not in ``ask --json``, the API or a cached answer).
    ``retrieved_texts``: chunk id -> text of the retrieved chunks, in rank order.
    ``packed_chunk_ids`` / ``packed_texts``: the chunks the context budget kept, in the order
    they were sent (a best chunk cut to fit carries its cut text). ``context_tokens``: the
    tokens of the rendered note blocks that were sent (with or without the note guard, as the
    pipeline ran). ``context_sent``: False when no model was called (a refusal or a no-context
    answer): nothing was packed, and the packed fields are empty.
    """

    retrieved_texts: dict[str, str] = field(default_factory=dict)
    packed_chunk_ids: tuple[str, ...] = ()
    packed_texts: tuple[str, ...] = ()
    context_tokens: int = 0
    context_sent: bool = False
