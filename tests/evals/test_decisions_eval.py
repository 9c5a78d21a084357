"""The measuring side of issue 33: per-set tables, ablations and the modes plot (spaCy only; the
pairs and questions are written here, no data set is read)."""

from __future__ import annotations

from pathlib import Path

from evals.decisions import decisions_eval, decisions_plots, designs, semantic_eval
from evals.judge.questions import wilson
from evals.quality import relevance_eval
from rag_core.config import Settings
from rag_core.decisions import semantic_rules as rules
from rag_core.decisions.relevance import RelevancePolicy
from rag_core.types import Chunk

EVIDENCE = rules.Evidence(("n1:0",), ("n1",), ("Odile gives away sixty loaves on Fridays.",))


def pair(pid: str, a: str, b: str, label: str) -> semantic_eval.PairEvidence:
    return semantic_eval.PairEvidence({"id": pid, "user_id": "u", "a": a, "b": b,
                                       "label": label, "split": "test"}, 0.9,
                                      EVIDENCE, EVIDENCE)


PAIRS = [pair("p1", "How many loaves does Odile give away on Fridays?",
              "On Fridays, how many loaves does Odile give away?", "paraphrase"),
         pair("n1", "How many loaves did Odile give away in 2019?",
              "How many loaves did Odile give away in 2021?", "near_miss")]
SAME_WORDS = pair("p2", "How many loaves does Odile give away on Fridays?",
                  "how many loaf does odile give away on friday", "paraphrase")


def test_the_mode_table_and_the_dates_rule_in_the_ablation() -> None:
    collected = {"s": decisions_eval.Collected("s", [*PAIRS, SAME_WORDS])}
    table = decisions_eval.semantic_table(collected, decisions_eval.mode_policies(Settings()))
    strict = table[table["mode"] == "strict"].iloc[0]
    # strict reuses the question in the same words only, not the reordered one
    assert strict["reuse"] == 0.5 and strict["false_hits"] == 0
    assert strict["false_hit_upper95"] == wilson(0, 1)[1]
    loose = table[table["mode"] == "loose"].iloc[0]
    assert loose["reuse"] == 1.0 and loose["false_hits"] == 0
    ablation = decisions_eval.semantic_ablation(collected, designs.rules_policy(Settings()))
    rows = ablation.set_index("left out")
    assert rows.loc["(none)", "s false hits"] == "0/1"
    assert rows.loc["dates", "s false hits"] == "1/1"  # only the dates rule refused it


def test_the_relevance_ablation_answers_what_only_the_rule_refused() -> None:
    chunk = Chunk("n1:0", "n1", "u", 0, "Odile gives away sixty loaves on Fridays.",
                  {"date": "2021-05-02", "speaker": "Pastor Ines Okoro"}, score=0.6)
    items = [{"id": "q1", "user_id": "u", "question": "What did Odile give away in 2018?",
              "expect_no_context": True, "reference_note_ids": [], "scenario": "x"}]
    collected = {"s": decisions_eval.Collected("s", [], [relevance_eval.Retrieved(
        items[0], (chunk,))])}
    table = decisions_eval.relevance_ablation(collected, RelevancePolicy()).set_index("left out")
    assert table.loc["(none)", "s no-context accuracy"] == 1.0
    assert table.loc["dates", "s no-context accuracy"] == 0.0  # only the year refused it


def test_the_modes_plot_is_written(tmp_path: Path) -> None:
    collected = {"s": decisions_eval.Collected("s", PAIRS)}
    table = decisions_eval.semantic_table(collected, decisions_eval.mode_policies(Settings()))
    path = decisions_plots.plot_modes(table, tmp_path / "modes.png")
    assert path.stat().st_size > 1000


def test_the_external_pairs_are_decided_row_by_row_and_absent_sets_record_none() -> None:
    strict = designs.rules_policy(Settings())
    assert decisions_eval.external_decisions({}, strict) is None
    assert set(decisions_eval.external_pair_figures(None).values()) == {None}
    decided = decisions_eval.external_decisions({decisions_eval.EXTERNAL: PAIRS}, strict)
    assert decided is not None
    assert list(decided["id"]) == ["p1", "n1"]
    assert list(decided["hit"]) == [True, False]
    assert "dates" in decided.set_index("id").loc["n1", "explanation"]
    figures = decisions_eval.external_pair_figures(decided)
    assert figures["external.semantic_reuse"] == 1.0
    assert figures["external.semantic_false_hits"] == 0
