"""At most a few notes' embeddings at once per process, so that writes leave CPU for serving.

Embedding a note's chunks is the heaviest work a request can ask for (four 480 KB notes written
at once took 171 CPU-seconds, and another user's cached answer waited 8.8 s meanwhile). Each
group of chunks that ingestion embeds holds one of :data:`SLOTS`'s places, sized to the CPUs
this process may use less one (at least one): a write beyond that waits for a place, and its
request still returns only once its notes are searchable. Questions are embedded outside it.
``in_use`` and ``waiting`` say how many embed and wait right now.

The slots bound how many embed, not how much of the CPUs they take: a slot's embedding still
ran its model's threads beside the event loop at the same priority, and another user's cached
answer waited up to 4.85 s while one large note embedded (issue 61). So the embedding itself runs
on the slots' own pool (``EmbeddingSlots.run``), a thread per slot, at a lower priority
(:data:`INGEST_NICENESS` above the process's, on Linux, where niceness is a thread's own): on
a busy machine the scheduler serves questions first, and on an idle one ingestion still takes
every free cycle. The yield is partial: torch's intra-op worker threads are one pool shared
with the questions' embedding, at the process's priority, and they ran about 40 % of an
ingestion embedding's CPU (measured on two cores: 115 of 270 ticks; the rest on the slot's
thread). The thread that asked waits for the result, so a write still returns once its notes
are searchable.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
# How much lower than the process's priority ingestion's embedding threads run (nice values
# 0-19: at 10 a thread gets about a tenth of the CPU that a thread at 0 competing for the same
# core gets, and all of it when nothing else runs).
INGEST_NICENESS = 10


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class LowPriorityThreads:
    """A pool of ``size`` threads at a lower priority (:data:`INGEST_NICENESS`), made in the
    process that first uses it (a forked child makes its own)."""

    def __init__(self, size: int, name: str = "ingest-embed") -> None:
        self.size = max(1, size)
        self.name = name
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` on one of the pool's threads; its result (or its error) once done."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.size, self.name,
                                                initializer=lower_priority)
                self._pid = os.getpid()
            pool = self._pool
        return pool.submit(work).result()


def lower_priority() -> None:
    """The calling thread's niceness raised by :data:`INGEST_NICENESS` (Linux only: elsewhere
    niceness is the whole process's, which serving shares; left as it is)."""
    if sys.platform != "linux":
        return
    me = threading.get_native_id()
    # where it is not allowed, the thread runs at the process's priority
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, me,
                       min(19, os.getpriority(os.PRIO_PROCESS, me) + INGEST_NICENESS))


class EmbeddingSlots:
    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self.in_use = 0
        self.waiting = 0
        self._free = threading.Condition()
        self._threads = LowPriorityThreads(self.size)

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` (an embedding) in one place, on one of the slots' lower-priority
        threads; its result once done (the caller waits)."""
        with self.held():
            return self._threads.run(work)

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
