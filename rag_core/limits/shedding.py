"""Load shedding: past its capacity the service refuses a question at once, cheaply, instead of
queueing it until every answer is late (Google SRE, "Handling Overload": answer what can be
answered within the SLO, refuse the rest early).

A question that goes past the exact cache needs a thread and a work slot of its process for
steps 3-5 (``slots``), then the model. It waits for them at most until its ``deadline``: the
fair queue's wait (``limits.queue.FAIR_WAIT_S``, 1 s, the issue's latest refusal) from when its
request reached the service (``api.context``; the pipeline's start outside the route); still
waiting then, it is refused with 503 ``OVERLOADED`` (limit ``work_slots``) and ``Retry-After``,
having spent no CPU on its steps (``requests_shed_total{reason="deadline"}``). A refusal made in
a worker thread (while waiting, or at the deadline) still has to reach the event loop that sends
it, which takes a few ms, more when the loop is busy with others' first steps; so the deadline
comes sooner by a margin the service measures from its own recent refusals, each timed from when
it was due to when the loop had it (``ReplyDelay``, as TCP times its round trips:
``shed_reply_margin_seconds``).

``Shedder`` predicts that wait when the question goes past the cache: the questions let past the
cache and not yet at work, ahead of it, less the slots free now (those will take them), times
the recent slot time of one question (a moving estimate, ``Moving``: an exponentially weighted
mean), over the slots. When the prediction outlasts what is left until its deadline, the
deadline would refuse it after the wait; it is refused at once instead (``reason="queue"``,
Retry-After the predicted wait), before it takes a thread, a slot or a place in flight. Only the
wait for others' work ahead counts, never the question's own time: a question with nobody ahead
beyond the free slots is never refused at once, however slow the machine, and one let in on a
wrong prediction is still held to its deadline. While it waits for its slot, the slots make
the same prediction again each time the order of the waiting changes (one joins, one is
served), from its place in the order they serve, and refuse it as soon as it outlasts what is
left (``reason="waiting"``, ``WorkSlots.hold``). (History: a first rule shed whatever could not
start within 1 s, before the deadline existed, and refused a fifth of the ci load run on the
busy shared machine; a second refused only what the queue would take past the 5 s budget of a
miss, and in the 2026-11-29 spikes almost every refusal waited out its deadline: 1.05-1.27 s in
the service, 1.3-2.1 s at the client. Refused at once, the ten quiet runs of the ci spike after
it refused 1-48 questions a run in 4-360 ms, but the deadline still refused 23-67, likely
because the prediction, made once at the pass, reads the slots' queue as first come first served
while the slots serve the least-used user first. So the refusals' p99 stayed a deadline
refusal's, 1.21-1.36 s at the client; the admitted p99 was 0.33-0.44 of the SLO and the ci load
run and replay shed nothing. With the prediction made again while a question waits, eight runs
had 0-1 deadline refusals each, the refusals' p99 0.81-1.00 s in the service and 0.83-1.32 s at
the client (the slowest mostly at the spike's onset, outside the app), the admitted p99
0.37-0.61 of the SLO, the shed share 0.05-0.09. That onset time was the kernel's: new
connections waited to be accepted, one at a time behind the others' first steps. Counted from
when the kernel received the request (``api.received``), eight quiet runs refused at
0.78-0.95 s at p99 at the client, shed 0.07-0.13 and kept the admitted p99 at 0.45-0.77 of the
SLO; but CI's own runs of the notebook measured 1.03 and 1.007, refusals made in a thread sent
6-29 ms after their second. With the deadline sooner by ``ReplyDelay``'s margin, eight such
runs refused at 0.83-0.94 s at p99 at the client, shed 0.08-0.16 and kept the admitted p99 at
0.44-0.80 of the SLO. docs/benchmarks.md has the runs.)

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


class ReplyDelay:
    """How long a refusal made in a worker thread takes to reach the event loop that sends it,
    from when it was due (a waiting question's thread woken, the answer handed back to the
    loop, which may be busy with others' first steps): a smoothed delay and its variation, as
    TCP estimates a round trip for its retransmission timeout (RFC 6298: weights 1/8 and 1/4;
    the margin is the delay plus four times its variation). 0 until the first refusal."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.variation = 0.0
        self.count = 0  # refusals measured
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        seconds = max(0.0, seconds)
        with self._lock:
            if self.count == 0:
                self.seconds, self.variation = seconds, seconds / 2
            else:
                self.variation = 0.75 * self.variation + 0.25 * abs(self.seconds - seconds)
                self.seconds = 0.875 * self.seconds + 0.125 * seconds
            self.count += 1
            metrics.SHED_REPLY_MARGIN.set(self.seconds + 4 * self.variation)

    def margin(self) -> float:
        """How much sooner than its deadline a refusal must be made to be sent by it."""
        with self._lock:
            return self.seconds + 4 * self.variation


class Shed(Overloaded):
    """503 ``OVERLOADED`` (limit ``work_slots``): a question refused before its CPU work, as the
    request limits refuse (the user's day counts it as ``rejected:OVERLOADED``). ``due``: when
    a refusal made in a worker thread was due (``time.perf_counter``; None for one made on the
    event loop), whence ``ReplyDelay`` counts."""

    due: float | None = None


def shed(reason: str, wait_s: float, due: float | None = None) -> Shed:
    """The refusal of a question shed for ``reason``, counted; Retry-After: ``wait_s`` rounded
    up, at least 1 s; ``due``: see ``Shed``."""
    metrics.REQUESTS_SHED.labels(reason=reason).inc()
    refusal = Shed("work_slots", (
        "The service is at its capacity: this question could not start its work within "
        f"{FAIR_WAIT_S:g} s; retry after Retry-After seconds."),
        retry_after=float(max(1, math.ceil(wait_s))))
    refusal.due = due
    return refusal


@dataclass
class Pass:
    """A question let past the cache: the latest it may start its work (``deadline``, on the
    shedder's clock), and whether it still counts as ahead of those that come after it."""

    deadline: float
    waiting: bool = True


class Shedder:
    """The predictions and the count of questions ahead, for one process's ``size`` slots."""

    def __init__(self, size: int, *, slot_wait_s: float = FAIR_WAIT_S,
                 free: Callable[[], int] = lambda: 0,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.size = size
        self.free = free  # the slots no question holds now (``WorkSlots.free``)
        self.slot_wait_s = slot_wait_s  # the longest wait for a slot, once let in
        self.clock = clock
        self.slot = Moving()  # a question's time holding a slot (steps 3-5)
        # a thread's refusal's way to the loop (``answers.work_slot.refusals_timed``)
        self.reply = ReplyDelay()
        self._ahead = 0  # let past the cache, not yet at work (waiting for a thread or a slot)
        self._lock = threading.Lock()

    def wait_s(self, ahead: int | None = None) -> float:
        """The predicted wait for a slot behind ``ahead`` questions that have not begun (now:
        those ahead)."""
        return (self._ahead if ahead is None else ahead) * self.need(0.0)

    def need(self, held: float) -> float:
        """What a question that has held a slot ``held`` seconds adds to the wait of those
        behind it: the rest of the recent slot time (at least 0), over the slots."""
        return max(0.0, self.slot.seconds - held) / self.size

    def let_in(self, started: float) -> Pass:
        """A question that began at ``started`` (the shedder's clock) goes past the cache: its
        ``Pass``, whose deadline is ``slot_wait_s`` after the question began less the margin a
        refusal in a thread needs to be sent by then (``reply``), or ``Shed`` (reason
        ``queue``) when the predicted wait for the others' work ahead of it (those ahead beyond
        the free slots) outlasts that deadline: its deadline would refuse it after the wait, so
        it is refused now."""
        margin = self.reply.margin()
        with self._lock:
            now, deadline = self.clock(), started + self.slot_wait_s - margin
            # those ahead that the free slots will take have no wait for it
            wait = self.wait_s(max(0, self._ahead - self.free()))
            if wait > 0.0 and wait > deadline - now:  # nobody ahead: never refused at once
                raise shed("queue", wait)
            self._ahead += 1
        return Pass(deadline)

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


__all__ = ["Moving", "Pass", "ReplyDelay", "Shed", "Shedder", "shed"]
