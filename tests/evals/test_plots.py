"""Plots fit their axes to the data, draw intervals and mark the run's own point."""

import pandas as pd
from matplotlib.figure import Figure

from evals.report import plots


def test_fit_axis_zooms_on_close_values_and_stays_inside_bounds():
    ax = Figure().subplots()
    plots.fit_axis(ax, [0.81, 0.84], [0.83, 0.87])
    low, high = ax.get_ylim()
    assert 0.7 < low < 0.81 and 0.87 < high < 0.95  # a 0-1 axis would hide the difference
    plots.fit_axis(ax, [0.0], [1.0])
    assert ax.get_ylim()[0] == 0.0 and ax.get_ylim()[1] <= 1.02


def test_the_sweep_plot_draws_bands_and_rings_the_chosen_point(tmp_path):
    frame = pd.DataFrame({
        "top_k": [5, 5], "context_budget": [300, 1200],
        "recall_at_5": [0.9, 0.9], "context_recall": [0.62, 0.81],
        "context_recall_ci_low": [0.55, 0.75], "context_recall_ci_high": [0.69, 0.87],
        "rouge_l": [0.3, 0.31], "context_tokens": [280.0, 760.0]})
    fig = plots.sweep_figure(frame, ("context_recall", "context_tokens"), chosen=(5, 1200))
    recall, tokens = fig.axes[0], fig.axes[1]
    assert recall.get_ylabel() == "context recall"
    assert len(recall.collections) == 2  # the interval band and the ring of this run
    assert recall.collections[1].get_offsets().tolist() == [[1200.0, 0.81]]
    low, high = recall.get_ylim()
    assert 0.45 < low < 0.55 and 0.87 < high < 0.95
    assert tokens.get_ylim()[1] > 760 and tokens.get_ylim()[0] > 100  # not a 0-1 axis
    assert plots.plot_sweep(frame, tmp_path / "sweep.png", chosen=(5, 1200)).is_file()


def test_the_sweep_legend_says_what_the_band_is():
    frame = pd.DataFrame({"top_k": [5, 5], "context_budget": [300, 1200],
                          "context_recall": [0.62, 0.81], "context_recall_ci_low": [0.55, 0.75],
                          "context_recall_ci_high": [0.69, 0.87]})
    fig = plots.sweep_figure(frame, ("context_recall",), chosen=(5, 1200))
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["top_k=5", "this run", "band: 95 % bootstrap interval over the questions"]
    assert fig.axes[0].get_legend() is None  # under the panels, not over the first one's lines
    no_band = plots.sweep_figure(frame.drop(columns=["context_recall_ci_low",
                                                     "context_recall_ci_high"]),
                                 ("context_recall",))
    assert [t.get_text() for t in no_band.legends[0].get_texts()] == ["top_k=5"]


def test_mode_bars_start_at_zero_and_carry_their_values(tmp_path):
    table = pd.DataFrame([{"scenario": s, "mode": m, "recall_at_5": v, "mrr": v, "ndcg_at_10": v}
                          for s, m, v in (("overall", "dense", 0.70), ("overall", "hybrid", 0.74),
                                          ("factual", "dense", 0.93),
                                          ("factual", "hybrid", 1.0))])
    fig = plots.modes_figure(table, ("recall_at_5", "mrr"))
    for ax in fig.axes:
        assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] > 1.0
        values = sorted(t.get_text() for t in ax.texts)
        assert values == ["0.70", "0.74", "0.93", "1.00"]
    assert plots.plot_modes(table, tmp_path / "modes.png").is_file()
