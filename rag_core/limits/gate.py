"""The gate every question passes before any work (``QuestionGate.admit``): the user's limits per
minute, hour and day, their questions in flight, everyone's questions of the hour and in flight.

A question admitted holds a place in flight until ``Admission.release`` (the end of its answer
or stream); a refused one raises ``RateLimited`` (429: ``minute``, ``hour``, ``day``,
``in_flight``) or ``Overloaded`` (503: everyone's hour, or no place freed in the fair queue
within 1 s), with ``Retry-After`` and the RateLimit headers, and costs nothing more: no
embedding, no model, no cache, no database round trip beyond the cached read of the user's own
limits (``own.OwnLimits``). A JSON question (``QuestionGate.counting``) is counted in its
windows at its exact lookup, in that read's one round trip (``Counting``): validated
first (CPU only), refused before any cache is read, and placed in flight only past the cache.

Counted in Redis (``counters.RedisCounter``), shared by every process and server. When Redis
fails the gate counts in this process (``counters.LocalCounter``, the same rates per process)
for ``REDIS_REST_S`` before it tries Redis again: questions go on being served and limited,
never answered 500. The Redis call is made on the event loop: one round trip, bounded by the
client's short timeout (``fixed.REDIS_TIMEOUT_S``), so a frozen Redis costs each process one
timeout per rest.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter as Tally
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

from rag_core.config import Limits
from rag_core.errors import Overloaded, RateLimited
from rag_core.limits.counters import (
    CHECK,
    GLOBAL,
    Ask,
    LimitCounter,
    LocalCounter,
    Outcome,
    RedisCounter,
    Window,
    outcome_of,
    trip,
)
from rag_core.limits.own import OwnLimits
from rag_core.limits.policy import WINDOWS, RateLimits, WindowCount, limits_for, tightest
from rag_core.limits.queue import FairQueue
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.redis_kv.joined import Arg
from rag_core.redis_kv.restarts import url_of
from rag_core.store.user_limits import UserLimitsTable
from rag_core.telemetry import logs, metrics

log = logging.getLogger("rag_core.limits")
LEASE_S = 600.0  # a place in flight of a process that died is freed after this
REDIS_REST_S = 5.0
_FAILED: tuple[type[Exception], ...] = (*REDIS_ERRORS, OSError, TimeoutError)


def rate_headers(count: WindowCount | None) -> dict[str, str]:
    """``RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (seconds until the window has room
    for one more) of one window; none without a window."""
    if count is None:
        return {}
    return {"RateLimit-Limit": str(count.limit), "RateLimit-Remaining": str(count.remaining()),
            "RateLimit-Reset": str(count.reset_s())}


def _headers_of(outcome: Outcome) -> dict[str, str]:
    """The RateLimit headers of an admitted question: the user's tightest window, itself
    counted."""
    counts = [replace(c, current=c.current + 1) for c in outcome.counts if c.name != GLOBAL]
    return rate_headers(tightest(counts))


@dataclass
class Admission:
    """A question let through: its place in flight (``token``; empty when only counted), what
    its windows counted, and the headers of its reply."""

    gate: QuestionGate
    user: str
    token: str
    counter: LimitCounter
    headers: dict[str, str] = field(default_factory=dict)
    counted: Ask | None = None  # what ``count`` counted (``place`` takes it back if refused)
    uncounted_headers: dict[str, str] = field(default_factory=dict)  # the windows without it
    released: bool = False

    def release(self) -> None:
        if self.released:
            return
        self.released = True
        self.gate.end(self)


@dataclass
class Counting:
    """One question's windows to count (``ask``: no token, no caps). ``admission``: the
    question let through, once counted; ``refusal``: what its windows refused it with."""

    gate: QuestionGate
    ask: Ask
    admission: Admission | None = None
    refusal: RateLimited | Overloaded | None = None
    done: bool = False
    script: ClassVar[str] = CHECK

    def trip(self, client: object) -> tuple[list[str], list[Arg]] | None:
        """The windows' keys and arguments, to count in a read's round trip on ``client``'s
        server; None when they are counted elsewhere: in this process (the gate has no Redis,
        or rests after it failed), on another server, or counted already."""
        remote = self.gate.remote
        if self.done or remote is None or self.gate.resting() or not _same(remote.client,
                                                                            client):
            return None
        keys, args = trip(self.ask)
        return keys, list(args)

    def settle(self, reply: Sequence[object]) -> None:
        """The windows' part of a joined reply: the question counted, or its refusal raised."""
        assert self.gate.remote is not None  # ``trip`` let it run there
        self.done = True
        self._counted(outcome_of(self.ask, reply), self.gate.remote, True)

    def alone(self) -> None:
        """Counted alone before a read that cannot carry the windows (``redis_kv.joined``)."""
        self.count()

    def count(self, *, refusing: bool = True) -> Admission | None:
        """The windows counted alone, unless a round trip counted them already: the question
        let through, or refused (raised). ``refusing=False``: a question the steps answered
        before their lookup (invalid, or refused by the service's own checks) counts where its
        windows have room and keeps its own answer."""
        if not self.done:
            self.done = True
            outcome, counter = self.gate.check(self.ask)
            self._counted(outcome, counter, refusing)
        return self.admission

    def _counted(self, outcome: Outcome, counter: LimitCounter, refusing: bool) -> None:
        try:
            self.admission = self.gate.counted(self.ask, outcome, counter, refusing=refusing)
        except (RateLimited, Overloaded) as exc:
            self.refusal = exc
            raise


@dataclass(frozen=True)
class Remaining:
    """What ``/v1/stats`` and ``/v1/rate-limit/status`` show of the caller's limits: each
    window's counts (None: the window is off) and what is left of it."""

    limits: RateLimits
    source: str
    remaining: dict[str, int | None]
    in_flight: int
    counts: dict[str, WindowCount | None] = field(default_factory=dict)


class QuestionGate:
    def __init__(self, section: Limits, redis: RedisClient | None, table: UserLimitsTable, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.section = section
        self.remote = RedisCounter(redis) if redis is not None else None
        self.local = LocalCounter()
        self.own = OwnLimits(table)
        self.clock = clock
        self.here: Tally[str] = Tally()  # questions in flight in this process, per user
        self.queue = FairQueue(lambda user: self.here[user])
        self._rest_until = 0.0

    async def applied(self, user: str, tier: object = None) -> tuple[RateLimits, str]:
        return limits_for(self.section, tier, await self.own.get(user))

    def _ask(self, user: str, limits: RateLimits) -> Ask:
        windows = [Window(name, size, n) for (name, size), n in
                   zip(WINDOWS, limits.by_window().values(), strict=True) if n]
        if self.section.max_queries_per_hour:
            windows.append(Window(GLOBAL, 3_600, self.section.max_queries_per_hour, user=False))
        return Ask(user, uuid.uuid4().hex, self.clock(), tuple(windows),
                   self.section.user_max_in_flight, self.section.max_concurrent_queries,
                   LEASE_S)

    def check(self, ask: Ask) -> tuple[Outcome, LimitCounter]:
        """``ask`` checked (and counted when admitted) in Redis, or in this process while
        Redis rests after a failure."""
        if self.remote is not None and not self.resting():
            try:
                return self.remote.check(ask), self.remote
            except _FAILED as exc:
                self._rest_until = time.monotonic() + REDIS_REST_S
                logs.log_event(log, logging.WARNING, "request limits counted in this process: "
                               "Redis failed", error=type(exc).__name__)
        return self.local.check(ask), self.local

    def resting(self) -> bool:
        """Whether the limits are counted in this process now (Redis failed lately)."""
        return time.monotonic() < self._rest_until

    async def admit(self, user: str, tier: object = None) -> Admission:
        """A place for one question of ``user`` (whose token's ``tier`` claim is ``tier``),
        counted in its windows, or ``RateLimited`` / ``Overloaded``: one script for both (a
        streamed question, which always goes past the cache)."""
        limits, _ = await self.applied(user, tier)
        return await self._placed(user, lambda: self._ask(user, limits))

    async def count(self, user: str, tier: object = None) -> Admission:
        """The question counted in ``user``'s windows (and everyone's hour), taking no place in
        flight: what every question pays, an exact cache hit included, which costs the model
        and the CPU nothing worth a place. ``RateLimited`` / ``Overloaded`` for a full window.
        ``place`` takes the place once the question goes past the cache."""
        admission = (await self.counting(user, tier)).count()
        assert admission is not None  # refusing: counted, or raised
        return admission

    async def counting(self, user: str, tier: object = None) -> Counting:
        """``count``'s windows, not counted yet: the question route counts them in the exact
        lookup's round trip (``Counting``)."""
        limits, _ = await self.applied(user, tier)
        return Counting(self, replace(self._ask(user, limits), token="", user_max_in_flight=0,
                                      max_concurrent=0))

    def counted(self, ask: Ask, outcome: Outcome, counter: LimitCounter, *,
                refusing: bool = True) -> Admission | None:
        """What counting ``ask`` (no place) came to: the question let through, or its refusal
        raised (None when not ``refusing``: nothing was counted)."""
        if outcome.status != "admitted":
            if refusing:
                raise self._refusal(outcome)
            return None
        return Admission(self, ask.user, "", counter, _headers_of(outcome), counted=ask,
                         uncounted_headers=rate_headers(tightest(
                             [c for c in outcome.counts if c.name != GLOBAL])))

    async def place(self, counted: Admission) -> Admission:
        """A place in flight for a question ``count`` let through (its windows are not counted
        again), or ``RateLimited`` (``in_flight``) / ``Overloaded`` (no place freed in the fair
        queue's wait). The counted headers stay the reply's."""
        ask = counted.counted
        if ask is None:
            raise ValueError("place() takes what count() returned")
        user = counted.user
        try:
            placed = await self._placed(user, lambda: replace(
                ask, token=uuid.uuid4().hex, now=self.clock(), windows=(),
                user_max_in_flight=self.section.user_max_in_flight,
                max_concurrent=self.section.max_concurrent_queries))
        except (RateLimited, Overloaded) as exc:  # a refused question is counted nowhere
            self._uncount(counted.counter, ask)
            exc.headers = {**counted.uncounted_headers, **exc.headers}
            raise
        placed.headers = counted.headers
        return placed

    async def _placed(self, user: str, ask: Callable[[], Ask]) -> Admission:
        first = None if len(self.queue) else self.check(ask())
        checked = first
        if checked is None or checked[0].status == "busy":
            checked = await self.queue.wait(user, lambda: self._settled(ask))
            if checked is None:
                self._refuse("concurrent")
                error = Overloaded("concurrent", (
                    "Every place for a question is taken (RAG_MAX_CONCURRENT_QUERIES); "
                    "retry shortly."), retry_after=1.0)
                if first is not None:  # the user's own windows as the question met them
                    error.headers = rate_headers(tightest(
                        [c for c in first[0].counts if c.name != GLOBAL]))
                raise error
        outcome, counter = checked
        if outcome.status != "admitted":
            raise self._refusal(outcome)
        self.here[user] += 1
        metrics.RATE_LIMIT_IN_FLIGHT.inc()
        return Admission(self, user, outcome.token, counter, _headers_of(outcome))

    def _uncount(self, counter: LimitCounter, ask: Ask) -> None:
        try:
            counter.uncount(ask)
        except _FAILED as exc:  # the window keeps one question too many until it slides
            logs.log_event(log, logging.WARNING, "refused question left counted: Redis failed",
                           error=type(exc).__name__)

    def _settled(self, ask: Callable[[], Ask]) -> tuple[Outcome, LimitCounter] | None:
        checked = self.check(ask())
        return None if checked[0].status == "busy" else checked

    def _refuse(self, limit: str) -> None:
        metrics.RATE_LIMIT_REJECTIONS.labels(limit=limit).inc()

    def _refusal(self, outcome: Outcome) -> RateLimited | Overloaded:
        counts = [c for c in outcome.counts if c.name != GLOBAL]
        headers = rate_headers(tightest(counts))
        if outcome.status == "in_flight":
            self._refuse("in_flight")
            error: RateLimited | Overloaded = RateLimited("in_flight", (
                f"You have {outcome.user_in_flight} questions being answered, the most at once "
                "(RAG_USER_MAX_IN_FLIGHT); ask again when one is answered."), retry_after=1.0)
        else:
            window = next(c for c in outcome.counts if c.name == outcome.refused)
            wait = max(1.0, window.reset())
            self._refuse(window.name)
            if window.name == GLOBAL:
                error = Overloaded(GLOBAL, (
                    f"The service has answered the {window.limit:,} questions it takes in an "
                    f"hour (RAG_MAX_QUERIES_PER_HOUR); retry after {wait:.0f} s."),
                    retry_after=wait)
            else:
                error = RateLimited(window.name, (
                    f"Limit reached: {window.limit:,} questions a {window.name}; retry after "
                    f"{wait:.0f} s."), retry_after=wait)
                headers = rate_headers(window)
        error.headers = headers
        return error

    def end(self, admission: Admission) -> None:
        if not admission.token:  # counted only: no place was taken
            return
        self.here[admission.user] -= 1
        if self.here[admission.user] <= 0:
            del self.here[admission.user]
        metrics.RATE_LIMIT_IN_FLIGHT.dec()
        try:
            admission.counter.release(admission.user, admission.token)
        except _FAILED as exc:  # its lease frees the place
            logs.log_event(log, logging.WARNING, "place in flight not released: Redis failed",
                           error=type(exc).__name__)

    async def remaining(self, user: str, tier: object = None) -> Remaining:
        """The caller's limits and what is left of each window, counting nothing."""
        limits, source = await self.applied(user, tier)
        ask = self._ask(user, limits)
        # a probe counts nothing: with every limit at 0 nothing fits, so nothing is taken
        probe = replace(ask, windows=tuple(replace(w, limit=0) for w in ask.windows),
                        user_max_in_flight=0, max_concurrent=0)
        if not probe.windows:
            probe = replace(probe, windows=(Window("probe", 60, 0),))
        outcome, _ = self.check(probe)
        real = {w.name: w.limit for w in ask.windows}
        left: dict[str, int | None] = {name: None for name, _ in WINDOWS}
        counts: dict[str, WindowCount | None] = {name: None for name, _ in WINDOWS}
        for count in outcome.counts:
            if count.name in left:
                counted = replace(count, limit=real[count.name])
                counts[count.name], left[count.name] = counted, counted.remaining()
        return Remaining(limits, source, left, outcome.user_in_flight, counts)


def _same(one: object, other: object) -> bool:
    """Whether two clients talk to one Redis server (the same client, or the same URL)."""
    if one is other:
        return True
    url = url_of(one)
    return url is not None and url == url_of(other)


__all__ = ["Admission", "Counting", "QuestionGate", "Remaining", "rate_headers"]
