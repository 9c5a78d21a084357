"""At most a few notes' embeddings at once per process, so that writes leave CPU for serving.

Embedding a note's chunks is the heaviest work a request can ask for (four 480 KB notes written
at once took 171 CPU-seconds, and another user's cached answer waited 8.8 s meanwhile). Each
group of chunks that ingestion embeds holds one of :data:`SLOTS`'s places, sized to the CPUs
this process may use less one (at least one): a write beyond that waits for a place, and its
request still returns only once its notes are searchable. Questions are embedded outside it.
``in_use`` and ``waiting`` say how many embed and wait right now.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class EmbeddingSlots:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.in_use = 0
        self.waiting = 0
        self._free = threading.Condition()

    @contextmanager
    def held(self) -> Iterator[None]:
        """One place for the duration of the block (waiting for one while all are taken)."""
        with self._free:
            self.waiting += 1
            try:
                self._free.wait_for(lambda: self.in_use < self.size)
            finally:
                self.waiting -= 1
            self.in_use += 1
        try:
            yield
        finally:
            with self._free:
                self.in_use -= 1
                self._free.notify()


SLOTS = EmbeddingSlots(usable_cpus() - 1)
