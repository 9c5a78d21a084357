"""Load shedding: past its capacity the service refuses a question at once, cheaply, instead of
queueing it until every answer is late (Google SRE, "Handling Overload": answer what can be
answered within the SLO, refuse the rest early).

A question that goes past the exact cache needs a work slot of its process for steps 3-5
(``slots``), then the model. ``Shedder`` predicts when it would finish: the time it has been in
the pipeline so far, plus the wait for a slot (the questions let past the cache and not yet at
work, ahead of it, times the recent slot time of one question, over the slots), plus the recent
time from taking a slot to the answer's end (its own time). Both recent times are moving
estimates (``Moving``: an exponentially weighted mean of the questions that went that way).
When the queue alone would take it past the SLO's budget of a miss (``BUDGET_S``, 5 s: its
time so far and the wait past it) and that wait for others' work is longer than its own time,
it is refused with 503 ``OVERLOADED`` (limit ``work_slots``) and ``Retry-After`` (the predicted
wait, rounded up), before it takes a thread, a slot or a place in flight; counted in
``requests_shed_total{reason="queue"}``. A question late for the machine's own pace, with a
short queue, is not refused at once: refusing it would make no other sooner, and on a slow
machine the ordinary load would be shed (a first attempt,
which shed whatever could not start within 1 s, refused a fifth of the ci load run on the busy
shared machine; a second, which counted its own time in the finish, refused 3-11 of the 171
questions of the ci replay's burst). A question let in waits for its slot (a thread, then the
slot) at most until its ``deadline``: the fair queue's wait (``limits.queue.FAIR_WAIT_S``,
1 s) from the question's start, the issue's latest refusal; still waiting then, it is refused
likewise (``reason="deadline"``), having spent no CPU on its steps. (Held to what the budget
left, never less than its own time, such refusals came 5-6 s after the question in the 600-user
spike of 2026-11-29; with the 1 s counted from the pass, 1-2.5 s: the time before the pass on a
late event loop added. On the quiet machine this shed nothing of the ci load run or its replay
in four runs, docs/benchmarks.md; the busy machine's fifth, above, is a risk it keeps.)

Cached answers never reach this: an exact hit is answered before the cache's end (steps 1-2 on
the event loop), with no slot and no place in flight. Until a question has gone through there is
no estimate, and nobody is refused early. Only the question route sheds (``Pipeline.answer``);
the CLI and the library's ``ask`` wait as before.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rag_core.errors import Overloaded
from rag_core.limits.queue import FAIR_WAIT_S
from rag_core.telemetry import metrics

BUDGET_S = 5.0  # the SLO of a miss at p99 (issue 82)
WEIGHT = 0.2  # the weight of the latest question in a moving estimate


class Moving:
    """A moving estimate of a duration (seconds): an exponentially weighted mean; 0 until the
    first sample."""

    def __init__(self, weight: float = WEIGHT) -> None:
        self.weight = weight
        self.seconds = 0.0
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self.seconds = seconds if self.seconds == 0.0 else (
                self.weight * seconds + (1 - self.weight) * self.seconds)


class Shed(Overloaded):
    """503 ``OVERLOADED`` (limit ``work_slots``): a question refused before its CPU work, as the
    request limits refuse (the user's day counts it as ``rejected:OVERLOADED``)."""


def shed(reason: str, wait_s: float) -> Shed:
    """The refusal of a question shed for ``reason``, counted; Retry-After: ``wait_s`` rounded
    up, at least 1 s."""
    metrics.REQUESTS_SHED.labels(reason=reason).inc()
    return Shed("work_slots", (
        "The service is at its capacity: this question could not be answered within "
        f"{BUDGET_S:g} s; retry after Retry-After seconds."),
        retry_after=float(max(1, math.ceil(wait_s))))


@dataclass
class Pass:
    """A question let past the cache: the latest it may start its work (``deadline``, on the
    shedder's clock), and whether it still counts as ahead of those that come after it."""

    deadline: float
    waiting: bool = True


class Shedder:
    """The predictions and the count of questions ahead, for one process's ``size`` slots."""

    def __init__(self, size: int, *, budget_s: float = BUDGET_S,
                 slot_wait_s: float = FAIR_WAIT_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.size = size
        self.budget_s = budget_s
        self.slot_wait_s = slot_wait_s  # the longest wait for a slot, once let in
        self.clock = clock
        self.slot = Moving()  # a question's time holding a slot (steps 3-5)
        self.rest = Moving()  # from taking a slot to the answer's end (steps 3-7)
        self._ahead = 0  # let past the cache, not yet at work (waiting for a thread or a slot)
        self._lock = threading.Lock()

    def wait_s(self, ahead: int | None = None) -> float:
        """The predicted wait for a slot behind ``ahead`` questions (now: those ahead)."""
        return (self._ahead if ahead is None else ahead) * self.slot.seconds / self.size

    def let_in(self, started: float) -> Pass:
        """A question that began at ``started`` (the shedder's clock) goes past the cache: its
        ``Pass``, or ``Shed`` (reason ``queue``) when the queue alone would take it past the
        budget: the wait for others' work is longer than its own time and than what is left
        of the budget (a question late for the machine's own pace would be no sooner for
        refusing another). The pass's deadline: ``slot_wait_s`` after the question began."""
        with self._lock:
            now, wait, own = self.clock(), self.wait_s(), self.rest.seconds
            left = self.budget_s - (now - started)  # what the budget leaves
            if wait > own and wait > left:
                raise shed("queue", wait)
            self._ahead += 1
        return Pass(started + self.slot_wait_s)

    def at_work(self, place: Pass | None) -> None:
        """``place``'s question took its slot, was refused or ended: no longer ahead (once)."""
        if place is None:
            return
        with self._lock:
            if place.waiting:
                place.waiting = False
                self._ahead -= 1

    def ahead(self) -> int:
        with self._lock:
            return self._ahead


__all__ = ["BUDGET_S", "Moving", "Pass", "Shed", "Shedder", "shed"]
