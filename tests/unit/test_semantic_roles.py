"""The ``roles`` rule (of the strict-before design, ``evals.decisions.question_roles``) on its own:
who a question names, who does something in it, and when two questions name the same people
in other roles (real spaCy, no services). The questions are written here, not taken from the
golden set."""

from __future__ import annotations

import pytest

from evals.decisions import rule_sets
from evals.decisions.designs import rules_policy
from evals.decisions.question_roles import demoted, parts, role_check, same_party
from rag_core.config import Settings
from rag_core.decisions import semantic_rules as sr


def test_the_subject_of_the_main_verb_is_its_doer() -> None:
    f = parts("What did the bishop give the orphans at Easter?")
    assert f.doers == {"bishop"} and f.acting
    assert {"bishop", "orphan", "easter"} <= f.mentions


def test_an_apposition_to_the_doer_is_the_doer_too() -> None:
    f = parts("What did Ruth, the Moabite widow, glean in the field?")
    assert f.doers == {"ruth", "moabite widow"} and "field" not in f.subjects


def test_the_by_of_a_passive_is_the_doer_and_its_subject_is_not() -> None:
    f = parts("Which orphans were fed by the bishop?")
    assert f.doers == {"bishop"}
    assert "orphan" in f.subjects and "orphan" not in f.doers


def test_be_and_subordinate_clauses_have_subjects_but_no_doers() -> None:
    f = parts("Who was the deacon when the roof collapsed?")
    assert "deacon" not in f.doers and "roof" not in f.doers
    assert {"deacon", "roof"} <= f.subjects


def test_the_source_of_an_according_to_is_no_party() -> None:
    f = parts("Why did the widow give both coins, according to Marguerite?")
    assert "marguerite" not in f.mentions and f.doers == {"widow"}


def test_modifiers_tell_two_parties_with_one_noun_apart() -> None:
    assert not same_party("elder brother", "younger brother")
    assert same_party("okafor", "pastor okafor") and same_party("servant", "fellow servant")


def test_a_pronoun_acts_but_is_no_party() -> None:
    f = parts("What do you owe a stranger at the gate?")
    assert f.acting and not f.doers and not f.referring
    assert parts("What did they carry to the temple?").referring


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
    check = role_check(parts(cached), parts(new), mode)
    assert check.rule == "roles" and not check.passed
    assert shown in check.detail


def test_exchanged_needs_the_other_doer_named_by_the_first_question() -> None:
    a, b = parts("What did the bishop say at the flood?"), parts(
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
    check = role_check(parts(cached), parts(new))
    assert check.passed, check.detail


def test_a_demoted_doer_needs_someone_else_acting_to_refuse() -> None:
    a, b = parts("What did Ingrid ask the ferryman?"), parts(
        "What was Ingrid's question to the ferryman?")
    assert demoted(a, b) == ["ingrid"] and not b.acting  # named as a possessor, nobody acts
    assert role_check(a, b).passed
    assert not role_check(a, b, mode="any").passed  # the stricter variant measured beside it
    with pytest.raises(ValueError, match="roles mode"):
        role_check(a, b, mode="strict")


def test_the_strict_before_design_names_roles_as_its_reason() -> None:
    cached, new = ("What did the bishop say to the mayor after the flood?",
                   "What did the mayor say to the bishop after the flood?")
    decision = rule_sets.decide(new, cached, 0.97, rules_policy(Settings()))
    assert not decision.hit and "roles" in [c.rule for c in decision.checks if not c.passed]
    assert "bishop" in decision.to_dict()["checks"]["roles"]["detail"]
    loose = sr.decide(new, cached, 0.97, sr.Policy())  # loose has no roles rule
    assert "roles" not in loose.to_dict()["checks"]
