"""The section of Settings that bounds conversations (``rag_core.conversations``): how many
turns one keeps, how long it lives after its last turn, how many a user holds, and the share of
the history a model rewrite of a follow-up reads. Not in the answer cache key: the answer is
keyed by the standalone question, never by the history that made it.
"""

from __future__ import annotations

from pydantic import Field

from rag_core.config.answer_sections import Section


class Conversations(Section):
    """Conversations kept in Redis (issue 80): bounded in turns, time and number per user."""

    conversation_turns: int = Field(20, ge=1, le=200, description=(
        "the last turns a conversation keeps; an older turn is dropped"))
    conversation_ttl_s: int = Field(2_592_000, ge=60, description=(
        "how long a conversation is kept after its last turn, then deleted (30 days)"))
    conversations_per_user: int = Field(10, ge=1, le=10_000, description=(
        "the conversations a user holds; a new one beyond it drops the oldest (sizing: "
        "docs/scaling.md, Conversations)"))
    conversation_token_budget: int = Field(300, ge=0, description=(
        "tokens of history a model rewrite of a follow-up reads, cut from the oldest turn"))
