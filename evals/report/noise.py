"""How much a figure moves between repeated runs of the same code: the noise band that a
report's deltas are read against.

``python -m evals spread`` writes ``reports/spread/<profile>-<notebooks>.json``: per metric
the values of repeated runs and their range (max - min). :func:`bands` gathers them for a
profile (the widest range when several files measured a metric), and :func:`within` says
whether a delta is inside that band, so that a report can mark "+31 ms" on a latency that
moves by 200 ms between identical runs as noise rather than news.
"""

from __future__ import annotations

import json
from pathlib import Path

from evals.paths import REPORTS_DIR

SPREAD_DIR = REPORTS_DIR / "spread"


def bands(profile: str, spread_dir: Path = SPREAD_DIR) -> dict[str, float]:
    """metric -> the range of its repeated runs, from every spread file of ``profile``."""
    out: dict[str, float] = {}
    for path in sorted(spread_dir.glob(f"{profile}-*.json")):
        try:
            rows = json.loads(path.read_text(encoding="utf-8")).get("metrics", [])
        except (OSError, ValueError, AttributeError):
            continue  # a damaged file gives no band, it does not break the report
        for row in rows:
            name, width = row.get("metric"), row.get("range")
            if isinstance(name, str) and isinstance(width, int | float):
                out[name] = max(out.get(name, 0.0), float(width))
    return out


def within(delta: float | None, band: float | None) -> bool:
    """True when ``delta`` is no larger than a measured, non-zero band."""
    return delta is not None and bool(band) and abs(delta) <= float(band)  # type: ignore[arg-type]
