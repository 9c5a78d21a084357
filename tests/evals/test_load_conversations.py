"""Locust users who hold conversations (``loadtests.conversing``): a first question opens one
with ``"new"``, its follow-ups send the id the answer returned, and a conversation without an
id, or lost, ends."""

from __future__ import annotations

import random

from loadtests import conversing, traffic


def test_the_golden_conversations_are_read_per_user() -> None:
    held = conversing.load_conversations()
    assert set(held) == {"amara", "ben", "chloe", "david"}
    assert all(2 <= len(turns) <= 4 for convs in held.values() for turns in convs)
    assert set(conversing.load_conversations(users=["ben"])) == {"ben"}


def test_a_conversation_opens_then_follows_up_with_its_id() -> None:
    talk = conversing.Conversing([("Who preached on Micah 6:8?", "What else did she say?",
                                   "And in 2023?")], random.Random(1))
    assert talk.next() == ("Who preached on Micah 6:8?", "new", "conversation")
    talk.answered(200, {"answer": "...", "conversation_id": "c-1"})
    assert talk.next() == ("What else did she say?", "c-1", "followup")
    talk.answered(200, {"answer": "...", "conversation_id": "c-1"})
    assert talk.next() == ("And in 2023?", "c-1", "followup")
    talk.answered(200, {"answer": "...", "conversation_id": "c-1"})
    assert talk.next()[1:] == ("new", "conversation")  # the last turn asked: a new one
    assert talk.asked == {"conversation": 2, "followup": 2}


def test_a_conversation_without_an_id_or_lost_ends() -> None:
    talk = conversing.Conversing([("First?", "Then?")], random.Random(2))
    talk.next()
    talk.answered(200, {"answer": "...", "conversation_saved": False})  # no id
    assert talk.next()[2] == "conversation"
    talk.answered(200, {"conversation_id": "c-2"})
    talk.answered(404, {"error": {"code": "CONVERSATION_NOT_FOUND"}})
    assert talk.next()[2] == "conversation"
    talk.answered(503, None)  # a refusal keeps the conversation for the next question
    talk.answered(200, {"conversation_id": "c-3"})
    talk.answered(503, None)
    assert talk.next() == ("Then?", "c-3", "followup")


def test_conversation_is_a_mix_of_its_own() -> None:
    assert traffic.user_classes_for("conversation") == {"conversation": 1}
