"""``evals compare`` of a rerun with nothing changed lists no moved metric. The summaries and
questions under ``tests/evals/reruns/`` are real runs of the same commit, two by two, one after
the other, on ``init-dataset``'s example on a busy two-core machine: ``python -m evals run
--dataset data/mydata --only quality`` (``quality-*``; latencies differ by up to 2.6x), and
the same with ``--only retrieval --param public_sets='[]' --param chunking_public_sets='[]'``
(``retrieval-*``, the public sets being absent from a team's checkout; the HNSW recalls differ
by up to 0.0045 between the two builds of the index). The paths they record were made relative
to the checkout they ran in (its scratch folder named nothing a reader has)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evals.report import noise
from evals.report.run_compare import compare_runs, moved, unjudged

RERUNS = Path(__file__).parent / "reruns"
PAIRS = {"quality": ("quality-1", "quality-2"), "retrieval": ("retrieval-1", "retrieval-2")}


def recorded(tmp_path: Path, pair: str) -> tuple[Path, str, str]:
    """The two recorded runs as run folders of ``reports/mydata/runs/``."""
    reports = tmp_path / "reports"
    ids = []
    for name in PAIRS[pair]:
        run_id = json.loads((RERUNS / name / "summary.json").read_text())["run"]["id"]
        shutil.copytree(RERUNS / name, reports / "mydata" / "runs" / run_id)
        ids.append(run_id)
    return reports, ids[0], ids[1]


def moved_section(text: str) -> str:
    return text.split("## Metrics that moved beyond their noise band", 1)[1]


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_a_rerun_with_nothing_changed_lists_no_moved_metric(tmp_path, pair):
    reports, first, second = recorded(tmp_path, pair)
    text = compare_runs(first, second, reports)
    assert "## What changed\n\n- nothing" in text
    assert "## Questions that flipped against the first run\n\n- none" in text
    section = moved_section(text)
    assert section.startswith(" (0 of ") and "\n- none\n" in section
    # the latencies did move (the machine was busy), and the output says they were left out
    a = json.loads((RERUNS / PAIRS[pair][0] / "summary.json").read_text())["metrics"]
    b = json.loads((RERUNS / PAIRS[pair][1] / "summary.json").read_text())["metrics"]
    assert a["quality.latency_p50_ms"] != b["quality.latency_p50_ms"]
    left_out = [n for n in a if noise.timing(n) and a[n] != b.get(n)]
    assert "Timing figures left out: " in section and left_out
    shown_all = compare_runs(first, second, reports, show_all=True)
    assert "`quality.latency_p50_ms`" in shown_all and "Timing figures left out" not in shown_all


def test_a_real_change_between_the_same_runs_is_listed(tmp_path):
    reports, first, second = recorded(tmp_path, "quality")
    summary = reports / "mydata" / "runs" / second / "summary.json"
    data = json.loads(summary.read_text())
    data["metrics"]["quality.recall_at_5"] = data["metrics"]["quality.recall_at_5"] - 0.1
    summary.write_text(json.dumps(data))
    section = moved_section(compare_runs(first, second, reports))
    assert section.startswith(" (1 of ") and "`quality.recall_at_5`" in section


def test_an_index_recall_is_judged_against_the_sampling_noise_of_its_queries(tmp_path):
    reports, first, second = recorded(tmp_path, "retrieval")
    a = json.loads((RERUNS / "retrieval-1" / "summary.json").read_text())["metrics"]
    b = json.loads((RERUNS / "retrieval-2" / "summary.json").read_text())["metrics"]
    assert a["retrieval.recall_at_5"] != b["retrieval.recall_at_5"]  # the index's own noise
    assert "Recalls of the HNSW index judged against the sampling noise of their 400 queries" \
        in compare_runs(first, second, reports)
    summary = reports / "mydata" / "runs" / second / "summary.json"
    data = json.loads(summary.read_text())
    data["metrics"]["retrieval.recall_at_5"] = a["retrieval.recall_at_5"] - 0.05  # ef too low
    summary.write_text(json.dumps(data))
    section = moved_section(compare_runs(first, second, reports))
    assert section.startswith(" (1 of ") and "`retrieval.recall_at_5`" in section
    assert noise.sampling_band(0.98, 0.98, 400) < 0.05 < noise.sampling_band(0.5, 0.5, 400) * 2


def test_a_timing_figure_is_judged_by_its_measured_band_or_left_out():
    bands = {"quality.latency_p50_ms": 10.0, "quality.recall_at_5": 0.01}
    assert not moved("quality.latency_p50_ms", 100.0, 119.0, bands)  # inside twice the band
    assert moved("quality.latency_p50_ms", 100.0, 121.0, bands)
    assert not moved("quality.latency_p95_ms", 100.0, 900.0, bands)  # no band: not judged
    assert unjudged(["quality.latency_p50_ms", "quality.latency_p95_ms", "quality.mrr"],
                    bands) == ["quality.latency_p95_ms"]
    assert moved("quality.recall_at_5", 0.90, 0.92, bands)  # other figures: their band as is
    assert moved("quality.mrr", 0.90, 0.9001, bands)  # no band: any change


@pytest.mark.parametrize("name,is_timing", [
    ("quality.latency_p50_ms", True), ("retrieval.qps", True), ("load.rps", True),
    ("load.miss_p99_over_p50", True), ("quality.gen.obey.seconds", True),
    ("retrieval.speedup_vs_exact", True), ("chaos.recovery_over_reset", True),
    ("load.rps_share_of_offered", True), ("retrieval.index_build_s", True),
    ("quality.recall_at_5", False), ("quality.mrr", False), ("cache.hit_rate", False),
    ("load.requests", False), ("quality.tokens_in", False), ("retrieval.recall_at_10", False),
])
def test_timing_names(name, is_timing):
    assert noise.timing(name) is is_timing
