"""Work slots: a fair share of this process's CPUs among the questions already admitted.

The request limits and the fair queue (``gate``, ``queue``) decide which questions are let in;
once in, a question's steps 1-5 (validation, the cache lookups, embedding, the search, the
decisions and the context: the CPU-bound part of a question, before the model is called) need a
work slot of this process. There are as many slots as the process has CPUs to itself
(``RAG_WORK_SLOTS``; 0: the CPUs the process may use divided by the server's workers, at least
one). A question that finds every slot taken waits, and a freed slot goes to the waiting
question whose user has the fewest questions at work here (holding a slot or waiting for one),
then to the user served longest ago, then to the earliest. So one user's flood of admitted
questions takes turns with everyone else's instead of sharing the cores with them at once: a
user who asks once a second never waits behind the flooder's queue. Between two steps a
question holding a slot gives it to a waiting question whose user has fewer questions at work
(``Turn.pass_on``, called by ``Run.step``), and waits for one again: so the one-a-second user
waits for at most one step of another's question, not all of its steps. The model's answer
(step 6) holds no slot: waiting on the model costs no CPU.

Threads, not the event loop: the steps run in the app's worker threads (``run_in_threadpool``),
so a waiting question blocks its thread, never the loop.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from prometheus_client import Histogram

from rag_core import observability as obs
from rag_core.procs import worker_cpus

WAIT = Histogram("work_slot_wait_seconds", "Time an admitted question waited for a work slot "
                 "of its process (steps 1-5)", registry=obs.REGISTRY,
                 buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
FORGET_AFTER = 4_096  # users remembered for "served longest ago" beyond those at work


def slots_for(configured: int, environ: Mapping[str, str] | None = None) -> int:
    """``configured`` when above 0; else the CPUs of one server worker
    (``procs.worker_cpus``: the CPUs this process may use divided by ``WEB_CONCURRENCY``)."""
    return configured if configured > 0 else worker_cpus(environ)


@dataclass
class _Waiter:
    user: str
    ticket: int
    granted: threading.Event


@dataclass
class Turn:
    """One question's hold of a slot: what it waited, and its way to give way between steps."""

    slots: WorkSlots
    user: str
    waited: float = 0.0

    def pass_on(self) -> None:
        started = time.perf_counter()
        if self.slots.pass_on(self.user):
            self.waited += time.perf_counter() - started


class WorkSlots:
    def __init__(self, size: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if size < 1:
            raise ValueError("a process needs at least one work slot")
        self.size = size
        self.clock = clock
        self._lock = threading.Lock()
        self._free = size
        self._at_work: Tally[str] = Tally()  # per user: questions holding or waiting for a slot
        self._served: dict[str, float] = {}  # per user: when a slot was last given to them
        self._waiting: list[_Waiter] = []
        self._tickets = itertools.count()

    @contextmanager
    def hold(self, user: str) -> Iterator[Turn]:
        """A slot for one question of ``user`` while the block runs. The block calls
        ``Turn.pass_on`` between its steps; ``Turn.waited`` is the time it waited in all."""
        turn = Turn(self, user)
        started = time.perf_counter()
        waiter = self._enter(user)
        if waiter is not None:
            waiter.granted.wait()
        turn.waited = time.perf_counter() - started
        WAIT.observe(turn.waited)
        try:
            yield turn
        finally:
            self._leave(user)

    def pass_on(self, user: str) -> bool:
        """Between two steps of a question of ``user`` holding a slot: when a question of a
        user with fewer questions at work is waiting, the slot goes to it and this one waits
        for a slot again (True once it has one). Among users with as many at work, nobody
        gives way: a slot never ping-pongs."""
        with self._lock:
            if not self._waiting:
                return False
            chosen = min(self._waiting, key=self._order)
            if self._at_work[chosen.user] >= self._at_work[user]:
                return False
            self._waiting.remove(chosen)
            self._served[chosen.user] = self.clock()
            chosen.granted.set()
            waiter = _Waiter(user, next(self._tickets), threading.Event())
            self._waiting.append(waiter)
        waiter.granted.wait()
        return True

    def waiting(self) -> list[str]:
        """The users of the questions waiting, in the order they would be served."""
        with self._lock:
            return [w.user for w in sorted(self._waiting, key=self._order)]

    def _order(self, waiter: _Waiter) -> tuple[int, float, int]:
        return (self._at_work[waiter.user], self._served.get(waiter.user, float("-inf")),
                waiter.ticket)

    def _enter(self, user: str) -> _Waiter | None:
        with self._lock:
            self._at_work[user] += 1
            if self._free > 0 and not self._waiting:
                self._free -= 1
                self._served[user] = self.clock()
                return None
            waiter = _Waiter(user, next(self._tickets), threading.Event())
            self._waiting.append(waiter)
            return waiter

    def _leave(self, user: str) -> None:
        with self._lock:
            self._at_work[user] -= 1
            if self._at_work[user] <= 0:
                del self._at_work[user]
            if not self._waiting:
                self._free += 1
                self._forget()
                return
            chosen = min(self._waiting, key=self._order)  # the slot passes straight on
            self._waiting.remove(chosen)
            self._served[chosen.user] = self.clock()
            chosen.granted.set()

    def _forget(self) -> None:
        if len(self._served) > FORGET_AFTER:
            self._served = {u: t for u, t in self._served.items() if u in self._at_work}


__all__ = ["WAIT", "Turn", "WorkSlots", "slots_for"]
