"""Steps 3-5 of a question under a work slot of its process (``limits.slots``), and the
question route's load shedding around it (``limits.shedding``): the pass past the exact cache,
refused at once when the predicted wait for the others' work ahead outlasts its deadline, and
the wait for the slot bounded by that deadline. The slot's time feeds the shedder's moving
estimate; a refusal made in the thread, the time it took to reach the loop."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rag_core.limits.shedding import Shed
from rag_core.run import NO_PAUSE

if TYPE_CHECKING:
    from rag_core.answer import Answer
    from rag_core.limits.shedding import Shedder
    from rag_core.limits.slots import WorkSlots
    from rag_core.run import Run


def shedding_first(shedder: Shedder, run: Run,
                   past_cache: Callable[[], Awaitable[object]] | None,
                   arrived: float | None = None) -> Callable[[], Awaitable[None]]:
    """What the route's driver awaits past the exact cache: the shedder's pass first (``Shed``
    raised at once, before anything else is taken), then the route's ``past_cache``. The
    question's deadline counts from ``arrived``, when the request reached the service
    (``api.received``; ``time.perf_counter``; None: when the pipeline began it)."""

    async def let_in() -> None:
        run.place = shedder.let_in(run.started if arrived is None else arrived)
        try:
            if past_cache is not None:
                await past_cache()
        except BaseException:
            shedder.at_work(run.place)
            raise

    return let_in


async def refusals_timed(shedder: Shedder, answering: Awaitable[Answer]) -> Answer:
    """``answering`` (the route's question, driven from the event loop); a refusal made in the
    worker thread is timed from when it was due to here, where the loop has it to send: the
    shedder's ``reply``, the margin by which later questions' deadlines come sooner."""
    try:
        return await answering
    except Shed as refused:
        if refused.due is not None:
            shedder.reply.add(time.perf_counter() - refused.due)
        raise


def prepared(slots: WorkSlots, shedder: Shedder, run: Run,
             prepare: Callable[[Run], Answer | None]) -> Answer | None:
    """``prepare`` (steps 3-5) under a work slot, waiting for it at most until the route's
    deadline (``run.place``; none outside the route), and refused while it waits once its wait,
    predicted from its place among those waiting, outlasts that deadline: its answer (a
    semantic hit, no context) or None. The slot's time feeds the shedder's estimate."""
    place = run.place
    deadline = None if place is None else place.deadline
    with run.within(), slots.hold(run.user_id, deadline, shedder.need) as turn:
        shedder.at_work(place)
        at_work, waited = time.perf_counter(), turn.waited
        run.between_steps = turn.pass_on  # give way between steps 3-5 (limits/slots)
        try:
            answer = prepare(run)
        finally:
            run.between_steps = NO_PAUSE
            run.root.set_attribute("rag.work_slot.wait_ms", round(turn.waited * 1000, 3))
    shedder.slot.add(time.perf_counter() - at_work - (turn.waited - waited))
    return answer


__all__ = ["prepared", "refusals_timed", "shedding_first"]
