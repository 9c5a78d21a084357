"""The strict semantic cache: one question in other case, punctuation, articles, inflection or
with one keyboard slip is reused; any other changed word, or the same words in another order,
is not (spaCy only; the in-process cache, no services)."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.cache.semantic import judge_for, policy_for, semantic_for
from rag_core.config import Settings
from rag_core.decisions import semantic_rules as sr
from rag_core.decisions.semantic_canonical import canonical, is_slip, same_question
from rag_core.embedding.base import model_words

WORDS = model_words(Settings().embedding.embedding_model)


def strict(cached: str, new: str) -> sr.Decision:
    return sr.decide(new, cached, 0.99, policy_for(Settings(), "strict"))


@pytest.mark.parametrize(("cached", "new"), [
    ("Who preached on Nehemiah?", "who preached on nehemiah"),
    ("What did the speaker say about the flood?", "What did speaker say about a flood!"),
    ("What did the speakers say about tithes?", "What does the speaker say about the tithe?"),
    ("Who preached on the Sermon on the Mount?", "Who preahced on the Sermon on the Mount?"),
    ("What's the name of Ben's dog?", "What is the name of Ben's dog?"),
])
def test_the_same_question_in_other_forms_is_reused(cached: str, new: str) -> None:
    d = strict(cached, new)
    assert d.hit and d.reason == "reuse", d.to_dict()


@pytest.mark.parametrize(("cached", "new"), [
    ("How far is it from the depot to the bakery?", "How far is it to the depot from the bakery?"),
    ("Who drove from Leeds to York?", "Who drove to Leeds from York?"),
    ("What did Ben do before the flood?", "What did Ben do after the flood?"),
    ("Did the council vote for the budget?", "Did the council vote against the budget?"),
    ("Why did Ben agree with the plan?", "Why did Ben not agree with the plan?"),
    ("Did Amara call Ben?", "Did Ben call Amara?"),
    ("What did Ben bring in 2018?", "What did Ben bring in 2019?"),
    ("What was the longest hike?", "What was the long hike?"),
    ("Where did Ben get the form?", "Where did Ben get the from?"),
])
def test_a_changed_word_or_order_is_never_reused(cached: str, new: str) -> None:
    d = strict(cached, new)
    assert not d.hit and d.reason == "canonical", d.to_dict()


def test_a_slip_is_one_keystroke_and_never_between_two_words() -> None:
    assert is_slip("preached", "preahced", WORDS)  # two letters exchanged
    assert is_slip("sermon", "sermin", WORDS)  # a neighbouring key
    assert is_slip("harvest", "harvst", WORDS)  # a letter dropped
    assert not is_slip("sermon", "sermzn", WORDS)  # z is not next to o
    assert not is_slip("form", "from", WORDS) and not is_slip("bread", "break", WORDS)
    assert not is_slip("2018", "2019", WORDS) and not is_slip("hom", "home", WORDS)
    assert not same_question(canonical("a b c d"), canonical("a b c"), WORDS)
    assert canonical("Who preached on Fridays?") == canonical("who preached on fridays")


def test_the_strict_cache_finds_the_twin_whatever_its_cosine() -> None:
    cache = semantic_for(None, Settings(), judge=judge_for(Settings()))
    far = np.eye(1, 384, 0, dtype=np.float32)[0]
    other = np.eye(1, 384, 1, dtype=np.float32)[0]  # cosine 0: no embedding candidate
    cache.store("u", 1, "Who preached on Nehemiah?", far, b"answer", 60)
    hit = cache.decide("u", 1, "who preached on nehemiah", other)
    assert hit.hit is not None and hit.hit.answer == b"answer"
    miss = cache.decide("u", 1, "Who preached on Ezra?", far)
    assert miss.hit is None and miss.decision is not None
    assert miss.decision.reason == "canonical"
