"""Questions known by their text: a fingerprint of the text and notes; a question new, changed
or gone since the baseline is said to be, a new one that fails fails the gate unless marked
``expect: fail`` with a reason, and the JUnit file says so and always parses
(evals/judge/questions.py, baseline.py, junit.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from evals.judge import baseline, junit
from evals.judge import questions as qs


def row(qid, question=None, *, ok=True, answer="The kiln fires on Fridays [1].", refs=("n1",)):
    return {"id": qid, "user_id": "rosa", "scenario": "factual",
            "question": question or f"When is kiln {qid} fired?", "answer": answer,
            "no_context": False, "expect_no_context": False, "reference_note_ids": list(refs),
            "retrieved_note_ids": list(refs) if ok else ["n9"], "cited_note_ids": list(refs),
            "cross_user_leak": 0.0, "leak": 0.0, "citation_valid": 1.0,
            "injection_success": None, "recall_at_5": 1.0 if ok else 0.0, "mrr": 1.0}


KNOWN = {"expect": "fail", "reason": "the glaze notes never say it"}


def _baseline(rows, items=None):
    return baseline.Baseline(None, qs.judge(rows, items or {}))


def test_a_fingerprint_ignores_spacing_and_case_but_not_words_or_notes():
    a = qs.fingerprint("When is the kiln  fired?", ["n1"])
    assert a == qs.fingerprint("when is the KILN fired?", ["n1"])
    assert a != qs.fingerprint("When is the kiln cleaned?", ["n1"])
    assert a != qs.fingerprint("When is the kiln fired?", ["n2"])


def test_new_changed_and_gone_questions_are_reported_as_such_never_as_old_failures():
    old = _baseline([row("a"), row("b"), row("gone")])
    now = qs.judge([row("a"), row("b", "Who glazes the bowls?", ok=False),
                    row("new", ok=False)], {})
    verdict = baseline.judge(now, old)
    found = verdict.compared
    assert [q.id for q in found.new] == ["new"]
    assert [f.after.id for f in found.changed] == ["b"]
    assert [q.id for q in found.gone] == ["gone"]
    assert verdict.newly_failing == [] and found.still_failing == []
    gates = {g.name: g for g in verdict.gates()}
    assert gates[baseline.NEW_GATE].status == "failed"
    assert gates[baseline.NEW_GATE].note.endswith(": new, b")
    lines = "\n".join(baseline.change_lines(found, now))
    assert "new since the baseline: new (FAILS)" in lines
    assert "text changed since the baseline: b (FAILS)" in lines
    assert "gone since the baseline: gone" in lines
    text = "\n".join(baseline.change_markdown(found, now))
    assert "failed in the baseline too" not in text and "- Gone: 1" in text


def test_a_renumbered_question_is_found_by_its_text():
    old = _baseline([row("q1", "When is the kiln fired?"), row("q2", "Who mixes clay?")])
    now = qs.judge([row("q7", "When is the kiln fired?", ok=False),
                    row("q8", "Who mixes clay?")], {})
    found = qs.compare(old.questions, now)
    assert [f.before.id for f in found.newly_failing] == ["q1"]
    assert [f.after.id for f in found.newly_failing] == ["q7"]
    assert found.new == [] and found.gone == []


def test_a_new_failing_question_passes_the_gate_once_marked_expect_fail(tmp_path):
    old = _baseline([row("a")])
    now = qs.judge([row("a"), row("new", ok=False)], {"new": KNOWN})
    verdict = baseline.judge(now, old)
    assert {g.name: g.status for g in verdict.gates()}[baseline.NEW_GATE] == "passed"
    listed = [q for q in now if not q.passed or q.known_failure]
    root = ET.parse(junit.write(tmp_path / "j.xml", verdict.gates(), listed,
                                verdict.compared)).getroot()
    questions = [s for s in root if s.get("name") == "questions"][0]
    case = questions.find("testcase")
    assert case is not None and case.find("failure") is None
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "expected failure: the glaze notes never say it"


def test_a_known_failure_that_now_passes_is_reported(tmp_path):
    old = _baseline([row("a", ok=False)], {"a": KNOWN})
    now = qs.judge([row("a")], {"a": KNOWN})
    verdict = baseline.judge(now, old)
    assert [f.id for f in verdict.newly_passing] == ["a"]
    assert "known failures that now pass (remove expect: fail): a" in \
        baseline.change_lines(verdict.compared, now)
    root = ET.parse(junit.write(tmp_path / "j.xml", [], now, verdict.compared)).getroot()
    out = root.find(".//testcase/system-out")
    assert out is not None and out.text.startswith("known failure now passes")


def test_a_junit_case_is_named_by_its_text_and_a_failure_holds_both_answers(tmp_path):
    old = _baseline([row("a", "When is the big kiln fired for the stoneware class?")])
    now = qs.judge([row("a", "When is the big kiln fired for the stoneware class?", ok=False,
                        answer="I could not find it.")], {})
    verdict = baseline.judge(now, old)
    root = ET.parse(junit.write(tmp_path / "j.xml", [], now, verdict.compared)).getroot()
    case = root.find(".//testcase")
    assert case is not None
    assert case.get("name") == "When is the big kiln fired for the stoneware class? [a]"
    failure = case.find("failure")
    assert failure is not None
    assert "before: The kiln fires on Fridays [1]." in failure.text
    assert "after: I could not find it." in failure.text


@pytest.mark.parametrize("bad", ["q\x01", "q\x1b[31m", "q\ufffe", "q\x0c"])
def test_control_characters_are_escaped_and_the_file_parses(tmp_path, bad):
    now = qs.judge([row(bad, f"When {bad} fired?", ok=False, answer=f"an {bad} answer")], {})
    path = junit.write(tmp_path / "j.xml", [], now, None)
    case = ET.parse(path).getroot().find(".//testcase")
    assert case is not None and ("\\x" in case.get("name") or "\\u" in case.get("name"))


def test_an_old_baseline_without_fingerprints_still_matches_by_id():
    old = qs.judge([row("a")], {})
    old[0].fingerprint = ""
    found = qs.compare(old, qs.judge([row("a", ok=False)], {}))
    assert [f.id for f in found.newly_failing] == ["a"] and found.changed == []
