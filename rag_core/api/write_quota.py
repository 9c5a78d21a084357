"""A write of notes through the API within the writer's quota (``limits.write_quota``): the
notes' bytes are charged before anything is written, their chunks once they are chunked and
before any is embedded, and a write that is refused gets its bytes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rag_core.errors import ConfirmationRequired, WriteQuotaExceeded
from rag_core.ingest.ingestion import IngestReport, ingest_notes
from rag_core.limits.write_quota import WriteQuota
from rag_core.types import Note

if TYPE_CHECKING:
    from rag_core.parts import Parts


def charged_ingest(parts: Parts, quota: WriteQuota, user_id: str, notes: Sequence[Note],
                   *, prune: bool = False, max_delete: int | None = None,
                   yes: bool = False) -> IngestReport:
    """``ingest_notes`` within ``user_id``'s quota: the notes' bytes first, then (once they
    are chunked, before any embedding) the chunks of the notes that changed; a write refused
    by its chunks gets its bytes back."""
    cost = quota.charge(user_id, notes)
    try:
        return ingest_notes(parts, user_id, notes, progress=False, prune=prune,
                            max_delete=max_delete, yes=yes,
                            before_embedding=lambda n: quota.charge_chunks(
                                user_id, n, single=len(notes) == 1))
    except (WriteQuotaExceeded, ConfirmationRequired):  # nothing written: nothing charged
        quota.refund(user_id, cost)
        raise
