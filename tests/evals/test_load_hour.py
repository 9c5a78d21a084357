"""The hour of the full profile (evals.load.hour): configured there and nowhere in CI, at the
sweep's step that held a p99 of 4 s, sustained for an hour with the soak's per-minute samples."""

from __future__ import annotations

import pandas as pd

from evals.load import hour
from evals.load.loadtest import sweep_config
from evals.load.stack import LoadConfig
from evals.profiles import NOTEBOOKS

STEPS = pd.DataFrame({"users": [25, 50, 100, 200], "rps": [4.0, 8.0, 11.0, 11.5],
                      "p99_ms": [900.0, 1800.0, 3900.0, 9000.0]})


def _load_params(profile: str) -> dict[str, object]:
    [spec] = [s for s in NOTEBOOKS if s.name == "load"]
    return spec.profile_params(profile)


def test_the_full_profile_runs_an_hour_at_the_rate_holding_four_seconds() -> None:
    full = _load_params("full")
    assert full["hour_s"] == 3600 and full["hour_p99_ms"] == 4000.0
    assert full["sweep_users"], "the hour's rate comes from the sweep"
    for profile in ("ci", "smoke", "dev", "soak"):
        assert _load_params(profile).get("hour_s", 0) == 0, f"{profile} runs no hour"


def test_the_step_with_the_most_answers_whose_p99_held() -> None:
    held = hour.users_holding(STEPS, 4000.0)
    assert held == hour.Holding(100, 11.0, 3900.0)  # 200 users answered more, at 9 s
    assert hour.users_holding(STEPS, 500.0) is None
    assert hour.users_holding(STEPS.iloc[0:0], 4000.0) is None


def test_the_hour_is_the_sweeps_users_sustained_and_sampled_each_minute() -> None:
    sweep = sweep_config(LoadConfig(mock_latency_ms=3500.0), [25, 50, 100], 60.0,
                         tokens_per_s=50.0, wait_s=(0.5, 1.5))
    config = hour.hour_config(sweep, hour.Holding(50, 8.0, 1800.0), 3600)
    assert (config.users, config.shape, config.steps, config.duration_s) == (
        50, "sustained", (), 3600)
    assert config.resource_sample_s == 60.0 and config.label == "hour"
    assert (config.mix, config.wait_s, config.mock_tokens_per_s) == ("stream", (0.5, 1.5), 50.0)


def test_the_hours_figures_are_the_soaks_renamed() -> None:
    assert hour.renamed({"soak_p99_ms_per_min": 1.5, "soak_minutes": 59}) == {
        "hour_p99_ms_per_min": 1.5, "hour_minutes": 59}


def test_the_seeds_four_seconds_scale_with_the_models_own_time() -> None:
    # the full profile's mock: 3.5 s, then streamed at 50 tokens/s; the lightest step (25
    # users) takes 6.3 s at p99 with no queue, so 4 s can never hold: the ratio 4/3.5 does
    slow = pd.DataFrame({"users": [50, 25, 100], "rps": [8.2, 4.0, 12.7],
                         "p99_ms": [6993.0, 6311.0, 8793.0]})
    limit = hour.hold_limit_ms(slow, 4000.0, 3500.0)
    assert limit == 6311.0 * 4000.0 / 3500.0
    assert hour.users_holding(slow, limit) == hour.Holding(50, 8.2, 6993.0)
    # a model fast enough that the seeds' 4 s leaves room: the 4 s stands, never stricter
    assert hour.hold_limit_ms(STEPS, 4000.0, 3500.0) == 4000.0
    assert hour.hold_limit_ms(STEPS.iloc[0:0], 4000.0, 3500.0) == 4000.0
