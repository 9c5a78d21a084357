"""The notes API: a user adds, edits, reads, lists and deletes their own notes over HTTP.

The same routes exist twice: under ``/v1/notes`` for the caller's own notes, and under
``/v1/users/{user_id}/notes`` for a service whose token carries the ``notes:write`` scope and
acts for any user (every attempt is audit-logged with its outcome: ``rag_core.api.audit``).
Notes are validated and chunked exactly as ``rag-core ingest`` does (``rag_core.ingest.notes``,
``rag_core.ingest.ingestion``); a write is idempotent by content hash, and every change bumps
that user's notes version, so their cached answers go (and only theirs).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from rag_core.api.deps import NOTES_WRITE, CallerDep, PartsDep
from rag_core.api.note_files import FILE_TYPES, RESPONSE_415, is_json, json_body, note_from_file
from rag_core.api.schemas import ErrorOut, error_responses
from rag_core.api.write_quota import WriteQuota, charged_ingest
from rag_core.decision_records import JsonObject
from rag_core.errors import Forbidden, InvalidNote, NotFound
from rag_core.ingest.ingestion import delete_note
from rag_core.ingest.notes import check_note_id, note_from_record, note_id_from_raw_path
from rag_core.parts import build_redis
from rag_core.safety.guard import validate_user
from rag_core.types import Note

CONFIRM_RESPONSE: dict[int | str, dict[str, object]] = {400: {
    "model": ErrorOut, "description": "a prune beyond `max_delete` without `yes` "
    "(CONFIRMATION_REQUIRED): nothing was written"}}
NoteStatus = Literal["inserted", "updated", "unchanged", "deleted"]
NOTE_ID = Path(min_length=1, max_length=200, description="The note's id (unique per user)")


class NoteIn(BaseModel):
    """One note, in the fields of a line of ``rag-core ingest``'s JSON-lines format."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, description="Optional; when given it must match the path")
    title: str
    body: str
    date: str | None = Field(None, description="ISO date, e.g. 2024-03-10")
    speaker: str | None = None
    series: str | None = None
    tags: list[str] | str | None = Field(None, description="A list or a comma-separated string")
    scripture: list[str] | str | None = Field(None, description="References, e.g. Micah 6:8")


class BulkNoteIn(NoteIn):
    id: str = Field(min_length=1, max_length=200)  # type: ignore[assignment]


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notes: list[BulkNoteIn] = Field(max_length=5_000)
    prune: bool = Field(False, description="Also delete the user's notes that are not listed")
    confirm_prune_all: bool = Field(False, description="Required with `prune` and an empty "
                                    "`notes`: that deletes every note of the user")
    max_delete: int | None = Field(None, ge=0, description=(
        "With `prune`: the most notes deleted without `yes` (default: the larger of 10 and a "
        "fifth of the user's notes); beyond it nothing is written (400 "
        "`CONFIRMATION_REQUIRED`, naming the notes)"))
    yes: bool = Field(False, description="With `prune`: delete beyond `max_delete`")


class NoteOut(BaseModel):
    """A note as ``PUT`` takes it (what it stores: fields trimmed, lists as lists)."""

    id: str
    title: str
    body: str
    date: str | None = None
    speaker: str | None = None
    series: str | None = None
    tags: list[str] = Field(default_factory=list)
    scripture: list[str] = Field(default_factory=list)


class NoteChange(BaseModel):
    note_id: str
    status: NoteStatus
    notes_version: int


class BulkOut(BaseModel):
    results: list[dict[str, str]] = Field(description='[{"note_id", "status"}] per note')
    notes_version: int


class NoteRow(BaseModel):
    note_id: str
    title: str | None
    content_hash: str
    updated_at: str


class NoteList(BaseModel):
    notes: list[NoteRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


def _note(record: Mapping[str, object], where: str) -> Note:
    note = note_from_record({k: v for k, v in record.items() if v is not None}, where)
    if note.id != record.get("id"):  # the reader strips blanks: an id must not have any
        raise InvalidNote(f"{where}: a note id may not be blank or start or end with blanks")
    return note


def _cursor(value: str | None) -> str:
    """The note id a cursor names (a cursor is the last id of a page, base64url-encoded); one
    that does not decode to a valid note id (``AA`` is a NUL) is not one this API gave out."""
    if not value:
        return ""
    try:
        padded = value.encode() + b"=" * (-len(value) % 4)
        return check_note_id(base64.b64decode(padded, altchars=b"-_", validate=True).decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, InvalidNote):
        raise InvalidNote("The cursor is not one this API gave out.") from None


async def path_note_id(request: Request, note_id: Annotated[str, NOTE_ID]) -> str:
    """The note id of the path, by the one note-id rule (``rag_core.ingest.notes.note_id_problem``),
    decoded from the raw path strictly: bytes that are not UTF-8 are refused (422), where the
    server's decoding would have made them U+FFFD (two paths, one note)."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes) and raw:
        return note_id_from_raw_path(raw.split(b"?", 1)[0].rsplit(b"/", 1)[-1])
    return check_note_id(note_id)


NoteIdDep = Annotated[str, Depends(path_note_id)]


async def write_quota(request: Request, parts: PartsDep) -> WriteQuota:
    """The app's one write quota (``api.write_quota``), made on first use."""
    quota: WriteQuota | None = getattr(request.app.state, "write_quota", None)
    if quota is None:
        settings = request.app.state.settings
        quota = request.app.state.write_quota = WriteQuota(settings.auth, build_redis(settings))
    return quota


QuotaDep = Annotated[WriteQuota, Depends(write_quota)]


def parse_bulk(raw: bytes) -> tuple[BulkIn, list[Note]]:
    """The bulk body validated whole (JSON, schema, every note, duplicate ids): run in a worker
    thread, since 5,000 notes took 0.54 s of the event loop. ``InvalidNote`` names every bad
    note; a schema error is the API's usual 422."""
    try:
        body = BulkIn.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    notes, bad = [], []
    for i, item in enumerate(body.notes):
        try:
            notes.append(_note(item.model_dump(), f"notes[{i}] ({item.id})"))
        except InvalidNote as exc:
            bad.append(exc.message)
    ids = [n.id for n in notes]
    bad += [f"the id {i!r} appears more than once" for i in sorted({i for i in ids
                                                                     if ids.count(i) > 1})]
    if bad:
        raise InvalidNote(f"{len(bad)} problem(s), nothing was written: " + "; ".join(bad))
    if body.prune and not notes and not body.confirm_prune_all:
        raise InvalidNote("prune with an empty notes list would delete every note of the "
                          "user; send confirm_prune_all: true if that is what you mean")
    return body, notes


def _inline_refs(schema: JsonObject) -> JsonObject:
    """A pydantic JSON schema with its ``$defs`` put in place (for ``openapi_extra``)."""
    found = schema.pop("$defs", {})
    defs = found if isinstance(found, dict) else {}

    def walk(node: object) -> object:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return {k: walk(v) for k, v in schema.items()}


BULK_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _inline_refs(BulkIn.model_json_schema())}}}}
PUT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": _inline_refs(NoteIn.model_json_schema())},
    **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in FILE_TYPES}}}}


def make_router(owner: Callable[..., Awaitable[str]]) -> APIRouter:
    """The notes routes for the notes of ``owner`` (a dependency giving a user id)."""
    router = APIRouter(tags=["notes"])
    whose = Depends(owner)  # a default, not an alias: annotations here are strings

    @router.put("/notes/{note_id}", response_model=NoteChange, openapi_extra=PUT_BODY,
                responses={**error_responses(401, 403, 413, 422, 429, 503), **RESPONSE_415})
    async def put_note(note_id: NoteIdDep, request: Request, parts: PartsDep, quota: QuotaDep,
                       user: str = whose) -> JsonObject:
        """Add or replace one note, sent as JSON fields (``NoteIn``) or as a file (PDF, Word,
        HTML, plain text, Markdown) with its ``Content-Type``; ``unchanged`` when its content
        is the same."""
        raw, kind = await request.body(), request.headers.get("content-type")
        if is_json(kind):
            body = json_body(raw, NoteIn)
            if body.id is not None and body.id != note_id:
                raise InvalidNote(f"The body's id {body.id!r} is not the path's {note_id!r}.")
            note = _note({**body.model_dump(), "id": note_id}, f"note {note_id}")
        else:
            note = await run_in_threadpool(note_from_file, raw, kind, note_id)

        def write() -> JsonObject:
            # 429 WRITE_QUOTA_EXCEEDED before any embedding: bytes, then chunks
            report = charged_ingest(parts, quota, user, [note])
            return {"note_id": note_id, "status": report.statuses[note_id],
                    "notes_version": parts.store.notes_version(user)}

        return await run_in_threadpool(write)

    @router.get("/notes/{note_id}", response_model=NoteOut,
                responses=error_responses(401, 403, 404, 422, 503))
    async def read_note(note_id: NoteIdDep, parts: PartsDep,
                        user: str = whose) -> JsonObject:
        """One note, in the body ``PUT`` takes (404 when the user has no such note)."""
        note = await run_in_threadpool(parts.store.get_note, user, note_id)
        if note is None:
            raise NotFound(f"There is no note {note_id!r}.")
        return {**note.metadata(), "id": note.id, "body": note.body}

    @router.delete("/notes/{note_id}", response_model=NoteChange,
                   responses=error_responses(401, 403, 404, 422, 503))
    async def remove_note(note_id: NoteIdDep, parts: PartsDep,
                          user: str = whose) -> JsonObject:
        def remove() -> JsonObject:
            if not delete_note(parts, user, note_id):
                raise NotFound(f"There is no note {note_id!r}.")
            return {"note_id": note_id, "status": "deleted",
                    "notes_version": parts.store.notes_version(user)}

        return await run_in_threadpool(remove)

    @router.get("/notes", response_model=NoteList, responses=error_responses(401, 403, 503))
    async def list_notes(parts: PartsDep,
                         limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
                         cursor: Annotated[str | None, Query(max_length=400)] = None,
                         user: str = whose) -> JsonObject:
        after = _cursor(cursor)

        def page() -> JsonObject:
            rows = parts.store.list_notes(user, after=after, limit=limit + 1)
            more = len(rows) > limit
            rows = rows[:limit]
            last = rows[-1]["note_id"] if more and rows else None
            return {
                "notes": [{"note_id": r["note_id"], "title": r["title"],
                           "content_hash": r["content_hash"],
                           "updated_at": r["updated_at"].isoformat()} for r in rows],
                "next_cursor": base64.urlsafe_b64encode(last.encode()).decode().rstrip("=")
                if last else None,
            }

        return await run_in_threadpool(page)

    @router.post("/notes:bulk", response_model=BulkOut, openapi_extra=BULK_BODY,
                 responses={**error_responses(401, 403, 413, 422, 429, 503),
                            **CONFIRM_RESPONSE})
    async def bulk(request: Request, parts: PartsDep, quota: QuotaDep,
                   user: str = whose) -> JsonObject:
        """Write many notes (body: ``BulkIn``): all are validated first, off the event loop,
        and nothing is written when any is bad (the 422 names every bad note). With
        ``prune``, the user's other notes are deleted (with an empty list only when
        ``confirm_prune_all`` says so; more than ``max_delete`` only with ``yes``) and kept
        in the trash."""
        body, notes = await run_in_threadpool(parse_bulk, await request.body())

        def write() -> JsonObject:
            report = charged_ingest(parts, quota, user, notes, prune=body.prune,
                                    max_delete=body.max_delete,
                                    yes=body.yes or body.confirm_prune_all)
            return {"results": [{"note_id": k, "status": v} for k, v in report.statuses.items()],
                    "notes_version": parts.store.notes_version(user)}

        return await run_in_threadpool(write)

    return router


async def own_notes(caller: CallerDep) -> str:
    """The caller's own notes."""
    return validate_user(caller.subject)


async def users_notes(user_id: Annotated[str, Path(min_length=1, max_length=128)],
                caller: CallerDep, request: Request) -> str:
    """Another user's notes: only for a service token with the ``notes:write`` scope. Every
    attempt is audit-logged with its outcome (``rag_core.api.audit``)."""
    request.state.audit_service = caller.subject  # audit.SERVICE, for the line written after
    if NOTES_WRITE not in caller.scopes:
        raise Forbidden(f"Acting for another user needs a token with the {NOTES_WRITE!r} "
                        "scope.")
    validate_user(user_id)
    return user_id


def routers() -> list[tuple[str, APIRouter]]:
    return [("/v1", make_router(own_notes)), ("/v1/users/{user_id}", make_router(users_notes))]

