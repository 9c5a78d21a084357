"""The load timeline marks its warm-up; the recall/latency plot's labels never overlap."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from evals.load import plots as load_plots
from evals.retrieval import plots as bench_plots


def _timeline(idle_s: int, seconds: int = 30) -> pd.DataFrame:
    t = np.arange(seconds, dtype=float)
    rps = np.where(t < idle_s, 0.0, 10.0)
    return pd.DataFrame({"t": t, "rps": rps, "users": np.minimum(t * 10, 20),
                         "p50_ms": np.where(rps > 0, 200.0, np.nan), "p95_ms": 900.0,
                         "failures_s": 0.0, "documented_s": 0.0})


def test_the_warm_up_ends_at_the_first_answer_or_the_configured_warm_up():
    assert load_plots.warmup_end(_timeline(11)) == 11.0
    assert load_plots.warmup_end(_timeline(11), warmup_s=15) == 15.0
    assert load_plots.warmup_end(_timeline(0)) is None
    assert load_plots.warmup_end(_timeline(0), warmup_s=5) == 5.0


def test_the_timeline_shades_and_labels_the_warm_up(tmp_path):
    fig = load_plots.timeline_figure(_timeline(11), "run")
    ax_rps, ax_lat, ax_fail = fig.axes[:3]
    legend = [t.get_text() for t in ax_rps.get_legend().get_texts()]
    assert legend == ["requests/s", "warm-up (not gated)"]
    assert any("warm-up: 11 s" in t.get_text() for t in ax_rps.texts)
    spans = [p for p in ax_lat.patches if p.get_label() != "LLM outage"]
    assert len(spans) == 1
    assert ax_fail.get_ylim()[0] == 0  # no failures: the axis is not centred on 0
    steady = load_plots.timeline_figure(_timeline(0), "run")
    assert [t.get_text() for t in steady.axes[0].get_legend().get_texts()] == ["requests/s"]
    assert load_plots.plot_timeline(_timeline(11), tmp_path / "t.png", warmup_s=5).is_file()


def test_point_labels_keep_clear_of_each_other():
    ax = Figure(dpi=100).subplots()
    # five lines through nearly the same points: most labels have no free place
    points = [(1.0 + 0.002 * line, 0.9 + 0.01 * i + 0.001 * line, str(10 * 2 ** i), "k")
              for line in range(5) for i in range(5)]
    ax.plot([p[0] for p in points], [p[1] for p in points], "o")
    ax.set_xlim(0, 10)  # the five lines within a few pixels of each other
    ax.set_ylim(0, 1)
    placed = bench_plots.label_points(ax, points)
    assert 1 <= len(placed) < len(points)
    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    boxes = [a.get_window_extent(renderer) for a in placed]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    # points far apart all get their label
    apart = [(float(i), float(i), str(i), "k") for i in range(1, 6)]
    ax2 = Figure(dpi=100).subplots()
    ax2.plot(range(1, 6), range(1, 6), "o")
    assert len(bench_plots.label_points(ax2, apart)) == 5
