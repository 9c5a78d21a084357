"""The check before a path deletes notes in bulk (``sync``, ``ingest --prune``, a bulk write
with ``prune``): it names every note it would delete, and beyond ``max_delete`` it stops with
``CONFIRMATION_REQUIRED`` before anything is written, unless the caller said yes.

A folder that comes back half empty (a share mounted late, a wrong checkout) looks to a sync
exactly like notes deleted on purpose; the number of deletes is what tells them apart. The
default bound is the larger of ``MIN_MAX_DELETE`` and a fifth of the user's notes
(``MAX_DELETE_SHARE``): a small collection may lose a few notes, a large one a fifth, without
a question. Deleted notes go to the trash (``RAG_NOTE_TRASH_DAYS``) either way.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag_core.errors import ConfirmationRequired, InvalidArgument

MIN_MAX_DELETE = 10
MAX_DELETE_SHARE = 5  # a fifth of the user's notes


def default_max_delete(total: int) -> int:
    """The bound when the caller names none: the larger of 10 and a fifth of ``total``."""
    return max(MIN_MAX_DELETE, total // MAX_DELETE_SHARE)


def confirm_deletes(what: str, user_id: str, doomed: Sequence[str], total: int, *,
                    max_delete: int | None = None, yes: bool = False) -> None:
    """``ConfirmationRequired`` naming every note of ``doomed`` when there are more than the
    bound and ``yes`` is not given; ``what`` names the path (``sync``, ``prune``)."""
    if max_delete is not None and max_delete < 0:
        raise InvalidArgument(f"max_delete is {max_delete}; it must be 0 or more.")
    limit = default_max_delete(total) if max_delete is None else max_delete
    if yes or len(doomed) <= limit:
        return
    raise ConfirmationRequired(
        f"{what} would delete {len(doomed)} of the {total} notes of {user_id!r}, more than "
        f"the {limit} it deletes without asking (--max-delete; default the larger of "
        f"{MIN_MAX_DELETE} and a fifth of the user's notes). Nothing was changed. Run it "
        f"again with --yes (API: \"yes\": true) to delete them: " + ", ".join(doomed))
