"""The soak's record (``evals.load.soak``): the per-minute table and its slopes on rows made
here, and one sample of real servers (this process as the app, the embedded PostgreSQL and
Redis of the test fixtures)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from evals.gates import evaluate, load_gates
from evals.load.soak import (
    COLUMNS,
    ResourceSampler,
    figures,
    minutes_markdown,
    per_minute,
    settled,
    slopes,
)

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
    check_one_sample(module_database_url, redis_server.url)


def test_a_sample_finds_the_embedded_redis_by_its_socket(
        module_database_url: str, tmp_path: Path) -> None:
    """The embedded Redis listens on a Unix socket only (issue 79): found by its path."""
    from rag_core import services
    from rag_core.config import Settings

    settings = Settings(profile="ci", state_dir=tmp_path / "state")
    try:
        check_one_sample(module_database_url, services.start_redis(settings))
    finally:
        services.stop_redis(settings)


def check_one_sample(database_url: str, redis_url: str) -> None:
    sampler = ResourceSampler(os.getpid(), os.getpid(), {}, every_s=3600.0,
                              database_url=database_url, redis_url=redis_url)
    sampler.start()
    deadline = time.monotonic() + 60  # a generous bound on one sample, not a timing
    while not sampler.rows and time.monotonic() < deadline:
        time.sleep(0.05)
    sampler.done.set()
    sampler.join(timeout=30)
    assert sampler.rows, "the sampler took no sample within 60 s"
    row = sampler.frame().iloc[0]
    assert row["app_rss_mb"] > 10 and row["redis_used_memory_mb"] > 0
    assert row["redis_rss_mb"] > 0  # the server found by its port or socket
    assert row["pg_connections"] >= 0
    assert row["cache_entries"] >= 0  # the layers' indexes read (none written: 0)


# --- the gated rule: the settled half's slopes (evals/gates.toml, profile soak) -------------

SOAK_GATES = [g for g in load_gates(profile="soak") if g.name.startswith("load.soak_")]


def soak_minutes(app_rss: list[float], redis_mb: list[float],
                 entries: list[float]) -> pd.DataFrame:
    """Per-minute rows as ``per_minute`` gives them, from minute 1 (minute 0: the warm-up)."""
    n = len(app_rss)
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"minute": range(1, n + 1), "app_rss_mb": app_rss,
                          "mock_rss_mb": 60.0, "postgres_rss_mb": 200.0, "redis_rss_mb": 20.0,
                          "redis_used_memory_mb": redis_mb, "pg_connections": 14.0,
                          "cache_entries": entries,
                          "p99_ms": 1200.0 + rng.normal(0, 150, n)})
    return frame


def gate_failures(minutes: pd.DataFrame, bound: int) -> list[str]:
    recorded = {f"load.{k}": v for k, v in figures(minutes, bound).items()}
    return [r.name for r in evaluate(SOAK_GATES, recorded, ran=["load"]) if r.status == "failed"]


def fill_then_flat(n: int, start: float, size: float, tau_min: float,
                   noise: float) -> list[float]:
    """A bounded structure filling toward ``size`` (time constant ``tau_min``), then flat."""
    rng = np.random.default_rng(3)
    minute = np.arange(1, n + 1)
    return list(start + size * (1 - np.exp(-minute / tau_min)) + rng.normal(0, noise, n))


def test_caches_filling_to_their_bound_then_flat_pass_the_soak_gates() -> None:
    # the app gains 200 MB and Redis 30 MB in the first minutes, as the caches fill; then flat
    app = fill_then_flat(39, 1100.0, 200.0, 4.0, 3.0)
    redis = fill_then_flat(39, 6.0, 30.0, 3.0, 0.2)
    entries = [min(500.0, 100.0 * m) for m in range(1, 40)]
    minutes = soak_minutes(app, redis, entries)
    got = figures(minutes, 500)
    assert got["soak_app_rss_mb_per_min_whole_run"] > 2.0  # the raw slope would fail it
    assert got["soak_settled_from_minute"] == 20 and got["soak_cache_fill_at_half"] == 1.0
    assert gate_failures(minutes, 500) == []


def test_a_steady_leak_after_the_caches_are_full_fails_the_soak_gates() -> None:
    # the same fill, plus 3 MB a minute in the app and 1.5 MB a minute in Redis all along
    minute = np.arange(1, 40)
    app = list(np.array(fill_then_flat(39, 1100.0, 200.0, 4.0, 3.0)) + 3.0 * minute)
    redis = list(np.array(fill_then_flat(39, 6.0, 30.0, 3.0, 0.2)) + 1.5 * minute)
    entries = [min(500.0, 100.0 * m) for m in range(1, 40)]
    failed = gate_failures(soak_minutes(app, redis, entries), 500)
    assert failed == ["load.soak_app_rss_mb_per_min", "load.soak_redis_used_memory_mb_per_min"]


def test_a_leak_that_starts_once_the_caches_are_full_fails() -> None:
    # a leak that starts late (a structure that grows once something else is full)
    app = [1300.0 if m < 20 else 1300.0 + 4.0 * (m - 20) for m in range(1, 40)]
    minutes = soak_minutes(app, [36.0] * 39, [500.0] * 39)
    assert gate_failures(minutes, 500) == ["load.soak_app_rss_mb_per_min"]


def test_caches_still_filling_at_half_time_fail_the_fill_gate() -> None:
    # a bound the run never reaches (the production 10,000 at ~100 new questions a minute):
    # the settled half cannot tell a fill from a leak, and says so
    entries = [100.0 * m for m in range(1, 40)]
    minutes = soak_minutes([1300.0] * 39, [36.0] * 39, entries)
    assert figures(minutes, 10_000)["soak_cache_fill_at_half"] == 0.2
    assert gate_failures(minutes, 10_000) == ["load.soak_cache_fill_at_half"]


def test_the_settled_half_is_the_last_half_of_the_minutes_after_the_warm_up() -> None:
    minutes = soak_minutes([1.0] * 9, [1.0] * 9, [1.0] * 9)  # minutes 1-9
    assert list(settled(minutes)["minute"]) == [5, 6, 7, 8, 9]
    assert settled(minutes.iloc[:0]).empty
