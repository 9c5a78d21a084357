"""Routing's comparison without a model: which figures are gated, their bootstrap intervals,
the table of what moved and the cost figures (evals/quality/routing.py)."""

import pandas as pd
import pytest

from evals.quality import routing


def test_gated_figures_are_the_quality_gates_the_run_recorded():
    recorded = {"recall_at_5": 0.9, "rouge_l": 0.3, "leak_rate": 0.0, "n": 12,
                "route.cost_ratio": 0.5, "flag": True}
    names = ["quality.recall_at_5", "quality.rouge_l", "quality.leak_rate", "quality.mrr",
             "quality.route.cost_ratio", "cache.hit_rate", "quality.flag"]
    assert routing.gated_figures(recorded, names) == ["recall_at_5", "rouge_l", "leak_rate"]
    # the gates file's own quality gates: the interval's figures include the retrieval ones
    assert "recall_at_5" in routing.gated_figures({"recall_at_5": 0.9})


def test_intervals_resample_rows_and_an_exact_figure_has_a_point_interval():
    frame = pd.DataFrame({"x": [0.0, 1.0] * 20, "zero": [0.0] * 40})

    def measure(rows: pd.DataFrame, split: str) -> dict[str, object]:
        return {"x": float(rows["x"].mean()), "zero": float(rows["zero"].mean())}

    bounds = routing.intervals(frame, ["x", "zero"], "test", n_boot=200, measure=measure)
    low, high = bounds["x"]
    assert 0.25 < low < 0.5 < high < 0.75
    assert bounds["zero"] == (0.0, 0.0)
    assert routing.intervals(frame, ["x"], "test", n_boot=50, measure=measure) == \
        routing.intervals(frame, ["x"], "test", n_boot=50, measure=measure)  # seeded


def test_the_table_says_what_moved_and_whether_it_stayed_inside():
    table = routing.figures_table({"a": 0.5, "b": 0.0, "c": 1.0, "gone": 0.1},
                                  {"a": 0.45, "b": 0.01, "c": 1.0},
                                  {"a": (0.4, 0.6), "b": (0.0, 0.0), "c": (0.9, 1.0),
                                   "gone": (0.0, 0.2)})
    rows = table.set_index("figure")
    assert rows.loc["a", "moved"] == pytest.approx(-0.05) and rows.loc["a", "inside"]
    assert not rows.loc["b", "inside"]  # a zero-tolerance figure that moved at all
    assert rows.loc["c", "inside"] and "gone" not in rows.index
    compared = routing.RouteComparison(pd.DataFrame(), pd.DataFrame(), table,
                                       {"cost_ratio": 0.4}, {})
    metrics = compared.metrics()
    assert metrics["route.figures_checked"] == 3 and metrics["route.figures_outside"] == 1
    assert metrics["route.moved.a"] == pytest.approx(-0.05) and metrics["route.cost_ratio"] == 0.4


def test_cost_figures_compare_the_runs_per_answer():
    off = pd.DataFrame({"cost_usd": [0.002, 0.002, 0.0], "model": ["m", "m", "none"]})
    on = pd.DataFrame({"cost_usd": [0.0002, 0.002, 0.0],
                       "model": [routing.CHEAP_MODEL, "m", "none"],
                       "route_fell_back": [False, False, False]})
    costs = routing.cost_figures(off, on)
    assert costs["cost_saved_per_answer"] == pytest.approx(0.0018 / 3)
    assert costs["cost_ratio"] == pytest.approx(0.0022 / 0.004)
    assert costs["cheap_share"] == 0.5 and costs["fell_back"] == 0
