"""Later turns of conversations judged as questions (``evals.judge.turns``): the per-question
baseline knows a turn by its conversation and text, so a follow-up that regresses is named;
and the results page shows the follow-up figures the run recorded
(``evals.report.page_conversations``). No servers: rows as notebook 01 writes them."""

from __future__ import annotations

from pathlib import Path

from evals.gates import GateResult
from evals.judge import baseline, turns
from evals.judge import questions as qs
from evals.judge.outcome import judge_run
from evals.report.page import write_page


def turn(conversation: str, n: int, question: str = "What else did she preach on?", *,
         rewritten: str = "What else did Ann Lee preach on?", follow: float = 1.0,
         alone: float = 1.0, accurate: float = 1.0, no_context: bool = False,
         expect: bool = False) -> dict[str, object]:
    return {"conversation": conversation, "turn": n, "user_id": "ann", "split": "test",
            "kind": "pronoun", "question": question,
            "expected": "What else did Ann Lee preach on?", "rewritten": rewritten,
            "made_by": "rules", "reference_note_ids": [] if expect else ["ann-amos"],
            "expect_no_context": expect, "accurate": accurate, "made_by_agrees": 1.0,
            "followup_recall": None if expect else follow,
            "standalone_recall": None if expect else alone,
            "retrieved_note_ids": ["ann-amos"], "no_context": no_context,
            "cited_note_ids": [] if no_context else ["ann-amos"], "answer": "Amos 5 [1]."}


def test_a_turn_is_checked_on_its_rewrite_its_recall_and_its_answer() -> None:
    (good, lost, wrong, refused, said) = turns.judge([
        turn("c1", 1), turn("c2", 1, follow=0.5), turn("c3", 1, accurate=0.0),
        turn("c4", 1, no_context=True), turn("c5", 1, expect=True)])
    assert good.passed and good.id == "c1/turn-2" and good.conversation == "c1"
    assert good.standalone_question == "What else did Ann Lee preach on?"
    assert lost.failed_checks == ["recall_as_standalone"]
    assert wrong.failed_checks == ["standalone_accurate"]
    assert refused.failed_checks == ["not_refused"]
    assert said.failed_checks == ["refused"]  # expected no context, was answered


def test_a_follow_up_that_regresses_is_named_by_its_conversation() -> None:
    before = baseline.Baseline(Path("b.json"), turns.judge([turn("c1", 1), turn("c2", 1)]))
    # the same words in c2 regress; c1 gained a turn before this one (its index moved)
    after = turns.judge([turn("c1", 2), turn("c2", 1, follow=0.0),
                         turn("c1", 1, "Who preached on Amos?")])
    verdict = baseline.judge(after, before)
    assert [f.id for f in verdict.newly_failing] == ["c2/turn-2"]
    assert verdict.newly_failing[0].after.conversation == "c2"
    assert [q.id for q in verdict.compared.new] == ["c1/turn-2"]  # the new turn of c1
    assert verdict.compared.gone == []  # c1's old turn 2 is its turn 3 now: the same turn
    gate = next(g for g in verdict.gates() if g.name == baseline.FLIP_GATE)
    assert gate.status == "failed" and "c2/turn-2" in gate.note


def test_the_same_words_in_another_conversation_are_another_turn() -> None:
    (a, b) = turns.judge([turn("c1", 1), turn("c2", 1)])
    assert a.question == b.question and a.fingerprint != b.fingerprint


def test_a_baseline_older_than_turns_compares_the_questions_alone() -> None:
    question = qs.Question("q1", "ann", "factual", "q?", "a", ["n1"], ["n1"], ["n1"], "a",
                           False, checks={"ok": True}, fingerprint="f1")
    verdict = baseline.judge([question, *turns.judge([turn("c1", 1, accurate=0.0)])],
                             baseline.Baseline(Path("b.json"), [question]))
    assert verdict.compared.new == [] and verdict.compared.new_failing == []


def test_a_run_judges_its_turns_beside_its_questions(tmp_path: Path) -> None:
    folder = tmp_path / "quality"
    folder.mkdir()
    import json

    (tmp_path / turns.ROWS_FILE).write_text(
        "".join(json.dumps(r) + "\n" for r in (turn("c1", 1), turn("c2", 1, follow=0.0))))
    judged = judge_run(tmp_path, [], None)
    assert [q.id for q in judged.questions] == ["c1/turn-2", "c2/turn-2"]
    assert "later turns of conversations: 1 of 2" in "\n".join(judged.markdown_lines())
    assert [q["id"] for q in map(json.loads, (tmp_path / qs.QUESTIONS_FILE).read_text()
                                 .splitlines())] == ["c1/turn-2", "c2/turn-2"]


def test_the_results_page_shows_the_follow_up_figures_the_run_recorded(
        tmp_path: Path) -> None:
    metrics = {"quality.conversations.followup_recall_at_5": 0.97,
               "quality.conversations.standalone_recall_at_5": 0.97,
               "quality.conversations.followup_recall_gap": 0.0,
               "quality.conversations.standalone_accuracy": 1.0,
               "quality.conversations.followup_no_context_accuracy": 0.9,
               "quality.recall_at_5": 0.5}
    gates = [GateResult("quality.conversations.followup_recall_gap", 0.0, 0.05, "le", "passed")]
    judged = turns.judge([turn("c1", 1, rewritten="<b>Ann</b>"), turn("c2", 1, follow=0.0)])
    text = write_page(tmp_path, "run", judged, metrics=metrics, gates=gates).read_text()
    section = text[text.index("<section id='follow-ups'>"):text.index("</section>",
                                                                       text.index("follow-ups"))]
    for name in ("followup_recall_at_5", "standalone_recall_at_5", "followup_recall_gap",
                 "standalone_accuracy", "followup_no_context_accuracy"):
        assert f"<code>{name}</code>" in section
    assert "0.9700" in section and "passed: &lt;= 0.0500" in section
    assert "1 of 2 later turns pass every check" in section
    assert "quality.recall_at_5" not in section and "<code>recall_at_5" not in section
    assert "standalone: &lt;b&gt;Ann&lt;/b&gt;" in text and "<b>Ann</b>" not in text
    assert "id=\"q-c2/turn-2\"" in text


def test_a_run_without_follow_ups_has_no_section(tmp_path: Path) -> None:
    text = write_page(tmp_path, "run", [], metrics={"quality.recall_at_5": 0.5}).read_text()
    assert "follow-ups" not in text
