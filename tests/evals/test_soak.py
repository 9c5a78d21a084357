"""The soak's record (``evals.load.soak``): the per-minute table and its slopes on rows made
here, and one sample of real servers (this process as the app, the embedded PostgreSQL and
Redis of the test fixtures)."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evals.load.soak import COLUMNS, ResourceSampler, minutes_markdown, per_minute, slopes

ORIGIN = 10_000.0


def samples(minutes: int, rss_per_min: float) -> pd.DataFrame:
    rows = []
    for m in range(minutes):
        row = {c: 10.0 for c in COLUMNS}
        row["app_rss_mb"] = 300.0 + rss_per_min * m
        rows.append({"t": ORIGIN + 60 * m + 5, **row})
    return pd.DataFrame(rows)


def test_a_growing_process_shows_a_positive_slope_and_a_flat_one_none() -> None:
    events = pd.DataFrame({"t": ORIGIN + np.arange(0, 600, 1.0),
                           "ms": np.tile(np.linspace(100, 200, 60), 10)})
    table = per_minute(samples(10, 4.0), events, ORIGIN)
    assert list(table["minute"]) == list(range(10))
    got = slopes(table)
    assert got["app_rss_mb"] == pytest.approx(4.0)
    assert got["redis_used_memory_mb"] == pytest.approx(0.0, abs=1e-9)
    assert got["p99_ms"] == pytest.approx(0.0, abs=1e-6)
    assert table["p99_ms"].iloc[0] == pytest.approx(np.percentile(np.linspace(100, 200, 60), 99))
    text = minutes_markdown(table)
    assert text.splitlines()[0].startswith("| minute | app_rss_mb") and len(text.splitlines()) == 12


def test_the_warm_up_minutes_are_left_out() -> None:
    events = pd.DataFrame({"t": ORIGIN + np.arange(0, 600, 1.0), "ms": 100.0})
    table = per_minute(samples(10, 4.0), events, ORIGIN, warmup_s=90)
    assert list(table["minute"]) == list(range(2, 10))  # minute 1 starts inside the warm-up
    assert slopes(table)["app_rss_mb"] == pytest.approx(4.0)


def test_too_few_minutes_fit_no_slope() -> None:
    assert slopes(per_minute(samples(2, 4.0), pd.DataFrame(columns=["t", "ms"]),
                             ORIGIN))["app_rss_mb"] is None


@pytest.mark.integration
def test_a_sample_reads_real_servers(module_database_url: str, redis_server: Any) -> None:
    sampler = ResourceSampler(os.getpid(), os.getpid(), {}, every_s=3600.0,
                              database_url=module_database_url, redis_url=redis_server.url)
    sampler.start()
    deadline = time.monotonic() + 60  # a generous bound on one sample, not a timing
    while not sampler.rows and time.monotonic() < deadline:
        time.sleep(0.05)
    sampler.done.set()
    sampler.join(timeout=30)
    row = sampler.frame().iloc[0]
    assert row["app_rss_mb"] > 10 and row["redis_used_memory_mb"] > 0
    assert row["redis_rss_mb"] > 0  # the server found by its port
    assert row["pg_connections"] >= 0
