"""The audit log of calls that act for another user (``/v1/users/{user_id}/...``, logger
``rag_core.audit``): one line per attempt, written once its outcome is known, with the HTTP
status, the service that called (when its token could be read) and the user it named. Refused
attempts (401, 403, 404, 422) leave a line as accepted ones do, at WARNING instead of INFO.
"""

from __future__ import annotations

import logging

from rag_core.api.asgi import Scope
from rag_core.api.auth_first import CLAIMS
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.audit")
PREFIX = "/v1/users/"
SERVICE = "audit_service"  # the key in the request's state: the verified caller's subject
SUBJECT = "audit_subject"  # set by an erasure: the keyed hash that names the user instead


def log_attempt(scope: Scope, status: int, request_id: str) -> None:
    """The audit line of a request under ``PREFIX``, after its response (other paths: none)."""
    path = str(scope.get("path", ""))
    if not path.startswith(PREFIX):
        return
    state = scope.get("state") or {}
    service = state.get(SERVICE) or (state.get(CLAIMS) or {}).get("sub")
    user = path[len(PREFIX):].split("/", 1)[0][:128]
    subject = state.get(SUBJECT)
    if subject is not None:  # an erasure: the user named by the keyed hash only
        path = path.replace(user, subject) if user else path
        user = subject
    logs.log_event(log, logging.INFO if 200 <= status < 400 else logging.WARNING,
                   "notes call for a user", service=str(service)[:128] if service else None,
                   user_id=user, method=scope.get("method", ""), path=path[:300], status=status,
                   outcome="done" if 200 <= status < 400 else "refused",
                   request_id=request_id)
