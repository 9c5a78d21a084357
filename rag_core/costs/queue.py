"""A durable queue of cost rows that PostgreSQL did not take.

When the database fails between a generation and its cost row, the row goes to a JSON-lines
file under the state folder (fsync'd), and is inserted later: on the next commit once
``RETRY_EVERY_S`` has passed, and by any process of the same state folder (a file lock keeps two
from draining one file at once). A paid answer is never lost from the durable record.

A process that dies after inserting a row and before rewriting its file inserts that row again
on the next drain: the error is an over-count, never an under-count.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rag_core.costs.rows import QueuedCost
from rag_core.store.costs import CostStore
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.costs.ledger")
RETRY_EVERY_S = 5.0


class CostQueue:
    def __init__(self, folder: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self._file = folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self._clock = clock
        self._lock = threading.Lock()
        self._tried = -RETRY_EVERY_S

    def put(self, row: QueuedCost) -> None:
        """Append one row durably (written and fsync'd before this returns)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self._file, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        logs.log_event(log, logging.ERROR, "cost row queued: the database did not take it",
                       day=row.get("day"), user_hash=logs.hash_id(str(row.get("user_id"))))

    def pending(self) -> int:
        return sum(len(_read(f)) for f in self._files())

    def drain_due(self, store: CostStore) -> int:
        """``drain`` at most once per ``RETRY_EVERY_S`` (cheap to call on every commit)."""
        if self._clock() - self._tried < RETRY_EVERY_S or not self.folder.exists():
            return 0
        return self.drain(store)

    def drain(self, store: CostStore) -> int:
        """Insert every queued row the database takes now; keep the others. Returns how many
        went in."""
        self._tried = self._clock()
        done = 0
        for path in self._files():
            with _locked(path) as rows:
                left: list[QueuedCost] = []
                for row in rows:
                    try:
                        store.add_cost(row["day"], row["user_id"], row["cost_usd"],
                                       row["input_tokens"], row["output_tokens"],
                                       reservation_id=row.get("reservation_id"))
                        done += 1
                    except Exception:  # still down: keep it and the rest for later
                        left.append(row)
                _rewrite(path, left)
        if done:
            logs.log_event(log, logging.INFO, "queued cost rows recorded", rows=done)
        return done

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("*.jsonl")) if self.folder.exists() else []


def _read(path: Path) -> list[QueuedCost]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    rows: list[QueuedCost] = []  # as ``put`` wrote them
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:  # a line cut by a crash mid-write
            continue
    return rows


@contextmanager
def _locked(path: Path) -> Iterator[list[QueuedCost]]:
    with open(path.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield _read(path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _rewrite(path: Path, rows: list[QueuedCost]) -> None:
    if not rows:
        path.unlink(missing_ok=True)
        path.with_suffix(".lock").unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(path)
