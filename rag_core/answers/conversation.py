"""A question asked in a conversation: before the steps, the follow-up made to stand alone from
the user's earlier turns; after them, the turn kept and the answer told which conversation it
belongs to. Every step between (cache key, search, no-context decision, prompt, citations)
works on the standalone question alone: the history serves only the rewrite, so a cached answer
is right for every conversation that reaches the same standalone question.

``begin`` and ``finish`` run in a worker thread around ``Pipeline.ask`` or ``stream`` (the
route's place in flight is taken before ``begin``: a follow-up is never an exact hit before its
rewrite). With a model configured the model rewrites a follow-up (``answers.model_rewrite``);
without one, or as its fallback, the parts' rewriter (``Parts.rewriter``: the rules), and
without that the question as asked (``made_by: unchanged``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from rag_core.answer import Answer
from rag_core.answers.model_rewrite import ModelRewriter
from rag_core.cache.control import NO_CONTROL, CacheControl
from rag_core.conversations.store import NEW, check_id, new_id
from rag_core.conversations.turns import CitedNote, Rewriter, Standalone, Turn
from rag_core.decision_records import StandaloneRecord
from rag_core.errors import ConversationNotFound
from rag_core.parts import Parts
from rag_core.safety.guard import validate_query
from rag_core.store.base import Store
from rag_core.store.filters import NO_FILTERS, Filters
from rag_core.types import Note, TokenUsage


class Asks(Protocol):
    """What ``ask_in_conversation`` needs of ``rag_core.pipeline.Pipeline``."""

    parts: Parts

    def ask(self, user_id: str, question: object, *, top_k: int | None = None,
            request_id: str | None = None, filters: Filters = NO_FILTERS,
            control: CacheControl = NO_CONTROL) -> Answer: ...


def unchanged(question: str, history: Sequence[Turn]) -> Standalone:
    """The rewriter of last resort: the question as asked."""
    why = "a first question" if not history else "no rewriter configured: taken as asked"
    return Standalone(question, "unchanged", why)


@dataclass(frozen=True)
class Follow:
    """A conversation's question before the steps: its id, the live history, the standalone
    question."""

    conversation_id: str
    history: tuple[Turn, ...]
    standalone: Standalone
    # the model rewrite's call, counted in the answer's usage and cost (zero: no call)
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float = 0.0


def _notes(notes: Store, user_id: str, ids: set[str]) -> dict[str, Note]:
    """The notes of ``ids`` the user still has in ``notes``."""
    found = {}
    for note_id in sorted(ids):
        note = notes.get_note(user_id, note_id)
        if note is not None:
            found[note_id] = note
    return found


def live_history(notes: Store, user_id: str, turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """The turns with only the cited notes the user still has in ``notes``: a follow-up never
    refers to a note that was deleted since."""
    kept = _notes(notes, user_id, {c.note_id for t in turns for c in t.citations})
    return tuple(replace(t, citations=tuple(c for c in t.citations if c.note_id in kept))
                 for t in turns)


def begin(parts: Parts, user_id: str, question: object, conversation_id: str, *,
          rewriter: Rewriter | None = None) -> Follow:
    """The conversation (a new id for ``new``; 404 ``CONVERSATION_NOT_FOUND`` for one the user
    holds none of, 422 for a malformed one), the question checked as any question is, then made
    to stand alone from the history (a first question stands alone as asked)."""
    check_id(conversation_id)
    store = parts.conversations
    history: tuple[Turn, ...] = ()
    if conversation_id == NEW:
        cid = new_id()
    elif store is None:
        raise ConversationNotFound()
    else:
        cid = conversation_id
        history = live_history(parts.store, user_id, store.turns(user_id, cid))
    query = validate_query(user_id, question, parts.counter, parts.settings,
                           sanitiser=parts.sanitiser)
    if not history:
        return Follow(cid, history, unchanged(query.original, ()))
    if not query.text.strip():  # nothing left once unsafe text is removed: the steps refuse it
        return Follow(cid, history, Standalone(query.original, "unchanged", "refused as asked"))
    model = ModelRewriter(parts, user_id, rewriter or parts.rewriter or unchanged)
    standalone = model(query.text, history)
    return Follow(cid, history, standalone, model.usage, model.cost)


def cited(store: Store, user_id: str, answer: Answer) -> tuple[CitedNote, ...]:
    """The notes the answer cited that ``store`` still holds, once each, with the front
    matter a follow-up may name."""
    order = list(dict.fromkeys(c.note_id for c in answer.citations))
    notes = _notes(store, user_id, set(order))
    return tuple(CitedNote(n, notes[n].title, {k: v for k, v in notes[n].metadata().items()
                                               if v not in (None, "", [], ())})
                 for n in order if n in notes)


def refused(answer: Answer) -> bool:
    return answer.no_context_reason.startswith("refused")


def finish(parts: Parts, user_id: str, question: str, follow: Follow, answer: Answer) -> Answer:
    """The turn kept (not for a refused question; ``conversation_saved: false`` when Redis
    refused the write), and the answer with its conversation's fields and ``standalone``
    decision."""
    store, standalone = parts.conversations, follow.standalone
    saved = False
    if store is not None and not refused(answer):
        turn = Turn(question, standalone.question, answer.answer,
                    cited(parts.store, user_id, answer), store.clock())
        saved = store.append(user_id, follow.conversation_id, turn)
    record = StandaloneRecord(standalone.question, standalone.made_by, standalone.reason)
    usage = TokenUsage(answer.usage.input_tokens + follow.usage.input_tokens,
                       answer.usage.output_tokens + follow.usage.output_tokens)
    return replace(answer, conversation_id=follow.conversation_id, usage=usage,
                   cost_usd=answer.cost_usd + follow.cost_usd,
                   standalone_question=standalone.question, conversation_saved=saved,
                   decisions=replace(answer.decisions, standalone=record))


def ask_in_conversation(pipeline: Asks, user_id: str, question: str, conversation_id: str,
                        *, top_k: int | None = None, request_id: str | None = None,
                        filters: Filters = NO_FILTERS,
                        control: CacheControl = NO_CONTROL) -> Answer:
    """``Pipeline.ask`` within a conversation: ``begin``, the standalone question asked,
    ``finish`` (the route's JSON path and ``rag-core ask --conversation`` / ``chat``)."""
    parts = pipeline.parts
    follow = begin(parts, user_id, question, conversation_id)
    made = pipeline.ask(user_id, follow.standalone.question, top_k=top_k,
                        request_id=request_id, filters=filters, control=control)
    return finish(parts, user_id, question, follow, made)
