"""The notes version as the cache layers read it: what every key of a user's answers names.

Redis keeps each user's version (``versions``); PostgreSQL has the truth. ``NotesVersions``
(``rag_core.cache.versions``) says when Redis's copy may be read and redoes what Redis missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rag_core.cache.base import Cache
from rag_core.cache.versions import NotesVersions
from rag_core.config import fixed
from rag_core.redis_kv.keys import notes_version_key


@dataclass
class VersionLayer:
    versions: Cache
    # the notes version in Redis held to PostgreSQL's (failed writes redone, restarts noticed)
    truth: NotesVersions

    def current(self, user_id: str, read: Callable[[str], int]) -> int:
        """The user's notes version from Redis; from PostgreSQL (``read``) when Redis does not
        have it (new, expired, evicted, restarted, or written through a master that a failover
        replaced: ``OwnedRedisCache``), written back only if nobody
        wrote a newer one meanwhile. An L1 hit therefore needs no database."""
        raw = self.versions.get(notes_version_key(user_id))
        if raw is not None:
            return int(raw)
        return self.from_store(user_id, read)

    def from_store(self, user_id: str, read: Callable[[str], int]) -> int:
        version = read(user_id)
        self.versions.add(notes_version_key(user_id), str(version).encode(),
                          fixed.NOTES_VERSION_TTL_S)
        return version

    def after_read(self, user_id: str, read: Callable[[str], int], epoch: int,
                   answered: bool) -> int:
        """The version when a one-trip read of it did not decide it (``answered``: Redis
        replied, without a version it could name a key by). A read that met a restarted Redis
        (the ``truth``'s epoch moved on since ``epoch``) is not trusted: PostgreSQL's."""
        truth = self.truth
        if truth.epoch() != epoch:
            version = read(user_id)
            truth.trusted(user_id)  # its versions dropped, when it answers
            return version
        version = self.from_store(user_id, read) if answered else self.current(user_id, read)
        return read(user_id) if truth.epoch() != epoch else version

    def changed(self, user_id: str, version: int) -> bool:
        """After a change of the user's notes (``version`` read from PostgreSQL after it):
        the new version for everyone at once, and the older entries purged. False when Redis
        did not take both: they are redone before Redis answers for that user again
        (``cache.versions``), and meanwhile the version comes from PostgreSQL."""
        return self.truth.changed(user_id, version)
