"""Users who hold conversations (issue 80): each opens one with ``"conversation_id": "new"``
and a first question of the golden multi-turn set (``golden/conversations.jsonl``), then asks
its later turns as typed ("what else did she preach on?"), each with the id the first answer
returned, so that a share of the questions are follow-ups (58 of the set's 90 turns). The
opening questions are logged as kind ``conversation``, the follow-ups as ``followup``, so the
load report shows follow-ups apart (their rewrite runs before the cache: a follow-up is never
an exact hit before it).

An answer without a ``conversation_id`` (a server without conversations, or one whose Redis
refused the turn: ``conversation_saved: false``), or a 404 ``CONVERSATION_NOT_FOUND`` (the
conversation was lost), ends the conversation: the next question opens a new one, as a client
does.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONVERSATIONS_FILE = "golden/conversations.jsonl"
OPEN_KIND = "conversation"
FOLLOW_UP_KIND = "followup"
NEW = "new"


def load_conversations(root: str | Path = ROOT, users: Sequence[str] = ()
                       ) -> dict[str, list[tuple[str, ...]]]:
    """Each user's conversations as their questions in turn order (``users``: only these)."""
    path = Path(root) / CONVERSATIONS_FILE
    out: dict[str, list[tuple[str, ...]]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        conv = json.loads(line)
        if users and conv["user_id"] not in users:
            continue
        out.setdefault(conv["user_id"], []).append(
            tuple(str(t["question"]) for t in conv["turns"]))
    return out


@dataclass
class Conversing:
    """One Locust user's conversation: which question comes next, and with which id."""

    conversations: Sequence[tuple[str, ...]]
    rng: random.Random
    turns: tuple[str, ...] = ()
    next_turn: int = 0
    conversation_id: str | None = None
    asked: dict[str, int] = field(default_factory=dict)

    def next(self) -> tuple[str, str, str]:
        """The next question, the ``conversation_id`` to send and the kind to log it as."""
        if self.conversation_id and self.next_turn < len(self.turns):
            question = self.turns[self.next_turn]
            self.next_turn += 1
            kind, sent = FOLLOW_UP_KIND, self.conversation_id
        else:
            self.turns = self.rng.choice(list(self.conversations))
            self.next_turn, self.conversation_id = 1, None
            question, kind, sent = self.turns[0], OPEN_KIND, NEW
        self.asked[kind] = self.asked.get(kind, 0) + 1
        return question, sent, kind

    def answered(self, status: int, body: Any) -> None:
        """Keep the id an answer returned; a conversation without one, or lost, ends."""
        found = body.get("conversation_id") if isinstance(body, Mapping) else None
        if status == 200 and isinstance(found, str) and found:
            self.conversation_id = found
        elif status == 404 or status == 200:
            self.conversation_id, self.turns = None, ()
