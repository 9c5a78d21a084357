"""The budget state of a reservation, by the highest share of a budget in use (counting the
request being reserved): ``ok``; ``alert`` at ``fixed.BUDGET_ALERT_RATIO``; ``tightened`` at
``fixed.BUDGET_TIGHTEN_RATIO`` (the pipeline halves the output budget). Each stage is logged
and counted (``budget_alerts_total``) once per user and day in a process."""

from __future__ import annotations

import logging

from rag_core.config import fixed
from rag_core.telemetry import logs, metrics

log = logging.getLogger("rag_core.costs.ledger")


class BudgetStates:
    """The stages already reported, per user, day and stage."""

    def __init__(self) -> None:
        self._alerted: set[tuple[str, str, str]] = set()

    def note(self, user_id: str, day: str, values: list[float],
             caps: tuple[float, float]) -> str:
        """The state of a reservation (``values``: the user's and the global total with it;
        ``caps``: their budgets), reported the first time it is reached."""
        user_share, global_share = values[0] / caps[0], values[1] / caps[1]
        share = max(user_share, global_share)
        state = ("tightened" if share >= fixed.BUDGET_TIGHTEN_RATIO
                 else "alert" if share >= fixed.BUDGET_ALERT_RATIO else "ok")
        if state != "ok" and (user_id, day, state) not in self._alerted:
            self._alerted.add((user_id, day, state))
            metrics.BUDGET_ALERTS.labels(scope="user" if user_share >= global_share else "global",
                                         level=state).inc()
            logs.log_event(log, logging.WARNING, "budget threshold crossed", state=state,
                           user_hash=logs.hash_id(user_id), share=round(share, 3))
        return state
