"""The ``roles`` rule of the semantic-cache decision on its own: who a question names, who does
something in it, and when two questions name the same people in other roles (real spaCy, no
services). The questions are written here, not taken from the golden set."""

from __future__ import annotations

import pytest

from rag_core.decisions import nlp
from rag_core.decisions import semantic_rules as sr
from rag_core.decisions.semantic_roles import demoted, role_check, same_party


def test_the_subject_of_the_main_verb_is_its_doer() -> None:
    f = nlp.facts("What did the bishop give the orphans at Easter?")
    assert f.doers == {"bishop"} and f.acting
    assert {"bishop", "orphan", "easter"} <= f.mentions


def test_an_apposition_to_the_doer_is_the_doer_too() -> None:
    f = nlp.facts("What did Ruth, the Moabite widow, glean in the field?")
    assert f.doers == {"ruth", "moabite widow"} and "field" not in f.subjects


def test_the_by_of_a_passive_is_the_doer_and_its_subject_is_not() -> None:
    f = nlp.facts("Which orphans were fed by the bishop?")
    assert f.doers == {"bishop"}
    assert "orphan" in f.subjects and "orphan" not in f.doers


def test_be_and_subordinate_clauses_have_subjects_but_no_doers() -> None:
    f = nlp.facts("Who was the deacon when the roof collapsed?")
    assert "deacon" not in f.doers and "roof" not in f.doers
    assert {"deacon", "roof"} <= f.subjects


def test_the_source_of_an_according_to_is_no_party() -> None:
    f = nlp.facts("Why did the widow give both coins, according to Marguerite?")
    assert "marguerite" not in f.mentions and f.doers == {"widow"}


def test_modifiers_tell_two_parties_with_one_noun_apart() -> None:
    assert not same_party("elder brother", "younger brother")
    assert same_party("okafor", "pastor okafor") and same_party("servant", "fellow servant")


def test_a_pronoun_acts_but_is_no_party() -> None:
    f = nlp.facts("What do you owe a stranger at the gate?")
    assert f.acting and not f.doers and not f.referring
    assert nlp.facts("What did they carry to the temple?").referring


@pytest.mark.parametrize(("cached", "new", "shown"), [
    ("What did the bishop say to the mayor after the flood?",
     "What did the mayor say to the bishop after the flood?", "bishop"),
    ("How much did the elder brother give the younger brother?",
     "What did the younger brother give the elder brother?", "elder brother"),
    ("What did Ingrid ask the ferryman at the crossing?",
     "What did the ferryman tell Ingrid at the crossing?", "ingrid"),
])
@pytest.mark.parametrize("mode", ["acting", "exchanged"])
def test_the_same_people_in_exchanged_roles_are_refused_with_them_named(
        cached: str, new: str, shown: str, mode: str) -> None:
    check = role_check(nlp.facts(cached), nlp.facts(new), mode)
    assert check.rule == "roles" and not check.passed
    assert shown in check.detail


def test_exchanged_needs_the_other_doer_named_by_the_first_question() -> None:
    a, b = nlp.facts("What did the bishop say at the flood?"), nlp.facts(
        "What did the mayor tell the bishop at the flood?")
    assert demoted(a, b) == ["bishop"] and b.acting  # demoted, someone else acts
    assert not role_check(a, b, "acting").passed
    assert role_check(a, b, "exchanged").passed  # the mayor is no party of the first


@pytest.mark.parametrize(("cached", "new"), [
    ("What did the bishop say to the mayor after the flood?",
     "After the flood, what did the bishop tell the mayor?"),
    ("Who healed the blind beggar at the gate?", "Who was the blind beggar at the gate healed by?"),
    ("What did Ingrid ask the ferryman?", "What was Ingrid's question to the ferryman?"),
    ("What did Ingrid ask the ferryman?", "Which person told Ingrid she had missed the ferry?"),
])
def test_the_same_roles_or_no_other_doer_pass(cached: str, new: str) -> None:
    check = role_check(nlp.facts(cached), nlp.facts(new))
    assert check.passed, check.detail


def test_a_demoted_doer_needs_someone_else_acting_to_refuse() -> None:
    a, b = nlp.facts("What did Ingrid ask the ferryman?"), nlp.facts(
        "What was Ingrid's question to the ferryman?")
    assert demoted(a, b) == ["ingrid"] and not b.acting  # named as a possessor, nobody acts
    assert role_check(a, b).passed
    assert not role_check(a, b, mode="any").passed  # the stricter variant measured beside it
    with pytest.raises(ValueError, match="roles mode"):
        role_check(a, b, mode="strict")


def test_the_decision_names_roles_as_its_reason_and_the_policy_can_turn_it_off() -> None:
    cached, new = ("What did the bishop say to the mayor after the flood?",
                   "What did the mayor say to the bishop after the flood?")
    decision = sr.decide(new, cached, 0.97, sr.Policy(evidence="off", sentences=False))
    assert not decision.hit and decision.reason == "roles"
    assert "bishop" in decision.to_dict()["checks"]["roles"]["detail"]
    off = sr.decide(new, cached, 0.97, sr.Policy(evidence="off", sentences=False, roles="off"))
    assert "roles" not in off.to_dict()["checks"]
