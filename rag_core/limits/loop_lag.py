"""The event loop's lag, measured, for the question route's shedding at the ASGI edge
(``api.edge_shed``; issue 82).

Past the machine's capacity a worker's time goes before the pipeline: each request's task waits
its turn on the event loop behind every request already read, and a question refused at the work
slots (``limits.shedding``) has waited seconds for that turn first. The wait is the loop's lag:
how late a callback that is due runs. ``LoopLag`` measures it with a probe that sleeps
``every_s`` on the loop and notes how late it woke (``measured``: the latest such delay), and
between wake-ups the probe's own lateness so far (``now - due``): a loop stuck behind a burst of
requests shows its lag at once, before the probe's wake-up has its turn. ``lag`` is the larger
of the two; reading it costs a clock read (no lock: one thread, the loop's, writes and reads it).

A question arriving while the lag is over the limit would be answered late or refused late:
the edge refuses it at once, which costs the loop next to nothing, so the lag drains and the
questions let in keep their SLO. While the loop keeps up, everything is let through (cached
answers too: they cost little). The probe's own cost: ``1/every_s`` wake-ups a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from rag_core.telemetry import metrics

EVERY_S = 0.05  # the probe's period


class LoopLag:
    """The lag of the loop that runs ``probe`` (seconds), on ``clock``."""

    def __init__(self, every_s: float = EVERY_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.every_s = every_s
        self.clock = clock
        self.measured = 0.0  # how late the probe's latest wake-up was
        self.due: float | None = None  # when its next wake-up is due (None: no probe running)

    def slept(self, due: float) -> None:
        """The probe woke for its wake-up due at ``due``: note how late, and when the next is
        due."""
        now = self.clock()
        self.measured = max(0.0, now - due)
        self.due = now + self.every_s
        metrics.EVENT_LOOP_LAG.set(self.measured)

    def lag(self) -> float:
        """The loop's lag now: the latest measured, or longer when the probe's wake-up is
        overdue by more."""
        if self.due is None:
            return 0.0
        return max(self.measured, self.clock() - self.due)

    async def probe(self) -> None:
        """Measure until cancelled (a task of the loop measured)."""
        self.due = self.clock() + self.every_s
        try:
            while True:
                await asyncio.sleep(max(0.0, self.due - self.clock()))
                self.slept(self.due)
        finally:
            self.due = None


__all__ = ["EVERY_S", "LoopLag"]
