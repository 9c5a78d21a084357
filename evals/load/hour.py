"""The hour (notebook 04's ``hour_s``; the full profile, never CI): after the concurrency sweep
has found how many streaming users this machine serves with a p99 within ``hour_p99_ms`` (the
seeds' 4 s, scaled to the model's own time: ``hold_limit_ms``), the same users (the sweep's
mix, think time and mock pace) run for ``hour_s`` on a stack of their own, sampled every minute
as the soak is (each server's memory, Redis used_memory, PostgreSQL connections, the fullest
cache layer, the p99), with the soak's slopes (``evals.load.soak``) recorded as ``hour_*``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from evals.load.stack import LoadConfig

SAMPLE_S = 60.0  # one sample a minute, as the soak
WARMUP_S = 60.0  # the first minute is not timed


@dataclass(frozen=True)
class Holding:
    """The sweep step the hour runs at: its users, the answers/s and the p99 it measured."""

    users: int
    rps: float
    p99_ms: float


def hold_limit_ms(steps: pd.DataFrame, p99_ms_max: float, model_ms: float) -> float:
    """The p99 a sweep step must hold. The seeds' ``p99_ms_max`` (4 s) leaves the service
    what the model's own ``model_ms`` (their 3.5 s) does not take. Where the answer alone takes
    longer than that (the mock's latency plus its streaming pace: the lightest step's p99, the
    floor), the same ratio holds over the floor: ``floor * p99_ms_max / model_ms``; never
    stricter than ``p99_ms_max``."""
    p99 = steps["p99_ms"].astype(float) if len(steps) else pd.Series(dtype=float)
    p99 = p99[p99.map(math.isfinite)]
    if not len(p99) or model_ms <= 0:
        return p99_ms_max
    floor = float(p99[steps.loc[p99.index, "users"].astype(int).idxmin()])
    return max(p99_ms_max, floor * p99_ms_max / model_ms)


def users_holding(steps: pd.DataFrame, p99_ms_max: float) -> Holding | None:
    """Of the sweep's steps (``evals.load.sweep.sweep_steps``) whose p99 is within
    ``p99_ms_max``, the one with the most answers per second (ties: fewer users); None when no
    step held it."""
    held = steps[steps["p99_ms"].astype(float) <= p99_ms_max] if len(steps) else steps
    held = held[held["rps"].astype(float).map(math.isfinite)] if len(held) else held
    if not len(held):
        return None
    best = held.sort_values(["rps", "users"], ascending=[False, True]).iloc[0]
    return Holding(int(best["users"]), float(best["rps"]), float(best["p99_ms"]))


def hour_config(sweep: LoadConfig, holding: Holding, hour_s: float,
                sample_s: float = SAMPLE_S) -> LoadConfig:
    """The sweep's users at the step that held: ``holding.users`` of them, sustained for
    ``hour_s`` seconds, sampled every ``sample_s``."""
    return replace(sweep, users=holding.users, spawn_rate=float(max(1, holding.users)),
                   shape="sustained", steps=(), duration_s=int(hour_s),
                   resource_sample_s=float(sample_s), warmup_s=WARMUP_S, label="hour")


def renamed(soak_figures: dict[str, object]) -> dict[str, object]:
    """The soak's figures (``soak_*``) as the hour's (``hour_*``)."""
    return {f"hour_{k.removeprefix('soak_')}": v for k, v in soak_figures.items()}
