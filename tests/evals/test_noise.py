"""Noise bands: the range of repeated runs, read from the spread files, beside a report's deltas."""

from __future__ import annotations

import json
from pathlib import Path

from evals.report import markdown as report_md
from evals.report import noise


def _spread(path: Path, rows: list[dict]) -> None:
    path.write_text(json.dumps({"profile": "ci", "metrics": rows}), encoding="utf-8")


def test_bands_take_the_widest_range_of_the_profile_and_skip_damaged_files(tmp_path):
    _spread(tmp_path / "ci-load.json", [{"metric": "load.p99_ms", "range": 120.0},
                                        {"metric": "load.rps", "range": 0.5}])
    _spread(tmp_path / "ci-load-stream.json", [{"metric": "load.p99_ms", "range": 300.0}])
    _spread(tmp_path / "full-load.json", [{"metric": "load.rps", "range": 9.0}])
    (tmp_path / "ci-broken.json").write_text("{not json", encoding="utf-8")
    assert noise.bands("ci", tmp_path) == {"load.p99_ms": 300.0, "load.rps": 0.5}
    assert noise.bands("full", tmp_path) == {"load.rps": 9.0}
    assert noise.bands("ci", tmp_path / "missing") == {}


def test_within_needs_a_measured_non_zero_band():
    assert noise.within(-250.0, 300.0) and not noise.within(301.0, 300.0)
    assert not noise.within(0.1, 0.0) and not noise.within(0.1, None)
    assert not noise.within(None, 300.0)


def test_the_metrics_table_marks_deltas_inside_the_noise():
    metrics = {"load.p99_ms": 1300.0, "load.rps": 15.0, "quality.recall_at_5": 0.93}
    previous = {"load.p99_ms": 1100.0, "load.rps": 12.0, "quality.recall_at_5": 0.92}
    table = report_md.metrics_table(metrics, previous, None,
                                    {"load.p99_ms": 300.0, "load.rps": 0.5})
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].split("|")[1:-1]]
    rows = {line.split("|")[1].strip(): dict(zip(header, (c.strip() for c in line.split("|")[1:-1]),
                                                 strict=True))
            for line in lines[2:]}
    delta, band = "Δ prev", "noise (range of repeats)"
    assert rows["`load.p99_ms`"][delta] == "~+200 ms" and rows["`load.p99_ms`"][band] == "300 ms"
    assert rows["`load.rps`"][delta].startswith("+3")
    assert not rows["`load.rps`"][delta].startswith("~")
    assert rows["`quality.recall_at_5`"][band] == "-"  # no band: deterministic or not repeated
