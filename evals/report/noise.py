"""How much a figure moves between repeated runs of the same code: the noise band that a
report's deltas are read against.

``python -m evals spread`` writes ``reports/spread/<profile>-<notebooks>.json``: per metric
the values of repeated runs and their range (max - min). :func:`bands` gathers them for a
profile (the widest range when several files measured a metric), and :func:`within` says
whether a delta is inside that band, so that a report can mark "+31 ms" on a latency that
moves by 200 ms between identical runs as noise rather than news.

Timing figures (latencies, durations, throughput and their ratios: :func:`timing`) move with
the machine's load, not with the code or the settings: ``evals compare`` judges them only
against a measured band, widened by :data:`TIMING_FACTOR` (a third run falls outside the range
of two or three earlier ones as often as not), and leaves them out, saying so, where no band
was measured.

The approximate-search recalls of the retrieval notebook (``retrieval.recall_at_5``, ...:
:func:`sampled`) move between two builds of the same HNSW index (pgvector draws each
vector's level at random, unseeded), by a few queries in a few hundred. They are judged
against the sampling noise of their queries (:func:`sampling_band`): the 95 % interval of the
difference of two means over ``n_queries`` queries each.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from evals.paths import REPORTS_DIR

SPREAD_DIR = REPORTS_DIR / "spread"
TIMING_FACTOR = 2.0  # a timing moved when beyond this many times its measured range
# the last part of a metric's name: a time, a rate per second, a percentile or a speed ratio
_TIMING = re.compile(r"(_ms|_s|seconds|rps|qps)$|latency|speedup|(^|_)p\d\d(_|$)|_over_reset$"
                     r"|(^|_)rps_")


_SAMPLED = re.compile(r"^retrieval\.[a-z0-9_]*recall_at_\d+[a-z_]*$")


def sampled(name: str) -> bool:
    """True for a recall of the retrieval notebook's HNSW index against exact search."""
    return bool(_SAMPLED.match(name))


def sampling_band(old: float, new: float, n: int) -> float:
    """Half the 95 % interval of the difference of two mean recalls over ``n`` queries each
    (a query's recall lies in 0-1, so its variance is at most p(1 - p))."""
    p = min(max((old + new) / 2, 0.0), 1.0)
    return 1.96 * (2 * p * (1 - p) / n) ** 0.5 if n > 0 else 0.0


def timing(name: str) -> bool:
    """True for a figure that measures time or speed (``quality.latency_p50_ms``,
    ``retrieval.qps``, ``load.miss_p99_over_p50``, ``quality.gen.obey.seconds``)."""
    return bool(_TIMING.search(name.rsplit(".", 1)[-1]))


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
