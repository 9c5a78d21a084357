"""The notes version Redis keeps, held to what PostgreSQL holds now.

Every answer key names the user's notes version, so an answer is only ever served for the
version read first. That read comes from Redis (an L1 hit needs no database), which is safe
only while Redis's copy is the truth. Two things break that, and this module repairs both
before Redis answers for that user again:

- **a version write that failed** (Redis frozen or down while a note changed): the change is
  remembered (``debts``) and redone, with the purge of the user's older entries, at the next
  lookup that finds Redis answering; until then that user's version is read from PostgreSQL
  (and nothing is stored: the write condition finds Redis's older version). PostgreSQL records
  the debt in the note change's own transaction (``rag_core.store.version_debts``), and every
  process polls those records (``POLL_S``): a process that dies before it wrote the version
  leaves its debt to the others, which read that user's version from PostgreSQL and redo the
  write once it is ``REDO_AFTER_S`` old;
- **a Redis that restarted** (a new ``run_id``, seen by ``redis_kv.restarts``): it may have come
  back from its append-only file with versions older than writes it never ran, so every version
  key is dropped (each is read again from PostgreSQL); until that succeeds, versions come from
  PostgreSQL. A read of the version that met the restart itself is not trusted either.

The poll alone leaves a window: a process cut off from Redis (a partition) commits a delete,
its version write fails, and until the others' next poll they keep reading the old version
from Redis and serving the deleted note's cached answers. So the note change's transaction
also announces the new version (PostgreSQL's LISTEN/NOTIFY, delivered on commit:
``rag_core.store.version_notices``), and every process that polls keeps one listening session
in a second daemon thread: a notice marks that user as read from PostgreSQL at once
(``elsewhere``) until a poll that began after it finds the debt settled. The deleting request
returns only after its Redis write timed out, well after the commit, so a question asked once
the delete has returned already sees the change. A dropped session is opened again after a
growing pause; the poll (``POLL_S``) stays, and covers what was announced meanwhile.

A process whose own Redis connection was cut may have missed a change the same way, without
Redis restarting: after any of its connections is opened again (``RunIdWatch.reconnects``; a
pool that grows does not count), versions come from PostgreSQL until a poll that began after
it has run, and a read that opened a connection again is not trusted (``epoch``).

The service keeps answering throughout: PostgreSQL's truth, uncached when it must.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from rag_core.cache.base import Cache
from rag_core.cache.redis_cache import RedisCache
from rag_core.redis_kv.client import REDIS_ERRORS
from rag_core.redis_kv.keys import notes_version_key, version_pattern
from rag_core.redis_kv.restarts import RunIdWatch
from rag_core.store.version_debts import VersionDebts
from rag_core.store.version_notices import PgVersionNotices, VersionNotice, listen
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.cache")

MAX_DEBTS_PER_CALL = 16  # debts of other users settled on the way (the asker's always is)
POLL_S = 1.0  # how often the debts PostgreSQL records are read
# A recorded debt younger than this is left to the process that made it (it writes the version
# within milliseconds unless Redis fails); it is read from PostgreSQL meanwhile all the same.
REDO_AFTER_S = 2.0


class NotesVersions:
    def __init__(self, versions: Cache, ttl_s: int, purge: Callable[[str], object],
                 watch: RunIdWatch | None = None, recorded: VersionDebts | None = None
                 ) -> None:
        self.versions = versions
        self.ttl_s = ttl_s
        self.purge = purge  # drops a user's entries of every version; raises when Redis fails
        self.watch = watch
        self.debts: dict[str, int] = {}  # user -> the version Redis failed to take
        self.recorded = recorded  # the debts of every process, in PostgreSQL
        self.elsewhere: dict[str, int] = {}  # user -> version, as the last poll read them
        self._seen = watch.changes if watch is not None else 0
        self._lock = threading.Lock()
        self._heard: dict[str, tuple[int, int]] = {}  # user -> (version, notice number)
        self._notices = 0  # notices heard so far
        self._polled = self._reconnects()  # Redis reconnects a completed poll began after
        self._poller: threading.Thread | None = None
        self._listener: threading.Thread | None = None
        self.listening: int | None = None  # the listening session's backend (None: none)
        self._starting = threading.Lock()
        self._warned = -1e9
        self._stop = threading.Event()

    def epoch(self) -> int:
        """Changes of the server's run_id seen so far, and (while the debts are polled) the
        connections opened again: compare before and after a read."""
        if self.watch is None:
            return 0
        return self.watch.changes + self._reconnects()

    def _reconnects(self) -> int:
        return (self.watch.reconnects if self.watch is not None and self.recorded is not None
                else 0)

    def trusted(self, user_id: str) -> bool:
        """True when Redis's copy of ``user_id``'s version may be read: a restart has been
        dealt with and no failed write of that user is pending (both are settled here first
        when Redis answers)."""
        if self._changes() != self._seen and not self._drop_all():
            return False
        if self.recorded is not None and self._poller is None:
            self._start_polling()
        if self.debts:
            self._settle(user_id)
        return (user_id not in self.debts and user_id not in self.elsewhere
                and self._reconnects() == self._polled)

    def trusted_now(self, user_id: str) -> bool:
        """``trusted`` when it has nothing to settle first (no I/O): no restart unhandled,
        the debts' poller running, no failed write pending, none recorded for this user."""
        return (self._changes() == self._seen and not self.debts
                and (self.recorded is None or self._poller is not None)
                and user_id not in self.elsewhere and self._reconnects() == self._polled)

    def heard(self, notice: VersionNotice) -> None:
        """PostgreSQL announced a committed change of a user's notes: that user's version is
        read from PostgreSQL until a poll that began after this finds its debt settled."""
        with self._lock:
            self._notices += 1
            self._heard[notice.user_id] = (notice.version, self._notices)
            self.elsewhere = {**self.elsewhere, notice.user_id: max(
                notice.version, self.elsewhere.get(notice.user_id, notice.version))}

    def poll(self) -> None:
        """Read the debts PostgreSQL records; redo those old enough once Redis answers."""
        if self.recorded is None:
            return
        began, reconnects = self._notices, self._reconnects()
        try:
            owed = self.recorded.owed()
        except Exception as exc:  # PostgreSQL away: keep what the last poll read
            self._polled = reconnects  # and trust Redis again: nothing else can answer
            if time.monotonic() - self._warned >= 30:  # once per 30 s, not per poll
                self._warned = time.monotonic()
                logs.log_event(log, logging.WARNING, "notes version debts unreadable",
                               error=type(exc).__name__)
            return
        with self._lock:  # notices heard since this poll began stand until the next one
            self._heard = {u: h for u, h in self._heard.items() if h[1] > began}
            elsewhere = {d.user_id: d.version for d in owed}
            for user, (version, _) in self._heard.items():
                elsewhere[user] = max(version, elsewhere.get(user, version))
            self.elsewhere = elsewhere
            self._polled = reconnects
        for debt in owed:
            if debt.age_s < REDO_AFTER_S:
                continue
            with self._lock:
                self.debts[debt.user_id] = max(debt.version,
                                               self.debts.get(debt.user_id, debt.version))
            if not self._redo(debt.user_id):
                return  # Redis is not answering: the rest wait too
            with self._lock:
                if debt.user_id not in self._heard:
                    self.elsewhere = {u: v for u, v in self.elsewhere.items()
                                      if u != debt.user_id}

    def close(self) -> None:
        self._stop.set()

    def _start_polling(self) -> None:
        with self._starting:
            if self._poller is not None:
                return
            self.poll()  # the first read before the first answer
            self._poller = threading.Thread(target=_poll_while_alive,
                                            args=(weakref.ref(self), self._stop),
                                            name="notes-version-debts", daemon=True)
            self._poller.start()
            notices = self.recorded.notices if self.recorded is not None else None
            if notices is not None:
                self._listener = threading.Thread(
                    target=_listen_while_alive, args=(notices, weakref.ref(self), self._stop),
                    name="notes-version-notices", daemon=True)
                self._listener.start()

    def changed(self, user_id: str, version: int) -> bool:
        """A user's notes changed (``version`` read from PostgreSQL after it): the version
        for everyone at once, then the older entries purged. False when Redis did not take
        both: the debt is kept and redone later."""
        with self._lock:
            self.debts[user_id] = max(version, self.debts.get(user_id, version))
        return self._redo(user_id)

    def _settle(self, user_id: str) -> None:
        others = [u for u in list(self.debts)[:MAX_DEBTS_PER_CALL] if u != user_id]
        for user in ([user_id] if user_id in self.debts else []) + others:
            if not self._redo(user):
                return  # Redis is not answering: the rest wait too

    def _redo(self, user_id: str) -> bool:
        version = self.debts.get(user_id)
        if version is None:
            return True
        key = notes_version_key(user_id)
        try:
            if isinstance(self.versions, RedisCache):
                if not self.versions.put(key, str(version).encode(), self.ttl_s):
                    return False
            else:
                self.versions.set(key, str(version).encode(), self.ttl_s)
            self.purge(user_id)
        except REDIS_ERRORS as exc:
            logs.log_event(log, logging.WARNING, "notes version not written to Redis yet; "
                           "reading it from PostgreSQL", error=type(exc).__name__)
            return False
        with self._lock:
            if self.debts.get(user_id) == version:
                del self.debts[user_id]
        if self.recorded is not None:
            try:
                self.recorded.settle(user_id, version)
            except Exception as exc:  # left for a poll to settle: an extra purge at worst
                logs.log_event(log, logging.WARNING, "notes version debt not settled in "
                               "PostgreSQL", error=type(exc).__name__)
        return True

    def _changes(self) -> int:
        return self.watch.changes if self.watch is not None else 0

    def _drop_all(self) -> bool:
        """After a restart: every version key dropped, so each is read again from PostgreSQL."""
        seen = self._changes()
        client = getattr(self.versions, "client", None)
        if client is None:
            self._seen = seen
            return True
        try:
            batch: list[bytes] = []
            for key in client.scan_iter(match=version_pattern(), count=500):
                batch.append(key)
                if len(batch) >= 500:
                    client.unlink(*batch)
                    batch = []
            if batch:
                client.unlink(*batch)
        except REDIS_ERRORS as exc:
            logs.log_event(log, logging.WARNING, "Redis restarted; its notes versions are not "
                           "dropped yet, reading them from PostgreSQL", error=type(exc).__name__)
            return False
        logs.log_event(log, logging.WARNING, "Redis restarted; every notes version key "
                       "dropped (read again from PostgreSQL)")
        self._seen = seen
        return True


def _poll_while_alive(ref: weakref.ref[NotesVersions], stop: threading.Event) -> None:
    """The poller of one ``NotesVersions``, until it is closed or gone."""
    while not stop.wait(POLL_S):
        versions = ref()
        if versions is None:
            return
        versions.poll()
        del versions


def _listen_while_alive(notices: PgVersionNotices, ref: weakref.ref[NotesVersions],
                        stop: threading.Event) -> None:
    """The listener of one ``NotesVersions``: each notice marks its user, until it is closed
    or gone."""

    def heard(notice: VersionNotice) -> None:
        versions = ref()
        if versions is not None:
            versions.heard(notice)

    def session(pid: int | None) -> None:
        versions = ref()
        if versions is not None:
            versions.listening = pid

    listen(notices, heard, stop, alive=lambda: ref() is not None, session=session)
