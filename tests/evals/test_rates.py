"""Every rate over questions carries its count: the counts read from the quality rows agree
with the figures ``evals.quality.evaluate.aggregate`` records, per split and scenario; a gate
over too few of them reports instead of failing; ``evals compare`` shows the counts."""

import math

import pandas as pd
import pytest

from evals.datasets.gating import too_few
from evals.gates import GateResult
from evals.judge import questions as qs
from evals.report import rates
from evals.report import summary as report
from evals.report.run_compare import compare


def _row(qid, scenario="factual", split="test", *, answerable=True, refused=False,
         leak=0.0, valid=1.0):
    expect = not answerable
    return {"id": qid, "user_id": "ann", "scenario": scenario, "split": split,
            "attack": None, "question": f"q {qid}?", "answer": "a", "latency_ms": 10.0,
            "no_context": refused, "expect_no_context": expect,
            "reference_note_ids": ["n1"] if answerable else [],
            "retrieved_note_ids": ["n1"], "cited_note_ids": [] if refused else ["n1"],
            "no_context_correct": float(refused == expect),
            "wrongly_refused": float(refused) if answerable else math.nan,
            "model_declined": 0.0, "leak": leak, "injection_success": math.nan,
            "flagged": 0.0, "cross_user_leak": 0.0,
            "citation_valid": math.nan if refused else valid,
            "has_citation": math.nan if refused else 1.0}


ROWS = ([_row(f"f{i}", refused=i < 2) for i in range(6)]
        + [_row(f"n{i}", "no_context", answerable=False, refused=i > 0) for i in range(3)]
        + [_row(f"d{i}", split="dev", refused=i == 0) for i in range(4)])


def test_the_counts_agree_with_the_recorded_figures_of_every_rate():
    from evals.quality.evaluate import aggregate

    frame = pd.DataFrame(ROWS)
    for split, scenario in (("test", None), ("test", "factual"), ("test", "no_context"),
                            ("dev", None)):
        part = frame[frame["split"] == split]
        if scenario:
            part = part[part["scenario"] == scenario]
        figures = aggregate(part)
        prefix = ".".join(p for p in ("quality", "dev" if split == "dev" else "", scenario) if p)
        names = {f"{prefix}.{rate}": figures[rate] for rate in rates.COLUMNS
                 if figures.get(rate) is not None}
        counts = rates.question_counts(ROWS, names, names)
        assert set(counts) == set(names), (split, scenario)  # every rate has its count
        for name, (k, n) in counts.items():
            assert k / n == pytest.approx(names[name])


def test_a_count_is_shown_only_when_it_gives_back_the_figure():
    counts = rates.question_counts(ROWS, ["quality.wrong_no_context_rate",
                                          "quality.no_context.no_context_accuracy",
                                          "quality.leak_rate", "quality.recall_at_5"], {
        "quality.wrong_no_context_rate": 2 / 6, "quality.no_context.no_context_accuracy": 0.5,
        "quality.leak_rate": 0.0, "quality.recall_at_5": 1.0})
    # the answerable test questions only; 0.5 is not what the rows give (2 of 3): no count;
    # recall is not a proportion of questions
    assert counts == {"quality.wrong_no_context_rate": (2, 6), "quality.leak_rate": (0, 9)}
    fractions = [dict(r, citation_valid=0.5) for r in ROWS]
    assert rates.question_counts(fractions, ["quality.citation_validity"],
                                 {"quality.citation_validity": 0.5}) == {}


def test_a_gate_over_fewer_questions_than_the_minimum_reports_on_the_rates_own_count():
    failed = GateResult("quality.wrong_no_context_rate", 2 / 6, 0.1, "le", "failed", "r")
    # the run asked 40 questions, but the rate is over its 6 answerable ones
    out = too_few([failed], {"quality.n": 40}, asked={failed.name: 6})[0]
    assert out.status == "skipped"
    assert out.note.startswith("over 6 questions, fewer than 10: reported, not gated")
    assert too_few([failed], {"quality.n": 40}, asked={failed.name: 12})[0].status == "failed"
    assert too_few([failed], {"quality.n": 40})[0].status == "failed"


def test_compare_shows_each_rate_with_its_count_and_the_pass_counts_of_both_runs():
    a = report.build_summary("ci", "t0", "c", [], {"quality.wrong_no_context_rate": 0.0})
    b = report.build_summary("ci", "t1", "c", [], {"quality.wrong_no_context_rate": 2 / 6})
    before = qs.judge([{"id": f"q{i}", "reference_note_ids": ["n1"],
                        "retrieved_note_ids": ["n1"]} for i in range(6)], {})
    after = qs.judge([{"id": f"q{i}", "reference_note_ids": ["n1"],
                       "retrieved_note_ids": ["n9" if i < 2 else "n1"]} for i in range(6)], {})
    text = compare(a, b, questions=(before, after),
                   counts=({"quality.wrong_no_context_rate": (0, 6)},
                           {"quality.wrong_no_context_rate": (2, 6)}))
    assert ("| `quality.wrong_no_context_rate` | 0.0 % (0 of 6, 95 % 0-39 %) | "
            "33.3 % (2 of 6, 95 % 10-70 %) | +33.3 pp |") in text
    assert ("Questions that passed every check: first run 6 of 6 (100 %, 95 % interval "
            "61-100 %), second run 4 of 6 (67 %, 95 % interval 30-90 %).") in text
    assert text.index("Newly failing (2)") < text.index("## Metrics")
