"""Every request a user makes, by outcome, for ``rag-core costs report``: the paid ones and the
ones that cost nothing (a cache hit, a refusal, "nothing in your notes", an error).

A request the API turned away before the pipeline (a bad token, a body too large or invalid, the
write quota, the feedback rate) counts as ``rejected:<CODE>`` of its
user (``api.refusals``), or of ``ANYONE`` when its caller is not known (no valid token): the
user ids accept no empty string, so no user's figures mix with them.

Counted in process as the request ends and written to PostgreSQL (``request_counts``) by one
background thread of the process, about once a second, never on the request's path: a cache
hit does not wait for the database, nor hang on it while it is down. A write the database
refuses is kept and tried again (up to ``PENDING_MAX`` distinct rows, then the oldest figures
are dropped and the log says so). ``flush`` writes what is pending now (a closing service, a
CLI command before it exits, tests). These are counts, never money: the spend itself is the
ledger's (``rag_core.costs.ledger``), written before the answer is sent.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from rag_core.store.costs import CostStore
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.costs.requests")

FLUSH_EVERY_S = 1.0
PENDING_MAX = 100_000

Key = tuple[str, str, str]  # day, user, outcome
REJECTED = "rejected:"  # the outcome of a request turned away before the pipeline, then its code
ANYONE = ""  # the user of a request whose caller is not known


class RequestCounts:
    def __init__(self, costs: CostStore | None, day: Callable[[], str]) -> None:
        self.costs = costs
        self.day = day
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one write at a time, in order
        self._pending: Counter[Key] = Counter()
        if costs is not None:
            _flusher.add(self)

    def count(self, user_id: str, outcome: str) -> None:
        """One request of ``user_id`` ended with ``outcome`` (an
        ``assistant_requests_total`` label)."""
        if self.costs is None:
            return
        with self._lock:
            self._pending[(self.day(), user_id, outcome)] += 1
        _flusher.wake()

    def rejected(self, user_id: str | None, code: str) -> None:
        """A request of ``user_id`` (None: not known) turned away with the error ``code``
        before the pipeline."""
        self.count(user_id or ANYONE, REJECTED + code)

    def pending(self) -> int:
        with self._lock:
            return sum(self._pending.values())

    def flush(self) -> bool:
        """Write what is pending; False when the database refused it (it stays pending)."""
        if self.costs is None:
            return True
        with self._flushing:
            with self._lock:
                taken, self._pending = self._pending, Counter()
            if not taken:
                return True
            try:
                self.costs.add_requests([(*key, n) for key, n in sorted(taken.items())])
                return True
            except Exception as exc:  # the database is down: keep them for the next try
                with self._lock:
                    taken.update(self._pending)
                    self._pending = Counter(dict(taken.most_common(PENDING_MAX)))
                    dropped = len(taken) - len(self._pending)
                logs.log_event(log, logging.WARNING, "request counts not written yet",
                               error=type(exc).__name__, dropped_rows=dropped)
                return False


class Flushable(Protocol):
    def flush(self) -> bool: ...


class _Flusher:
    """The process's one thread that writes every live ``RequestCounts`` (and the other
    figures kept in process the same way: ``costs.saved``); at exit, one last write of each."""

    def __init__(self) -> None:
        self._counts: weakref.WeakSet[Flushable] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def add(self, counts: Flushable) -> None:
        with self._lock:
            self._counts.add(counts)

    def wake(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="request-counts",
                                                daemon=True)
                self._thread.start()

    def flush_all(self) -> None:
        with self._lock:
            live = list(self._counts)
        for counts in live:
            counts.flush()

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_EVERY_S)
            try:
                self.flush_all()
            except Exception:  # never let the thread die: the next round tries again
                log.exception("request counts flush failed")


_flusher = _Flusher()
atexit.register(_flusher.flush_all)


def written_in_background(pending: Flushable) -> None:
    """``pending.flush()`` called by the process's flushing thread (about once a second after
    ``wake``) and at exit, for as long as ``pending`` lives."""
    _flusher.add(pending)


def wake() -> None:
    """A figure is pending: make sure the flushing thread runs."""
    _flusher.wake()
