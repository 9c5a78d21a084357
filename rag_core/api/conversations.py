"""The conversations API: a user lists, reads and ends their own conversations (issue 80).

As the notes routes, twice: under ``/v1/conversations`` for the caller's own, and under
``/v1/users/{user_id}/conversations`` for a service token with the ``notes:write`` scope (audit
logged). Another user's id is the same 404 ``CONVERSATION_NOT_FOUND`` as an unknown one."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from rag_core.api.deps import PartsDep
from rag_core.api.notes import own_notes, users_notes
from rag_core.api.schemas import error_responses
from rag_core.conversations.store import ID_HELP, ConversationStore
from rag_core.errors import ConversationNotFound, InvalidArgument
from rag_core.types import JsonObject

CONVERSATION_ID = Path(min_length=1, max_length=64, description=ID_HELP)


class CitedNoteOut(BaseModel):
    note_id: str
    title: str


class TurnOut(BaseModel):
    question: str = Field(description="The question as asked")
    standalone_question: str = Field(description="The question every step worked on")
    answer: str
    citations: list[CitedNoteOut]
    at: float = Field(description="When the turn was answered (epoch seconds)")


class ConversationOut(BaseModel):
    conversation_id: str
    turns: list[TurnOut] = Field(description="Oldest first")


class ConversationRow(BaseModel):
    conversation_id: str
    last_at: float = Field(description="The last turn's time (epoch seconds)")
    turns: int


class ConversationList(BaseModel):
    conversations: list[ConversationRow] = Field(description="The latest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


def _store(conversations: ConversationStore | None) -> ConversationStore:
    """The parts' conversation store, or ``ConversationNotFound`` when none is kept."""
    if conversations is None:
        raise ConversationNotFound()
    return conversations


def _after(cursor: str | None) -> int:
    """The offset a cursor names (base64url of the count of rows before the page)."""
    if cursor is None:
        return 0
    try:
        return max(0, int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))))
    except (ValueError, binascii.Error):
        raise InvalidArgument("The cursor is not one this API gave out.") from None


def make_router(owner: Callable[..., Awaitable[str]]) -> APIRouter:
    """The conversations routes of ``owner`` (a dependency giving a user id)."""
    router = APIRouter(tags=["conversations"])
    whose = Depends(owner)

    @router.get("/conversations", response_model=ConversationList,
                responses=error_responses(401, 403, 422, 503))
    async def list_conversations(parts: PartsDep,
                                 limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
                                 cursor: Annotated[str | None, Query(max_length=40)] = None,
                                 user: str = whose) -> JsonObject:
        start = _after(cursor)

        def page() -> JsonObject:
            rows = parts.conversations.summaries(user) if parts.conversations else []
            shown, more = rows[start:start + limit], len(rows) > start + limit
            after = str(start + limit).encode()
            return {"conversations": [{"conversation_id": r.conversation_id,
                                       "last_at": r.last_at, "turns": r.turns} for r in shown],
                    "next_cursor": base64.urlsafe_b64encode(after).decode().rstrip("=")
                    if more else None}

        return await run_in_threadpool(page)

    @router.get("/conversations/{conversation_id}", response_model=ConversationOut,
                responses=error_responses(401, 403, 404, 422, 503))
    async def read_conversation(conversation_id: Annotated[str, CONVERSATION_ID],
                                parts: PartsDep, user: str = whose) -> JsonObject:
        """Its turns, oldest first: each question, its standalone question, the answer, its
        cited notes and time."""
        turns = await run_in_threadpool(_store(parts.conversations).turns, user, conversation_id)
        return {"conversation_id": conversation_id, "turns": [
            {"question": t.question, "standalone_question": t.standalone_question,
             "answer": t.answer, "at": t.at,
             "citations": [{"note_id": c.note_id, "title": c.title} for c in t.citations]}
            for t in turns]}

    @router.delete("/conversations/{conversation_id}", status_code=204,
                   responses=error_responses(401, 403, 404, 422, 503))
    async def end_conversation(conversation_id: Annotated[str, CONVERSATION_ID],
                               parts: PartsDep, user: str = whose) -> None:
        """End the conversation: its turns are deleted at once."""
        await run_in_threadpool(_store(parts.conversations).delete, user, conversation_id)

    return router


def routers() -> list[tuple[str, APIRouter]]:
    return [("/v1", make_router(own_notes)), ("/v1/users/{user_id}", make_router(users_notes))]
