"""Where the semantic cache keeps its entries: per scope (user, notes version and filters), in
Redis when given a client, else in process.

On Redis a scope is two hashes: the entries (question, vector, evidence with its chunk texts,
and the key of the answer: the answer's body is kept once, under its stale key, by
``AnswerLayer.put``) and an index beside them (``index_key``: vector, stored-at and expiry,
canonical form: 1.5 KB each). A lookup reads the index, and only the entries it decides on in
full (``fetch``): reading every entry made each lookup of a full scope move 1.6 MB out of
Redis and through the decoder, which capped the app at about 40 requests/s under the full load
profile. Every entry is also a line in the layer's index (``RedisCache``), which bounds the
layer and counts each user's share. An entry and its index line are typed records, encoded
and decoded in one place with their schema: ``rag_core.cache.semantic_record``.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from rag_core.cache.fail_open import warn
from rag_core.cache.redis_cache import RedisCache
from rag_core.cache.semantic_record import IndexLine, SemanticEntry
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.redis_kv.codec import reply_bytes
from rag_core.redis_kv.keys import layer_prefix, normalize_query, semantic_line_key, user_prefix
from rag_core.redis_kv.writes import Put
from rag_core.store.filters import NO_FILTERS, Filters

LAYER = "semantic"
MAX_ENTRIES_PER_SCOPE = 200
TRIM_SLACK = 20  # a full scope is trimmed once it holds this many more (not at every store)


class SemanticEntries:
    def __init__(self, client: RedisClient | None, max_entries: int,
                 clock: Callable[[], float]) -> None:
        self.client = client
        self.local: dict[str, dict[str, SemanticEntry]] = {}  # scope -> field -> entry
        self.lock = threading.Lock()
        # the Redis side of the layer: its index, bound and the one write path
        self.layer = (RedisCache(LAYER, client, clock, max_entries=max_entries)
                      if client is not None else None)

    @staticmethod
    def scope(user_id: str, notes_version: int, filters: Filters = NO_FILTERS) -> str:
        """Where the answers of one user, notes version and set of filters live: an answer
        made under some filters is never a candidate for a question under others (or none)."""
        base = f"{user_prefix(LAYER, user_id)}v{notes_version}"
        return f"{base}:f{_filters_tag(filters)}" if filters else base

    @staticmethod
    def field_of(query_text: str) -> str:
        """The field of a question's entry in its scope (one entry per normalised question)."""
        return hashlib.sha256(normalize_query(query_text).encode()).hexdigest()[:16]

    @staticmethod
    def place_of(query_text: str, filters: Filters = NO_FILTERS) -> str:
        """Where a question's entry is among its user's and notes version's (what an answer
        record keeps for ``forget``): its field, behind the tag of its filters if any."""
        field = SemanticEntries.field_of(query_text)
        return f"{_filters_tag(filters)}/{field}" if filters else field

    @staticmethod
    def index_key(scope: str) -> str:
        """The hash beside a scope's entries that holds their vectors and times only."""
        return semantic_line_key(scope)

    def index(self, scope: str) -> list[tuple[str, IndexLine]]:
        """(field, index line) of every entry of ``scope`` (a line that does not decode is
        left out)."""
        if self.client is None:
            with self.lock:
                return [(f, e.line) for f, e in self.local.get(scope, {}).items()]
        try:
            raw = self.client.hgetall(self.index_key(scope))
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return []
        return [(reply_bytes(f).decode(), line) for f, v in raw.items()
                if (line := IndexLine.read(reply_bytes(v))) is not None]

    def fetch(self, scope: str, fields: list[str]) -> dict[str, SemanticEntry]:
        """The full entries of ``fields`` (an entry gone since its index line was read, or one
        that does not decode, is left out: a miss, not an error)."""
        if not fields:
            return {}
        if self.client is None:
            with self.lock:
                bucket = self.local.get(scope, {})
                return {f: bucket[f] for f in fields if f in bucket}
        try:
            raw = self.client.hmget(scope, fields)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return {}
        return {f: entry for f, v in zip(fields, raw, strict=True)
                if v is not None and (entry := SemanticEntry.decode(reply_bytes(v))) is not None}

    def answer_at(self, key: str) -> bytes | None:
        """The answer an entry names (``put(answer_at=...)``); None when it is gone (evicted
        or expired before the entry) or Redis fails."""
        if self.client is None:
            return None
        try:
            raw = self.client.get(key)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return None
        return reply_bytes(raw) if raw is not None else None

    def put(self, scope: str, field: str, entry: SemanticEntry, ttl_s: int,
            answer_at: str = "") -> Put | None:
        """The Redis write of ``entry`` (its index line beside it, in one script); None in
        process, where it is stored at once. ``answer_at``: in Redis, the key that holds the
        entry's answer: the entry names it instead of holding the answer twice."""
        if self.layer is None:
            with self.lock:
                bucket = self.local.setdefault(scope, {})
                bucket[field] = entry
                while len(bucket) > MAX_ENTRIES_PER_SCOPE:
                    bucket.pop(min(bucket, key=lambda k: bucket[k].line.stored_at))
            return None
        if answer_at:
            entry = entry.elsewhere(answer_at)
        return self.layer.entry(scope, entry.encode(), ttl_s, field=field,
                                line=entry.line.encode())

    def trimmed(self, put: Put) -> None:
        """After ``put`` was written: a scope past its own bound loses its oldest entries."""
        if self.client is None:
            return
        try:
            if int(self.client.hlen(self.index_key(put.key))) > MAX_ENTRIES_PER_SCOPE + TRIM_SLACK:
                self._trim(put.key)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)

    def forget(self, user_id: str, notes_version: int, field: str) -> int:
        """Drop one entry (a verdict said its answer was wrong): no paraphrase reuses it.
        ``field``: as ``place_of`` gives it."""
        tag, _, field = field.rpartition("/")
        scope = self.scope(user_id, notes_version)
        scope = f"{scope}:f{tag}" if tag else scope
        if self.client is None:
            with self.lock:
                return 1 if self.local.get(scope, {}).pop(field, None) is not None else 0
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.hdel(self.index_key(scope), field)
            pipe.hdel(scope, field)
            removed = int(pipe.execute()[-1])
            self._unindex(scope, [field])
            return removed
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return 0

    def size(self) -> int:
        """Live entries in Redis across every user (its index); sets ``cache_size``."""
        return self.layer.size() if self.layer is not None else sum(
            len(b) for b in self.local.values())

    def held_bytes(self) -> int:
        """What the entries hold: in Redis, its ``MEMORY USAGE`` (``RedisCache.held_bytes``);
        in process, the size of each entry packed as Redis would hold it."""
        if self.layer is not None:
            return self.layer.held_bytes()
        with self.lock:
            return sum(len(e.encode()) for b in self.local.values() for e in b.values())

    def clear(self, prefix: str = "") -> int:
        if self.client is None:
            with self.lock:
                doomed = [k for k in self.local if k.startswith(prefix or layer_prefix(LAYER))]
                for key in doomed:
                    del self.local[key]
                return len(doomed)
        try:
            return self.purge(prefix)
        except REDIS_ERRORS as exc:
            warn(LAYER, exc)
            return 0

    def purge(self, prefix: str = "") -> int:
        """``clear`` that raises when Redis fails (a purge that must be retried)."""
        if self.client is None:
            return self.clear(prefix)
        removed = 0
        pattern = (prefix or layer_prefix(LAYER)) + "*"
        for key in self.client.scan_iter(match=pattern, count=500):
            removed += int(self.client.unlink(key))
        if self.layer is not None:  # and their lines in the layer's index
            lines = [m for m, _ in self.client.zscan_iter(self.layer.index, match=pattern)]
            self.layer.writer.unindex(self.layer.index, lines)
        return removed

    def _trim(self, scope: str) -> None:
        """Down to ``MAX_ENTRIES_PER_SCOPE``, oldest first, in the index and the entries."""
        assert self.client is not None
        index = self.index_key(scope)
        items = self.client.hgetall(index)
        ordered = sorted(items, key=lambda f: _stored_at(items[f]))
        doomed = ordered[:len(ordered) - MAX_ENTRIES_PER_SCOPE]
        if doomed:
            pipe = self.client.pipeline(transaction=False)
            pipe.hdel(index, *doomed)
            pipe.hdel(scope, *doomed)
            pipe.execute()
            self._unindex(scope, [reply_bytes(f).decode() for f in doomed])

    def _unindex(self, scope: str, fields: list[str]) -> None:
        """Entries dropped from ``scope`` out of the layer's index (and their user's count)."""
        if self.layer is not None:
            self.layer.writer.unindex(self.layer.index, [f"{scope}\n{f}" for f in fields])


def _filters_tag(filters: Filters) -> str:
    return hashlib.sha256(repr(sorted(filters.key()["filters"].items())).encode()
                          ).hexdigest()[:16]


def _stored_at(raw: bytes | str) -> float:
    """When an index line's entry was stored (a line that does not decode: first to go)."""
    line = IndexLine.decode(reply_bytes(raw))
    return line.stored_at if line is not None else 0.0
