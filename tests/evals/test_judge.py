"""Each question judged on its checks, flips between runs, a dataset's baseline, the paired
metric intervals, assertions and the JUnit file (no servers: rows as the quality notebook
writes them)."""

import math
import xml.etree.ElementTree as ET

import pytest

from evals.datasets.gating import dataset_gates, too_few
from evals.gates import Gate, GateResult
from evals.judge import assertions, baseline, junit, paired
from evals.judge import questions as qs


def row(qid, *, refs=("n1",), retrieved=("n1",), no_context=False, expect=False,
        answer="The bill was 870 dollars [1].", cited=("n1",), recall=1.0, **extra):
    return {"id": qid, "user_id": "ann", "scenario": "factual", "question": f"q {qid}?",
            "answer": answer, "no_context": no_context, "expect_no_context": expect,
            "reference_note_ids": list(refs), "retrieved_note_ids": list(retrieved),
            "cited_note_ids": list(cited), "cross_user_leak": 0.0, "leak": 0.0,
            "citation_valid": 1.0, "injection_success": None, "recall_at_5": recall,
            "mrr": recall, **extra}


def test_a_question_passes_when_every_check_passes():
    good, missed, refused = qs.judge([row("a"), row("b", retrieved=("n2",), recall=0.0),
                                      row("c", no_context=True)], {})
    assert good.passed and good.checks["reference_retrieved"]
    assert not missed.passed and missed.failed_checks == ["reference_retrieved"]
    assert refused.failed_checks == ["not_refused"]
    both = qs.judge([row("d", refs=("n1", "n2"), retrieved=("n1",))], {})[0]
    assert both.failed_checks == ["reference_retrieved"]  # every reference note is needed
    answered = qs.judge([row("e", refs=(), expect=True, no_context=False)], {})[0]
    assert answered.failed_checks == ["refused"] and answered.expected == "no context"
    leaked = qs.judge([row("f", cross_user_leak=1.0)], {})[0]
    assert leaked.failed_checks == ["no_cross_user"]


def test_assertions_are_checks_of_their_question():
    stated = [{"type": "contains", "value": "870"}, {"type": "not_contains", "value": ["euro"]},
              {"type": "regex", "value": r"\b8\d\d\b"}, {"type": "cites", "value": "n1"},
              {"type": "no_context", "value": False}]
    good = qs.judge([row("a")], {"a": {"assert": stated, "reference_answer": "870"}})[0]
    assert good.passed and len(good.checks) == 5 + 5 and good.expected == "870"
    vague = qs.judge([row("a", answer="It was   expensive, in EURO.", cited=())],
                     {"a": {"assert": stated}})[0]
    assert vague.failed_checks == ["contains: 870", "not_contains: euro", "regex: \\b8\\d\\d\\b",
                                   "cites: n1"]
    counts = qs.check_counts([good, vague])
    assert counts["contains"] == (1, 2) and counts["no_context"] == (2, 2)


@pytest.mark.parametrize("bad", [{"type": "includes", "value": "x"}, {"type": "contains"},
                                 {"type": "regex", "value": "("}, "contains",
                                 {"type": "no_context", "value": "yes"}])
def test_a_malformed_assertion_says_what_is_wrong(bad):
    with pytest.raises(ValueError, match="assert"):
        assertions.parse([bad])


def test_flips_name_the_questions_that_changed_both_ways():
    before = qs.judge([row("a"), row("b", retrieved=("n2",)), row("c")], {})
    after = qs.judge([row("a", retrieved=("n9",)), row("b"), row("c")], {})
    failing, passing = qs.flips(before, after)
    assert [f.id for f in failing] == ["a"] and [f.id for f in passing] == ["b"]
    lines = baseline.flip_lines(failing, passing)
    assert lines[0] == "newly failing: a" and "newly passing: b" in lines
    preamble = "From your notes (extractive summary, no language model): " * 3
    before, after = baseline._apart(preamble + "Ana leads it.", preamble + "Idris chaired.")
    assert before == "…Ana leads it." and after == "…Idris chaired."
    same = preamble + "Ana leads it [1]."
    assert baseline._apart(same, same) == (baseline._short(same), "(the same answer)")


def test_a_baseline_round_trips_and_judges_a_later_run(tmp_path):
    before = qs.judge([row(f"q{i}") for i in range(12)], {})
    path = baseline.write(tmp_path / "baseline.json", before, baseline.Origin("r1"),
                          metrics={"quality.recall_at_5": 1.0})
    loaded = baseline.load(path)
    assert [q.to_json() for q in loaded.questions] == [q.to_json() for q in before]
    worse = qs.judge([row(f"q{i}", retrieved=("n9",), recall=0.0) if i < 6 else row(f"q{i}")
                      for i in range(12)], {})
    verdict = baseline.judge(worse, loaded)
    gates = {g.name: g for g in verdict.gates()}
    assert gates[baseline.FLIP_GATE].status == "failed"
    assert gates[baseline.FLIP_GATE].value == 6
    assert gates["baseline.recall_at_5.change_high95"].status == "failed"  # beyond its noise
    same = baseline.judge(qs.judge([row(f"q{i}") for i in range(12)], {}), loaded)
    assert all(g.status == "passed" for g in same.gates())
    with pytest.raises(ValueError, match="not a dataset baseline"):
        (tmp_path / "summary.json").write_text('{"metrics": {}}')
        baseline.load(tmp_path / "summary.json")


def test_a_metric_over_few_paired_questions_reports_instead_of_failing():
    before = qs.judge([row("a"), row("b")], {})
    after = qs.judge([row("a", recall=0.0), row("b", recall=0.0)], {})
    change = paired.changes(before, after)[0]
    assert change.worse and change.n == 2 and not change.within_noise
    gate = baseline.Verdict(baseline.Baseline(None, before), [], [], [change]).gates()[-1]
    assert gate.status == "skipped" and "fewer than" in gate.note


def test_wilson_interval_of_a_small_sample():
    low, high = qs.wilson(5, 6)
    assert low == pytest.approx(0.4365, abs=1e-3) and high == pytest.approx(0.9699, abs=1e-3)
    assert qs.rate_text(5, 6) == "5 of 6 (83 %, 95 % interval 44-97 %)"
    assert qs.wilson(0, 0) == (0.0, 1.0)
    # the upper end of 0 of 50 (what a gate at 0 false hits still allows) and of 5 of 50
    assert qs.wilson(0, 50)[1] == pytest.approx(0.0713, abs=1e-3)
    assert qs.wilson(5, 50)[1] == pytest.approx(0.2136, abs=1e-3)


def test_junit_holds_every_gate_and_each_failing_question(tmp_path):
    failing = qs.judge([row("a", retrieved=("n9",)), row("b", no_context=True)], {})
    gates = [GateResult("quality.leak_rate", 0.0, 0.0, "le", "passed"),
             GateResult(baseline.FLIP_GATE, 1.0, 0.0, "le", "failed", "newly failing: a"),
             GateResult("retrieval.filtered_foreign_rows", None, 0.0, "eq", "skipped", "not run")]
    before = qs.judge([row("a"), row("b", no_context=True)], {})
    path = junit.write(tmp_path / "out.xml", gates, failing, qs.compare(before, failing))
    root = ET.parse(path).getroot()
    suites = {s.get("name"): s for s in root}
    assert suites["gates"].get("failures") == "1" and suites["gates"].get("skipped") == "1"
    cases = {c.get("name"): c for c in suites["questions"]}
    assert cases["q a? [a]"].find("failure") is not None
    assert cases["q b? [b]"].find("skipped") is not None  # failed in the baseline too
    first = ET.parse(junit.write(tmp_path / "first.xml", gates, failing, None)).getroot()
    questions = [s for s in first if s.get("name") == "questions"][0]
    assert questions.get("failures") == "0" and questions.get("skipped") == "2"


def test_a_dataset_keeps_only_the_safety_counts_and_its_own_gates(tmp_path):
    harness = [Gate("quality.leak_rate", "le", 0.0, "golden: 0 of 226"),
               Gate("quality.semantic_similarity", "ge", 0.4, "golden sermons"),
               Gate("quality.no_context_accuracy", "ge", 0.87, "golden"),
               Gate("quality.no_context.no_context_accuracy", "ge", 0.87, "golden")]
    gates, sources = dataset_gates(harness, "trips", None)
    assert [g.name for g in gates] == ["quality.leak_rate"]
    assert "dataset trips" in gates[0].reason and "226" not in gates[0].reason
    own = tmp_path / "gates.toml"
    own.write_text('[[gate]]\nname = "quality.no_context_accuracy"\nop = "ge"\nvalue = 0.7\n'
                   'reason = "23 questions"\n\n[[gate]]\nname = '
                   '"quality.no_context.no_context_accuracy"\nop = "ge"\nvalue = 0.5\n'
                   'reason = "6 of them"\n')
    gates, sources = dataset_gates(harness, "trips", own)
    assert {g.name: g.threshold for g in gates} == {
        "quality.leak_rate": 0.0, "quality.no_context_accuracy": 0.7,
        "quality.no_context.no_context_accuracy": 0.5}
    assert set(sources) == {"quality.no_context_accuracy",
                            "quality.no_context.no_context_accuracy"}


def test_an_overall_override_reaches_its_per_scenario_twin(tmp_path):
    from evals.datasets.gating import overlay

    base = [Gate("quality.no_context_accuracy", "ge", 0.87, "golden"),
            Gate("quality.no_context.no_context_accuracy", "ge", 0.87, "golden")]
    own = tmp_path / "gates.toml"
    own.write_text('[[gate]]\nname = "quality.no_context_accuracy"\nop = "ge"\nvalue = 0.8\n'
                   'reason = "23 questions: allows four"\n')
    gates, sources = overlay(base, own)
    twin = {g.name: g for g in gates}["quality.no_context.no_context_accuracy"]
    assert twin.threshold == 0.8 and "23 questions" in twin.reason
    assert set(sources) == {g.name for g in base}
    # on a dataset the golden twin is not gated, until the file's overall row brings it along
    gates, _ = dataset_gates(base, "trips", own)
    assert {g.name: g.threshold for g in gates} == {
        "quality.no_context_accuracy": 0.8, "quality.no_context.no_context_accuracy": 0.8}


def test_a_gate_over_too_few_questions_reports_instead_of_failing():
    results = [GateResult("quality.no_context.no_context_accuracy", 0.0, 1.0, "ge", "failed",
                          "r"),
               GateResult("quality.recall_at_5", 0.5, 0.8, "ge", "failed", "r"),
               GateResult("quality.no_context.cross_user_leaks", 1.0, 0.0, "eq", "failed", "r")]
    out = {r.name: r for r in too_few(results, {"quality.n": 30, "quality.no_context.n": 1})}
    assert out["quality.no_context.no_context_accuracy"].status == "skipped"
    assert "over 1 questions, fewer than 10" in out["quality.no_context.no_context_accuracy"].note
    assert out["quality.recall_at_5"].status == "failed"
    assert out["quality.no_context.cross_user_leaks"].status == "failed"  # a leak is a leak
    assert not math.isnan(out["quality.recall_at_5"].value)


def test_the_results_page_escapes_answers_and_puts_the_flips_first(tmp_path):
    from html.parser import HTMLParser

    from evals.report.page import write_page

    before = qs.judge([row("a"), row("b")], {})
    after = qs.judge([row("a", retrieved=("n9",), answer="<script>alert(1)</script>"),
                      row("b")], {})
    failing, passing = qs.flips(before, after)
    path = write_page(tmp_path, "trips: run 1", after, failing, passing)
    text = path.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text

    class Rows(HTMLParser):
        ids: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag == "tr" and dict(attrs).get("id"):
                self.ids.append(dict(attrs)["id"])

    parser = Rows()
    parser.feed(text)
    assert parser.ids == ["q-a", "q-a", "q-b"]  # the flip first, then every question


def test_a_rechunked_run_flips_only_the_questions_whose_notes_moved():
    """Chunk ids change with RAG_CHUNKING; the baseline keys hits by note, so a run whose chunks
    all have new ids flips only the question whose reference note left the top results."""
    before = qs.judge([row(q, retrieved_chunk_ids=[f"n1:{q}:0"], cited_chunk_ids=[f"n1:{q}:0"])
                       for q in ("a", "b", "c")], {})
    after = qs.judge([row("a", retrieved_chunk_ids=["n1:a:7", "n1:a:8"]),
                      row("b", retrieved_chunk_ids=["n1:b:9"]),
                      row("c", retrieved=("n2",), recall=0.0, retrieved_chunk_ids=["n2:c:1"])],
                     {})
    failing, passing = qs.flips(before, after)
    assert [f.id for f in failing] == ["c"] and passing == []
    assert not any("chunk" in name for q in after for name in q.checks)
