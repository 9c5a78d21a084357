"""A question's windows (minute, hour, day, everyone's hour), counted once and taking no place
in flight (``QuestionGate.count``): in the exact lookup's round trip when that read can carry
them (``trip``, then ``settle``: ``redis_kv.joined``), else alone (``count``).

The question route hands one ``Counting`` to the loop's driver (``answers.drive.on_loop``),
which counts it at step 2's read: a cached answer then costs admission and the lookup one
Redis round trip together, and gives nothing back. The windows are the gate's either way: the
same script (``counters.CHECK``), the same keys and arguments (``counters.trip``), the same
refusals and headers (``QuestionGate.counted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from rag_core.errors import Overloaded, RateLimited
from rag_core.limits.counters import CHECK, Ask, LimitCounter, Outcome, outcome_of, trip
from rag_core.redis_kv.joined import Arg
from rag_core.redis_kv.restarts import url_of

if TYPE_CHECKING:
    from rag_core.limits.gate import Admission, QuestionGate


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


def _same(one: object, other: object) -> bool:
    """Whether two clients talk to one Redis server (the same client, or the same URL)."""
    if one is other:
        return True
    url = url_of(one)
    return url is not None and url == url_of(other)
