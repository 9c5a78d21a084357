"""Conversations in the Redis sizing (issue 80): the bytes a user's conversations hold, measured
in a real Redis with ``MEMORY USAGE`` on conversations written by the service's own store, and
what that makes at the seeds' 10,000 users beside compose's 512 MB (``maxmemory`` of
``deploy/compose``; ``bench_redis_capacity.py`` sizes the caches and the cost ledger in it).

Two figures per user: a typical one (``--conversations`` of ``--turns`` turns with answers of
``--answer-chars``) and the bound (``RAG_CONVERSATIONS_PER_USER`` conversations of
``RAG_CONVERSATION_TURNS`` turns, each at ``TURN_MAX_BYTES``), which no deployment of 10,000
users can hold in 512 MB: the TTL (30 days after the last turn) is what keeps real use near the
typical figure. The figures and the defaults decided on them: ``docs/scaling.md``
(Conversations).

    python benchmarks/bench_conversation_sizing.py --redis-url redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from rag_core.config import Settings
from rag_core.conversations.store import TURN_MAX_BYTES, ConversationStore, new_id
from rag_core.conversations.turns import CitedNote, Turn
from rag_core.redis_kv.client import connect

COMPOSE_MAXMEMORY = 512 * 1024 * 1024
USERS = 10_000


def _turn(n: int, answer_chars: int) -> Turn:
    answer = ("Pastor Ann Lee preached on Micah 6:8 in May 2022 about doing justice [1]. " * 40)
    return Turn(f"What else did she preach on in {2000 + n}?",
                f"What else did Ann Lee preach on in {2000 + n}?", answer[:answer_chars],
                tuple(CitedNote(f"note-{n}-{k}", f"Sermon title {k}",
                                {"speaker": "Ann Lee", "date": "2022-05-01",
                                 "scripture": ["Micah 6:8"]}) for k in range(3)), 1.0 + n)


def measure(url: str, sample_users: int, conversations: int, turns: int,
            answer_chars: int) -> dict[str, Any]:
    client = connect(url, timeout_s=5.0)
    settings = Settings(profile="ci")
    store = ConversationStore(client, settings.conversations, clock=lambda: 100.0)
    try:
        for u in range(sample_users):
            user = f"sizing-user-{u:05d}"
            for _ in range(conversations):
                cid = new_id()
                for n in range(turns):
                    store.append(user, cid, _turn(n, answer_chars))
        keys = client.scan_iter(match="rag:conv:*", count=1000)
        used = sum(int(client.memory_usage(k) or 0) for k in keys)
        per_user = used / sample_users
        bound = settings.conversations
        worst = bound.conversations_per_user * bound.conversation_turns * TURN_MAX_BYTES
        return {"sample_users": sample_users, "conversations_per_user": conversations,
                "turns": turns, "answer_chars": answer_chars,
                "bytes_per_user": round(per_user), "users": USERS,
                "bytes_at_users": round(per_user * USERS),
                "share_of_512mb": round(per_user * USERS / COMPOSE_MAXMEMORY, 4),
                "bound_bytes_per_user": worst,
                "bound_share_of_512mb_at_users": round(worst * USERS / COMPOSE_MAXMEMORY, 1)}
    finally:
        for u in range(sample_users):
            store.erase_user(f"sizing-user-{u:05d}")
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", required=True)
    ap.add_argument("--sample-users", type=int, default=50)
    ap.add_argument("--conversations", type=int, default=3)
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--answer-chars", type=int, default=800)
    args = ap.parse_args()
    print(json.dumps(measure(args.redis_url, args.sample_users, args.conversations, args.turns,
                             args.answer_chars), indent=2))


if __name__ == "__main__":
    main()
