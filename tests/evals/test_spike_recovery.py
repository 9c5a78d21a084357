"""``load.spike_recovery_s``: the time from the spike's end to the first window whose p99 is
back at the base p99, on per-request rows made here (the spike run's log)."""

from __future__ import annotations

import pandas as pd
import pytest

from evals.load.spike import spike_recovery

ORIGIN = 1_000.0


def rows(spans: list[tuple[float, float, float]]) -> pd.DataFrame:
    """Four requests a second from each span's start to its end, each taking its ms."""
    out = []
    for start, end, ms in spans:
        t = start
        while t < end:
            out.append({"t": ORIGIN + t, "ms": ms})
            t += 0.25
    return pd.DataFrame(out)


def test_the_recovery_is_the_time_back_to_the_base_tail() -> None:
    # 100 s run: the spike is 40-60 s; slow until 70 s, then back to the base
    events = rows([(0, 40, 100.0), (40, 60, 3000.0), (60, 70, 900.0), (70, 100, 105.0)])
    got = spike_recovery(events, 100.0, ORIGIN, warmup_s=5.0)
    assert got.base_p99_ms == 100.0 and got.spike_p99_ms == 3000.0
    assert got.recovery_s == pytest.approx(10.0)


def test_a_service_that_never_recovers_says_so() -> None:
    events = rows([(0, 40, 100.0), (40, 100, 3000.0)])
    got = spike_recovery(events, 100.0, ORIGIN)
    assert got.recovery_s is None and got.windows == 8


def test_no_request_before_the_spike_is_an_error() -> None:
    with pytest.raises(ValueError, match="base p99"):
        spike_recovery(rows([(40, 100, 100.0)]), 100.0, ORIGIN)
