"""Conversations in Redis: the last turns of each, under the user's key space.

Keys (``rag_core.redis_kv.keys`` spells them): ``rag:conv:{<user hash>}:<id>`` is one
conversation, a list of JSON turns oldest first;
``rag:conv:{<user hash>}`` is the user's index of conversations scored by their last turn's time.
The hash tag puts one user's keys in one Redis Cluster slot (a MULTI writes them together), and
the user hash as a part of every name lets ``users erase`` find them (``ops.redis_erase``). No
cache layer's prefix is ``rag:conv``: ``cache clear`` keeps them.

Bounds: ``RAG_CONVERSATION_TURNS`` turns (the oldest dropped), ``TURN_MAX_BYTES`` per turn (the
answer, then the citations, cut to fit), ``RAG_CONVERSATIONS_PER_USER`` (a new one beyond it
drops the oldest), ``RAG_CONVERSATION_TTL_S`` after the last turn: Redis expires the keys, and a
read checks the last turn's time on the store's clock (a test controls it) so that an expired
conversation is gone at once, never served.

A write Redis refuses is reported (``append`` returns False: the answer's
``conversation_saved``), never raised. Without Redis, the same store keeps them in process.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import cast

from rag_core.config.conversation_section import Conversations
from rag_core.conversations.turns import CitedNote, Turn
from rag_core.errors import ConversationNotFound, InvalidConversation
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.redis_kv.keys import conversation_index, conversation_key

NEW = "new"
TURN_MAX_BYTES = 16_384
ID_PATTERN = re.compile(r"^c_[A-Za-z0-9_-]{16,40}$")
ID_HELP = '"new", or an id a conversation was given (c_ and 16-40 letters, digits, _ or -)'


def index_key(user_id: str) -> str:
    return conversation_index(user_id)


def check_id(conversation_id: str) -> str:
    """``conversation_id`` when well formed; 422 ``INVALID_CONVERSATION_ID`` otherwise."""
    if conversation_id != NEW and not ID_PATTERN.match(conversation_id):
        raise InvalidConversation(f"conversation_id must be {ID_HELP}.")
    return conversation_id


def new_id() -> str:
    return "c_" + secrets.token_urlsafe(16)


def encode_turn(turn: Turn) -> str:
    """The turn as JSON within ``TURN_MAX_BYTES``: the answer cut first, then the citations."""
    data = asdict(turn)
    text = json.dumps(data, ensure_ascii=False)
    while len(text.encode()) > TURN_MAX_BYTES and data["citations"]:
        data["citations"] = data["citations"][:-1]
        text = json.dumps(data, ensure_ascii=False)
    over = len(text.encode()) - TURN_MAX_BYTES
    if over > 0:
        answer = data["answer"].encode()[:max(0, len(data["answer"].encode()) - over - 8)]
        data["answer"] = answer.decode("utf-8", "ignore")
        for name in ("question", "standalone_question"):  # a question is bounded upstream
            data[name] = data[name][:2_000]
        text = json.dumps(data, ensure_ascii=False)
    return text


def decode_turn(raw: str | bytes) -> Turn:
    data = json.loads(raw)
    cited = tuple(CitedNote(c["note_id"], c.get("title", ""), c.get("meta") or {})
                  for c in data.get("citations") or ())
    return Turn(data["question"], data["standalone_question"], data["answer"], cited,
                float(data.get("at", 0.0)))


@dataclass(frozen=True)
class Summary:
    conversation_id: str
    last_at: float
    turns: int


class ConversationStore:
    """One user's conversations, each read and written by (user, id): another user's id is
    the same 404 as an unknown one."""

    def __init__(self, client: RedisClient | None, bounds: Conversations, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.bounds = bounds
        self.clock = clock
        self._memory: dict[str, dict[str, list[str]]] = {}  # user -> id -> turns
        self._lock = threading.Lock()

    # -- reads --------------------------------------------------------------------------
    def _raw(self, user_id: str, conversation_id: str) -> list[str] | None:
        if self.client is None:
            with self._lock:
                found = self._memory.get(user_id, {}).get(conversation_id)
                return list(found) if found is not None else None
        key = conversation_key(user_id, conversation_id)
        raw = self.client.lrange(key, 0, -1)
        return [r.decode() if isinstance(r, bytes) else r for r in raw] if raw else None

    def turns(self, user_id: str, conversation_id: str) -> list[Turn]:
        """The conversation's turns, oldest first; 404 ``CONVERSATION_NOT_FOUND`` when the user
        has none of that id (unknown, another user's, expired, lost)."""
        check_id(conversation_id)
        try:
            raw = self._raw(user_id, conversation_id) if conversation_id != NEW else None
        except REDIS_ERRORS:  # unreadable is lost: the client starts a new one
            raw = None
        if not raw:
            raise ConversationNotFound()
        turns = [decode_turn(r) for r in raw]
        if self.clock() - turns[-1].at > self.bounds.conversation_ttl_s:
            self._drop(user_id, [conversation_id])
            raise ConversationNotFound()
        return turns

    def summaries(self, user_id: str) -> list[Summary]:
        """The user's live conversations, the latest first."""
        cutoff = self.clock() - self.bounds.conversation_ttl_s
        if self.client is None:
            with self._lock:
                mine = self._memory.get(user_id, {})
                rows = [(cid, decode_turn(t[-1]).at, len(t)) for cid, t in mine.items() if t]
        else:
            scored = cast(list[tuple[bytes | str, float]],
                          self.client.zrange(index_key(user_id), 0, -1, withscores=True))
            rows = []
            for member, score in scored:
                cid = member.decode() if isinstance(member, bytes) else str(member)
                rows.append((cid, float(score),
                             int(self.client.llen(conversation_key(user_id, cid)))))
        live = [Summary(c, at, n) for c, at, n in rows if at >= cutoff and n > 0]
        gone = [c for c, at, n in rows if at < cutoff or n == 0]
        if gone:
            self._drop(user_id, gone)
        return sorted(live, key=lambda s: (-s.last_at, s.conversation_id))

    # -- writes -------------------------------------------------------------------------
    def append(self, user_id: str, conversation_id: str, turn: Turn) -> bool:
        """Keep ``turn`` as the conversation's latest; False when Redis refused the write
        (the turn is not kept; the caller answers all the same)."""
        check_id(conversation_id)
        bounds, now = self.bounds, turn.at or self.clock()
        text = encode_turn(turn)
        try:
            if self.client is None:
                self._append_memory(user_id, conversation_id, text)
                return True
            index, key = index_key(user_id), conversation_key(user_id, conversation_id)
            fresh = self.client.zscore(index, conversation_id) is None
            if fresh:
                held = int(self.client.zcard(index))
                excess = held + 1 - bounds.conversations_per_user
                if excess > 0:
                    oldest = cast(list[bytes | str], self.client.zrange(index, 0, excess - 1))
                    self._drop(user_id, [o.decode() if isinstance(o, bytes) else o
                                         for o in oldest])
            pipe = self.client.pipeline(transaction=True)
            pipe.rpush(key, text)
            pipe.ltrim(key, -bounds.conversation_turns, -1)
            pipe.expire(key, bounds.conversation_ttl_s)
            pipe.zadd(index, {conversation_id: now})
            pipe.expire(index, bounds.conversation_ttl_s)
            pipe.execute()
            return True
        except REDIS_ERRORS:
            return False

    def _append_memory(self, user_id: str, conversation_id: str, text: str) -> None:
        with self._lock:
            mine = self._memory.setdefault(user_id, {})
            if conversation_id not in mine:
                while len(mine) >= self.bounds.conversations_per_user:
                    oldest = min(mine, key=lambda c: decode_turn(mine[c][-1]).at)
                    del mine[oldest]
            turns = mine.pop(conversation_id, [])  # re-inserted: the dict's order is recency
            mine[conversation_id] = (turns + [text])[-self.bounds.conversation_turns:]

    def _drop(self, user_id: str, ids: list[str]) -> int:
        if not ids:
            return 0
        if self.client is None:
            with self._lock:
                mine = self._memory.get(user_id, {})
                return sum(mine.pop(c, None) is not None for c in ids)
        removed = int(self.client.delete(*(conversation_key(user_id, c) for c in ids)))
        self.client.zrem(index_key(user_id), *ids)
        return removed

    def delete(self, user_id: str, conversation_id: str) -> None:
        """End one of the user's conversations; 404 when the user has none of that id."""
        self.turns(user_id, conversation_id)
        self._drop(user_id, [conversation_id])

    def erase_user(self, user_id: str) -> int:
        """Every conversation of the user (``users erase``; Redis's own sweep finds the keys
        too, by the user hash they carry)."""
        if self.client is None:
            with self._lock:
                return len(self._memory.pop(user_id, {}))
        ids = [m.decode() if isinstance(m, bytes) else str(m)
               for m in self.client.zrange(index_key(user_id), 0, -1)]
        removed = self._drop(user_id, ids)
        return removed + int(self.client.delete(index_key(user_id)))
