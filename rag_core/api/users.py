"""``DELETE /v1/users/{user_id}``: erase one user everywhere (``rag_core.ops.erase``).

Allowed to the user's own token (a user may erase themselves) and to a service token with the
``users:erase`` scope. The audit line of the call names the user by the keyed hash
(``audit.SUBJECT``), never by the id in the path.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from rag_core.answers.log import query_log_key
from rag_core.api.deps import CallerDep, PartsDep
from rag_core.api.schemas import error_responses
from rag_core.errors import Forbidden
from rag_core.ops.erase import erase_user
from rag_core.safety.guard import validate_user

USERS_ERASE = "users:erase"  # the scope of a service that may erase any user

router = APIRouter(tags=["users"])


class ErasureOut(BaseModel):
    erased: bool
    user_key: str = Field(description="The keyed hash the audit log names the user by")
    rows: dict[str, int] = Field(description="Rows removed per PostgreSQL table")
    redis_keys: int = Field(description="Redis keys and cache entries removed")


@router.delete("/v1/users/{user_id}", response_model=ErasureOut,
               responses=error_responses(401, 403, 404, 422, 503))
async def erase(user_id: Annotated[str, Path(min_length=1, max_length=128)], request: Request,
                caller: CallerDep, parts: PartsDep) -> dict[str, object]:
    """Erase the user: notes, chunks, every cache layer, verdicts, query log lines, limits and
    reservations. Their spend stays in the ledger's totals under one anonymous key. 404
    `USER_NOT_FOUND` when the service holds nothing of that user (nothing is touched)."""
    request.state.audit_service = caller.subject if caller.subject != user_id else "self"
    request.state.audit_subject = "-"  # the path's id is never written to the audit line
    if caller.subject != user_id and USERS_ERASE not in caller.scopes:
        raise Forbidden(f"Erasing another user needs a token with the {USERS_ERASE!r} scope.")
    validate_user(user_id)
    client = getattr(parts.caches.query, "client", None)
    erasure = await run_in_threadpool(
        erase_user, parts.store, parts.caches, client, user_id,
        log_key=query_log_key(parts.settings), actor=caller.subject,
        erasure_log=parts.settings.services.erasure_log_file, conversations=parts.conversations)
    request.state.audit_subject = erasure.user_key
    return erasure.to_dict()
