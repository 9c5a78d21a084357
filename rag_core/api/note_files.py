"""``PUT /v1/notes/{id}`` with a file as its body: the request's ``Content-Type`` names the
reader (``rag_core.ingest.readers``), the path names the note.

``application/json`` (or no ``Content-Type``) is the note as JSON fields (``NoteIn``), as it
always was; ``application/pdf``, the Word document type, ``text/html``, ``text/plain`` and
``text/markdown`` are read as that file would be read from a folder, the path's id being the
note's id (a Markdown front matter's ``id``, when it has one, must be the same). Any other type
is ``UNKNOWN_TYPE`` (415). The body's size limit is the route's, as for JSON.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from rag_core.api.schemas import ErrorOut
from rag_core.ingest.readers import FileRefused, Origin, read_bytes
from rag_core.ingest.readers.errors import UNKNOWN_TYPE
from rag_core.types import Note

Model = TypeVar("Model", bound=BaseModel)
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
FILE_TYPES = {"application/pdf": "pdf", DOCX_TYPE: "docx", "text/html": "html",
              "application/xhtml+xml": "html", "text/plain": "text", "text/markdown": "markdown"}
_SUFFIX = {"pdf": ".pdf", "docx": ".docx", "html": ".html", "text": ".txt", "markdown": ".md"}
RESPONSE_415: dict[int | str, dict[str, object]] = {
    415: {"model": ErrorOut, "description": "a Content-Type no reader takes (UNKNOWN_TYPE)"}}


def is_json(content_type: str | None) -> bool:
    """The body is the note's JSON fields (no type given counts as JSON, as before)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


def json_body(raw: bytes, model: type[Model]) -> Model:
    """The JSON body validated by ``model``; a bad body is the API's usual 422."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None


def note_from_file(raw: bytes, content_type: str | None, note_id: str) -> Note:
    """The note of a file body (run in a worker thread: parsing a PDF takes a while)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind = FILE_TYPES.get(media)
    if kind is None:
        raise FileRefused(UNKNOWN_TYPE, f"Content-Type {media!r} is not read; send "
                                        + ", ".join(sorted({"application/json", *FILE_TYPES})))
    origin = Origin(PurePosixPath(f"{note_id}{_SUFFIX[kind]}"), note_id=note_id)
    notes, _ = read_bytes(raw, origin, kind)
    return notes[0]
