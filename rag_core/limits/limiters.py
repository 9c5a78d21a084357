"""The long-lived parts of the limits, one of each per process: the user-limits table, the
question gate, the work slots and the write quota. ``rag_core.parts.build_limiters`` builds them
with the other parts (``Parts.limiters``); the routes and the pipeline take the one they use.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag_core.config import Limits
from rag_core.limits.gate import QuestionGate
from rag_core.limits.slots import WorkSlots
from rag_core.limits.write_quota import WriteQuota
from rag_core.store.user_limits import UserLimitsTable


@dataclass(frozen=True)
class Limiters:
    """Frozen: another configuration is another ``Limiters`` (``parts.build_limiters``)."""

    # a user's own limits: the store's PostgreSQL, else in process (``rag-core limits``)
    user_limits: UserLimitsTable
    # every question's admission (``api.question_gate``); None: every question limit is off
    gate: QuestionGate | None
    # steps 1-5 take turns for this process's CPUs (``Pipeline``)
    slots: WorkSlots
    # the notes API's writes, per user and window
    quota: WriteQuota


def limits_on(section: Limits) -> bool:
    """Whether any question limit is on: else no gate is made and nothing is counted (the
    ``ci`` profile)."""
    return any((section.rate_limit_per_minute, section.rate_limit_per_hour,
                section.rate_limit_per_day, section.rate_tiers, section.max_concurrent_queries,
                section.max_queries_per_hour, section.user_max_in_flight))


__all__ = ["Limiters", "limits_on"]
