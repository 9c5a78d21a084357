"""A note's revisions and its restore over HTTP: ``GET /notes/{id}/revisions`` and
``POST /notes/{id}:restore`` (``rag_core.ingest.restore``), under ``/v1`` for the caller's own
notes and under ``/v1/users/{user_id}`` for a service token with ``notes:write`` (the owners of
``rag_core.api.notes``). A restore embeds the text again and counts against the write quota.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from rag_core.api.deps import PartsDep
from rag_core.api.notes import NOTE_ID, QuotaDep, own_notes, users_notes
from rag_core.api.schemas import error_responses
from rag_core.api.write_quota import charged_ingest
from rag_core.ingest import restore as history
from rag_core.ingest.ingestion import IngestReport
from rag_core.ingest.notes import check_note_id, note_id_from_raw_path
from rag_core.types import JsonObject, Note

RESTORE = b":restore"


class RevisionOut(BaseModel):
    revision: int = Field(description="Its number, for `POST /notes/{id}:restore`")
    title: str | None
    content_hash: str
    written_at: str = Field(description="When this text was written")
    replaced_at: str = Field(description="When a change (or a delete) replaced it")


class RevisionList(BaseModel):
    note_id: str
    revisions: list[RevisionOut] = Field(description="Newest first (at most "
                                         "RAG_NOTE_REVISIONS)")


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: int | None = Field(None, ge=1, description=(
        "The revision to write back; absent: the note from the trash"))


class RestoreOut(BaseModel):
    note_id: str
    status: Literal["inserted", "updated", "unchanged"]
    restored_from: Literal["trash", "revision"]
    revision: int | None
    notes_version: int


def _segment(request: Request, back: int) -> bytes | None:
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes) or not raw:
        return None
    return raw.split(b"?", 1)[0].rstrip(b"/").split(b"/")[-1 - back]


async def revisions_note_id(request: Request, note_id: Annotated[str, NOTE_ID]) -> str:
    """The note id of ``.../notes/{id}/revisions``, from the raw path (as ``path_note_id``)."""
    raw = _segment(request, 1)
    return note_id_from_raw_path(raw) if raw is not None else check_note_id(note_id)


async def restore_note_id(request: Request, note_id: Annotated[str, NOTE_ID]) -> str:
    """The note id of ``.../notes/{id}:restore``, from the raw path (as ``path_note_id``)."""
    raw = _segment(request, 0)
    return note_id_from_raw_path(raw.removesuffix(RESTORE)) if raw is not None \
        else check_note_id(note_id)


def make_router(owner: Callable[..., Awaitable[str]]) -> APIRouter:
    router = APIRouter(tags=["notes"])
    whose = Depends(owner)

    @router.get("/notes/{note_id}/revisions", response_model=RevisionList,
                responses=error_responses(401, 403, 404, 422, 503))
    async def list_revisions(parts: PartsDep,
                             note_id: Annotated[str, Depends(revisions_note_id)],
                             user: str = whose) -> JsonObject:
        """The note's earlier texts, newest first: each change keeps the text it replaced
        (at most `RAG_NOTE_REVISIONS` per note). A revision is never searched or cited; 404
        when the user has no such note, live, deleted or revised."""
        return await run_in_threadpool(history.revisions, parts.store, user, note_id)

    @router.post("/notes/{note_id}:restore", response_model=RestoreOut,
                 responses=error_responses(401, 403, 404, 422, 429, 503))
    async def restore_note(parts: PartsDep, quota: QuotaDep,
                           note_id: Annotated[str, Depends(restore_note_id)],
                           body: Annotated[RestoreIn | None, Body()] = None,
                           user: str = whose) -> JsonObject:
        """Write back a revision (`{"revision": N}`), or without one the note from the trash
        (a deleted note stays `RAG_NOTE_TRASH_DAYS` days). The text is embedded again and
        counts against the write quota (429 `WRITE_QUOTA_EXCEEDED`); the text it replaces
        becomes a revision. 404 when there is no such revision or trashed note."""
        revision = body.revision if body is not None else None

        def write(notes: Sequence[Note]) -> IngestReport:
            return charged_ingest(parts, quota, user, notes)

        return await run_in_threadpool(history.restore, parts, user, note_id, revision, write)

    return router


def routers() -> list[tuple[str, APIRouter]]:
    return [("/v1", make_router(own_notes)), ("/v1/users/{user_id}", make_router(users_notes))]
