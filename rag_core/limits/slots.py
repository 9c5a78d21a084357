"""Work slots: a fair share of this process's CPUs among the questions already admitted.

The request limits and the fair queue (``gate``, ``queue``) decide which questions are let in;
once in, a question's steps 1-5 (validation, the cache lookups, embedding, the search, the
decisions and the context: the CPU-bound part of a question, before the model is called) need a
work slot of this process. There are as many slots as the process has CPUs to itself
(``RAG_WORK_SLOTS``; 0: the CPUs the process may use divided by the server's workers, at least
one). A question that finds every slot taken waits, and a freed slot goes to the waiting
question whose user has used the slots least lately: each user's time holding a slot, decayed
by half every ``HALF_LIFE_S`` seconds (a recent step counts fully, one from a minute ago not at
all). Among one user's questions the one that came first goes first. So a user who asks once a
second never waits behind a flooder's queue (its use is a small fraction of the flooder's), and
a user whose questions wait moves up while they wait: its use decays while the others' grows as
they are served, so every waiting question gets its turn (a rule by the questions each user had
at work starved the user with the most of them, and an account shared by a team is such a user).
Between two steps a question holding a slot, its use now counted, gives the slot to a waiting
question of a user who has used less (``SlotTurn.pass_on``, called by ``Run.step``) and waits again
in its first place among its user's questions: so the one-a-second user waits for at most one
step of another's question, not all of its steps. The model's answer (step 6) holds no slot:
waiting on the model costs no CPU.

Threads, not the event loop: the steps run in the app's worker threads (``run_in_threadpool``),
so a waiting question blocks its thread, never the loop.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from rag_core.limits.shedding import shed
from rag_core.procs import worker_cpus
from rag_core.telemetry import metrics

# the slot time a question that has held a slot for the given seconds still needs, over the
# slots (``Shedder.need``): what it adds to the wait of those behind it
Need = Callable[[float], float]
HALF_LIFE_S = 2.0  # a user's use of the slots halves in this time: "lately" is a few seconds
FORGET_AFTER = 4_096  # users whose use is remembered; beyond, only those at work are kept


def slots_for(configured: int, environ: Mapping[str, str] | None = None) -> int:
    """``configured`` when above 0; else the CPUs of one server worker
    (``procs.worker_cpus``: the CPUs this process may use divided by ``WEB_CONCURRENCY``)."""
    return configured if configured > 0 else worker_cpus(environ)


@dataclass
class _Waiter:
    user: str
    ticket: int  # the question's place among its user's: kept when it gives way
    granted: threading.Event = field(default_factory=threading.Event)
    deadline: float | None = None  # the latest it may take a slot (``time.perf_counter``)
    need: Need | None = None  # with a deadline: how its wait is predicted
    held: float = 0.0  # the slot time its question has held so far (one that gave way)
    refused: float | None = None  # the predicted wait it was refused for, while waiting
    refused_at: float = 0.0  # when (``time.perf_counter``)


@dataclass
class SlotTurn:
    """One question's hold of a slot: what it waited, and its way to give way between steps."""

    slots: WorkSlots
    user: str
    ticket: int
    waited: float = 0.0
    since: float = 0.0  # when it last took the slot (the slots' clock)
    held: float = 0.0  # its time holding the slot so far, counted at each step's end

    def pass_on(self) -> None:
        started = time.perf_counter()
        if self.slots.pass_on(self):
            self.waited += time.perf_counter() - started


@dataclass
class _Use:
    """One user's time holding slots, decayed to ``at``."""

    seconds: float = 0.0
    at: float = 0.0


class WorkSlots:
    def __init__(self, size: int, *, clock: Callable[[], float] = time.monotonic,
                 half_life_s: float = HALF_LIFE_S) -> None:
        if size < 1:
            raise ValueError("a process needs at least one work slot")
        self.size = size
        self.clock = clock
        self.half_life_s = half_life_s
        self._lock = threading.Lock()
        self._free = size
        self._use: dict[str, _Use] = {}
        self._at_work: dict[str, int] = {}  # per user: questions holding or waiting for a slot
        self._waiting: list[_Waiter] = []
        self._tickets = itertools.count()

    @contextmanager
    def hold(self, user: str, deadline: float | None = None,
             need: Need | None = None) -> Iterator[SlotTurn]:
        """A slot for one question of ``user`` while the block runs. The block calls
        ``SlotTurn.pass_on`` between its steps; ``SlotTurn.waited`` is the time it waited in all.
        ``deadline`` (``time.perf_counter``): the latest it may take the slot. While it waits,
        each time the order of the waiting changes (one comes, one is served), its wait is
        predicted from those ahead of it in that order (``need``: what a question that has held
        a slot so long still needs of one, over the slots; a question that gave way between its
        steps needs only the rest); when that outlasts what is left until its deadline it leaves
        the queue refused at once (``shedding.Shed``, reason ``waiting``, Retry-After the
        predicted wait), and still waiting at its deadline it leaves refused (reason
        ``deadline``)."""
        started = time.perf_counter()
        turn, waiter = self._enter(user, deadline, need)
        if waiter is not None:
            begun = time.perf_counter()
            timeout = None if deadline is None else max(0.0, deadline - begun)
            if not waiter.granted.wait(timeout):  # due then: at its deadline, or at once
                self._give_up(turn, waiter, due=begun + (timeout or 0.0))
            if waiter.refused is not None:
                raise shed("waiting", waiter.refused, due=waiter.refused_at)
            turn.since = self.clock()
        turn.waited = time.perf_counter() - started
        metrics.WORK_SLOT_WAIT.observe(turn.waited)
        try:
            yield turn
        finally:
            self._leave(turn)

    def pass_on(self, turn: SlotTurn) -> bool:
        """Between two steps of the question holding ``turn``: its step counted to its user,
        when a question of a user who has used the slots less is waiting, the slot goes to it
        and this one waits again, first among its user's questions (True once it has a slot
        again). A user who has used as much or more is not given way to."""
        with self._lock:
            now = self.clock()
            held = self._charge(turn, now)
            if not self._waiting:
                return False
            chosen = self._first(now)
            if self._used(chosen.user, now) >= held:
                return False
            self._grant(chosen)
            waiter = _Waiter(turn.user, turn.ticket, held=turn.held)
            self._waiting.append(waiter)
            self._cull(now)
        waiter.granted.wait()
        turn.since = self.clock()
        return True

    def waiting(self) -> list[str]:
        """The users of the questions waiting, in the order they would be served."""
        with self._lock:
            now = self.clock()
            return [w.user for w in sorted(self._waiting, key=self._order(now))]

    def free(self) -> int:
        """The slots no question holds now."""
        with self._lock:
            return self._free

    def used(self, user: str) -> float:
        """``user``'s time holding slots, decayed to now (seconds)."""
        with self._lock:
            return self._used(user, self.clock())

    def _used(self, user: str, now: float) -> float:
        use = self._use.get(user)
        if use is None:
            return 0.0
        return use.seconds * 0.5 ** (max(0.0, now - use.at) / self.half_life_s)

    def _charge(self, turn: SlotTurn, now: float) -> float:
        """Count the slot's time since ``turn.since`` to its user; their use now."""
        piece = max(0.0, now - turn.since)
        seconds = self._used(turn.user, now) + piece
        self._use[turn.user] = _Use(seconds, now)
        turn.since, turn.held = now, turn.held + piece
        return seconds

    def _order(self, now: float) -> Callable[[_Waiter], tuple[float, int]]:
        used: dict[str, float] = {}

        def key(waiter: _Waiter) -> tuple[float, int]:
            if waiter.user not in used:
                used[waiter.user] = self._used(waiter.user, now)
            return used[waiter.user], waiter.ticket
        return key

    def _first(self, now: float) -> _Waiter:
        return min(self._waiting, key=self._order(now))

    def _grant(self, chosen: _Waiter) -> None:
        self._waiting.remove(chosen)
        chosen.granted.set()

    def _enter(self, user: str, deadline: float | None,
               need: Need | None) -> tuple[SlotTurn, _Waiter | None]:
        with self._lock:
            now = self.clock()
            self._at_work[user] = self._at_work.get(user, 0) + 1
            turn = SlotTurn(self, user, next(self._tickets), since=now)
            if self._free > 0 and not self._waiting:
                self._free -= 1
                return turn, None
            waiter = _Waiter(user, turn.ticket, deadline=deadline, need=need)
            self._waiting.append(waiter)
            self._cull(now)
            return turn, waiter

    def _cull(self, now: float) -> None:
        """The order of the waiting changed: each waiting question with a deadline whose wait,
        predicted from those ahead of it in the order (what each still needs of a slot), outlasts
        what is left until its deadline leaves the queue refused (its thread raises). A question
        with nobody ahead of it never does."""
        need = next((w.need for w in self._waiting if w.need is not None), None)
        if need is None:
            return
        at, wait = time.perf_counter(), 0.0  # wait: what those kept ahead of the next need
        for waiter in sorted(self._waiting, key=self._order(now)):
            if waiter.deadline is not None and wait > 0.0 and wait > waiter.deadline - at:
                waiter.refused, waiter.refused_at = wait, at
                self._waiting.remove(waiter)
                self._forget(waiter.user)
                waiter.granted.set()
            else:
                wait += need(waiter.held)

    def _give_up(self, turn: SlotTurn, waiter: _Waiter, due: float) -> None:
        """``waiter``'s deadline passed: out of the queue and refused (Retry-After its wait
        predicted from those ahead of it now, at least 1 s), unless it was granted the slot or
        refused meanwhile. ``due``: when its wait was to end (its deadline, or when it began
        if that was already past: a question that reached its slot late, behind the others
        waiting for a thread, was not late on its way out)."""
        with self._lock:
            if waiter.granted.is_set():
                return
            ahead = sorted(self._waiting, key=self._order(self.clock()))
            ahead = ahead[:ahead.index(waiter)]
            self._waiting.remove(waiter)
            self._forget(turn.user)
        need = waiter.need
        raise shed("deadline", 0.0 if need is None else sum(need(w.held) for w in ahead),
                   due=due)

    def _forget(self, user: str) -> None:
        left = self._at_work[user] - 1
        if left > 0:
            self._at_work[user] = left
        else:
            del self._at_work[user]

    def _leave(self, turn: SlotTurn) -> None:
        with self._lock:
            now = self.clock()
            self._charge(turn, now)
            self._forget(turn.user)
            if len(self._use) > FORGET_AFTER:  # the others start afresh, as a new user does
                self._use = {u: use for u, use in self._use.items() if u in self._at_work}
            if not self._waiting:
                self._free += 1
                return
            self._grant(self._first(now))  # the slot passes straight on
            self._cull(now)


__all__ = ["HALF_LIFE_S", "SlotTurn", "WorkSlots", "slots_for"]
