"""How long the service takes to get back to its base tail after the ``spike`` shape's burst
(``load.spike_recovery_s``), from the per-request log of the spike run (pure).

The spike shape runs a fifth of the users, all of them for the middle fifth of the run, then a
fifth again (``loadtests.traffic.shape_target``). The base p99 is that of the requests started
before the burst (after the warm-up); after the burst the requests are grouped by start time in
windows of ``window_s``, and the recovery is the time from the burst's end to the start of the
first window whose p99 is back within ``tolerance`` of the base p99 (0: the first window after
the burst already is). None when no window after the burst gets back there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from loadtests.traffic import SPIKE_WINDOW


@dataclass(frozen=True)
class SpikeRecovery:
    base_p99_ms: float
    spike_p99_ms: float
    recovery_s: float | None  # None: not recovered before the run ended
    windows: int  # windows after the burst that were looked at


def spike_recovery(events: pd.DataFrame, duration_s: float, origin: float, *,
                   warmup_s: float = 0.0, window_s: float = 5.0,
                   tolerance: float = 0.1) -> SpikeRecovery:
    """``events``: the run's per-request rows (``t``: start, epoch seconds; ``ms``);
    ``origin``: the run's start (epoch seconds); ``duration_s``: the run's length."""
    start, end = (origin + duration_s * share for share in SPIKE_WINDOW)
    t, ms = events["t"].to_numpy(float), events["ms"].to_numpy(float)
    before = ms[(t >= origin + warmup_s) & (t < start)]
    during = ms[(t >= start) & (t < end)]
    if not len(before):
        raise ValueError("no request before the spike: the base p99 is unknown")
    base = float(np.percentile(before, 99))
    peak = float(np.percentile(during, 99)) if len(during) else float("nan")
    windows = 0
    at = end
    while at < origin + duration_s:
        inside = ms[(t >= at) & (t < at + window_s)]
        if len(inside):
            windows += 1
            if float(np.percentile(inside, 99)) <= base * (1 + tolerance):
                return SpikeRecovery(round(base, 1), round(peak, 1), round(at - end, 3),
                                     windows)
        at += window_s
    return SpikeRecovery(round(base, 1), round(peak, 1), None, windows)
