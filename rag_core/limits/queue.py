"""The fair queue: while every process's questions in flight are at ``RAG_MAX_CONCURRENT_QUERIES``,
a question waits here (at most ``FAIR_WAIT_S``, 1 s) and the next one let through is that of the
user with the fewest questions in flight in this process (the earliest among equals), not that of
the user who sent the most. Only the waiter at the head asks the counter again, every
``POLL_S``: a place freed in this process or in another is seen within that time.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

FAIR_WAIT_S = 1.0
POLL_S = 0.01
T = TypeVar("T")


@dataclass
class FairQueue:
    in_flight: Callable[[str], int]  # a user's questions in flight in this process
    waiting: dict[int, str] = field(default_factory=dict)  # ticket: user
    tickets: itertools.count[int] = field(default_factory=itertools.count)

    def head(self) -> int | None:
        if not self.waiting:
            return None
        return min(self.waiting, key=lambda t: (self.in_flight(self.waiting[t]), t))

    def __len__(self) -> int:
        return len(self.waiting)

    async def wait(self, user: str, attempt: Callable[[], T | None],
                   wait_s: float = FAIR_WAIT_S) -> T | None:
        """``attempt()`` at the head of the queue until it gives something other than None
        (a place, or a refusal) or ``wait_s`` passes (None)."""
        ticket = next(self.tickets)
        self.waiting[ticket] = user
        deadline = time.monotonic() + wait_s
        try:
            while True:
                if self.head() == ticket:
                    got = attempt()
                    if got is not None:
                        return got
                if time.monotonic() >= deadline:
                    return None
                await asyncio.sleep(POLL_S)
        finally:
            del self.waiting[ticket]
