"""Conversations in real Redis: bounded in turns, bytes, number and time, under the user's key
space; erased with the user, kept by ``cache clear``; a refused write is reported, not raised."""

from __future__ import annotations

from typing import Any

import pytest

from rag_core.cache.layers import layers_for
from rag_core.config import Settings
from rag_core.conversations.store import (
    TURN_MAX_BYTES,
    ConversationStore,
    conversation_key,
    encode_turn,
    index_key,
    new_id,
)
from rag_core.conversations.turns import CitedNote, Turn
from rag_core.errors import ConversationNotFound, InvalidConversation
from rag_core.ops.redis_erase import erase_keys, keys_naming
from rag_core.parts import build_semantic_judge
from rag_core.redis_kv.client import connect

pytestmark = pytest.mark.both_redis


class Clock:
    """The store's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def turn(n: int, at: float) -> Turn:
    return Turn(f"question {n}", f"standalone {n}", f"answer {n}",
                (CitedNote(f"note-{n}", f"Title {n}", {"speaker": "Ann"}),), at)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def store_of(client: Any, settings: Settings, clock: Clock, **bounds: int) -> ConversationStore:
    return ConversationStore(client, settings.with_overrides(**bounds).conversations, clock=clock)


def test_turns_come_back_oldest_first_and_the_limit_drops_the_oldest(
        redis_client: Any, settings: Settings, clock: Clock) -> None:
    conv = store_of(redis_client, settings, clock, conversation_turns=3)
    cid = new_id()
    for n in range(5):
        clock.now += 1
        assert conv.append("amara", cid, turn(n, clock.now))
    turns = conv.turns("amara", cid)
    assert [t.question for t in turns] == ["question 2", "question 3", "question 4"]
    assert turns[-1].citations[0].meta == {"speaker": "Ann"}


def test_another_users_id_is_the_same_404_as_an_unknown_one(
        redis_client: Any, settings: Settings, clock: Clock) -> None:
    conv = store_of(redis_client, settings, clock)
    cid = new_id()
    assert conv.append("amara", cid, turn(1, clock.now))
    with pytest.raises(ConversationNotFound):
        conv.turns("bo", cid)
    with pytest.raises(ConversationNotFound):
        conv.turns("amara", new_id())
    with pytest.raises(ConversationNotFound):
        conv.delete("bo", cid)
    assert len(conv.turns("amara", cid)) == 1  # bo's DELETE touched nothing
    with pytest.raises(InvalidConversation):
        conv.turns("amara", "not an id")


def test_a_conversation_expires_its_ttl_after_its_last_turn(
        redis_client: Any, settings: Settings, clock: Clock) -> None:
    conv = store_of(redis_client, settings, clock, conversation_ttl_s=600)
    cid = new_id()
    assert conv.append("amara", cid, turn(1, clock.now))
    clock.now += 500
    assert conv.append("amara", cid, turn(2, clock.now))  # the TTL runs from here
    clock.now += 500
    assert len(conv.turns("amara", cid)) == 2
    assert 0 < redis_client.ttl(conversation_key("amara", cid)) <= 600
    clock.now += 101
    with pytest.raises(ConversationNotFound):
        conv.turns("amara", cid)
    assert conv.summaries("amara") == []
    assert not redis_client.exists(conversation_key("amara", cid))


def test_a_user_over_the_limit_loses_the_oldest_conversation(
        redis_client: Any, settings: Settings, clock: Clock) -> None:
    conv = store_of(redis_client, settings, clock, conversations_per_user=2)
    ids = [new_id() for _ in range(3)]
    for cid in ids:
        clock.now += 1
        assert conv.append("amara", cid, turn(1, clock.now))
    assert [s.conversation_id for s in conv.summaries("amara")] == [ids[2], ids[1]]
    with pytest.raises(ConversationNotFound):
        conv.turns("amara", ids[0])


def test_a_turn_is_bounded_in_bytes() -> None:
    big = Turn("q", "q", "word " * 20_000,
               tuple(CitedNote(f"n{i}", "t" * 200) for i in range(200)), 1.0)
    assert len(encode_turn(big).encode()) <= TURN_MAX_BYTES


def test_keys_are_the_users_erased_with_the_user_and_kept_by_cache_clear(
        redis_client: Any, settings: Settings, clock: Clock) -> None:
    conv = store_of(redis_client, settings, clock)
    mine, theirs = new_id(), new_id()
    assert conv.append("amara", mine, turn(1, clock.now))
    assert conv.append("bo", theirs, turn(1, clock.now))
    assert set(keys_naming(redis_client, "amara")) == {
        index_key("amara"), conversation_key("amara", mine)}

    caches = layers_for(settings, redis_client, judge=build_semantic_judge(settings))
    caches.clear(None)
    caches.clear("amara")
    assert len(conv.turns("amara", mine)) == 1

    erase_keys(redis_client, caches, "amara")
    assert keys_naming(redis_client, "amara") == []
    with pytest.raises(ConversationNotFound):
        conv.turns("amara", mine)
    assert len(conv.turns("bo", theirs)) == 1


def test_the_users_delete_ends_one_conversation(
        redis_client: Any, settings: Settings, clock: Clock) -> None:
    conv = store_of(redis_client, settings, clock)
    one, two = new_id(), new_id()
    assert conv.append("amara", one, turn(1, clock.now))
    assert conv.append("amara", two, turn(1, clock.now))
    conv.delete("amara", one)
    assert [s.conversation_id for s in conv.summaries("amara")] == [two]


@pytest.mark.parametrize("redis_mode", ["standalone"], indirect=True)
def test_a_write_redis_refuses_is_reported_not_raised(
        redis_factory: Any, settings: Settings, clock: Clock) -> None:
    server = redis_factory()
    client = connect(server.url, timeout_s=5.0)
    try:
        conv = store_of(client, settings, clock)
        cid = new_id()
        assert conv.append("amara", cid, turn(1, clock.now))
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("maxmemory", 1)  # every write is refused (OOM)
        assert conv.append("amara", cid, turn(2, clock.now)) is False
        client.config_set("maxmemory", 0)
        assert [t.question for t in conv.turns("amara", cid)] == ["question 1"]
    finally:
        client.close()
