"""The steady window of a closed-loop run (evals.load.metrics.steady_window): the served share
of the offered rate and the misses' tail do not count a fresh app's start-up, however long a
busy machine makes it, and still fall when the app stops answering. Rows built by hand."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evals.load import metrics as load_metrics

STATS = pd.DataFrame([{"Name": "Aggregated", "Request Count": 1, "Failure Count": 0,
                       "Requests/s": 1.0, "Median Response Time": 1, "50%": 1, "95%": 1, "99%": 1,
                       "Max Response Time": 1}])


def closed_loop(users: int, cold_s: float, duration_s: float, think_s: float = 1.0,
                answer_s: float = 0.2, hang_after_s: float | None = None) -> pd.DataFrame:
    """Each user asks, waits for the answer, thinks ``think_s`` and asks again until
    ``duration_s``. The users' first questions (started 0.05 s apart) are answered at
    ``cold_s`` (an app loading its models); later ones take ``answer_s``, and a question
    asked after ``hang_after_s`` is answered only at the end of the run."""
    rows = []
    for user in range(users):
        t = 0.05 * user
        first = True
        while t < duration_s:
            ms = 1000 * (max(cold_s - t, answer_s) if first else answer_s)
            if hang_after_s is not None and t >= hang_after_s:
                ms = 1000 * (duration_s - t)
            rows.append({"t": 1000.0 + t, "ms": ms, "outcome": "miss" if user % 2 else "hit",
                         "cost_usd": 0.0, "failure": None})
            t += ms / 1000 + think_s
            first = False
    return pd.DataFrame(rows).sort_values("t").reset_index(drop=True)


def _summary(events: pd.DataFrame, users: int = 20) -> dict[str, float]:
    return load_metrics.summarise_load(STATS, events, offered_rps=users / 1.0, warmup_s=3.0,
                                       duration_s=30, users=users)


def test_cold_start_is_the_first_wave_answered():
    events = closed_loop(20, cold_s=9.0, duration_s=30)
    assert load_metrics.cold_start_s(events, 20) == pytest.approx(9.0)
    # the app was warm: the first wave is answered answer_s after the last user's first ask
    assert load_metrics.cold_start_s(closed_loop(20, 0.0, 30), 20) == pytest.approx(0.95 + 0.2)
    assert math.isnan(load_metrics.cold_start_s(events.iloc[:0], 20))


def test_a_longer_start_up_moves_the_whole_run_share_not_the_steady_one():
    quick, slow = _summary(closed_loop(20, 2.0, 30)), _summary(closed_loop(20, 10.0, 30))
    assert quick["steady_from_s"] == 3.0 and slow["steady_from_s"] == pytest.approx(10.0)
    assert slow["cold_start_s"] == pytest.approx(10.0)
    # each user serves one question per 1.2 s once warm: 1 / 1.2 of the offered rate
    for run in (quick, slow):
        assert run["rps_share_of_offered"] == pytest.approx(1 / 1.2, abs=0.05)
        assert run["miss_p95_over_p50"] == pytest.approx(1.0)
    whole_quick = load_metrics.summarise_load(STATS, closed_loop(20, 2.0, 30), offered_rps=20.0)
    assert whole_quick["rps_share_of_offered"] == pytest.approx(1 / 20)  # Locust's 1 req/s


def test_an_app_that_stops_answering_loses_its_share():
    hung = _summary(closed_loop(20, 2.0, 30, hang_after_s=12.0))
    assert hung["rps_share_of_offered"] < 0.4
    assert hung["miss_p99_over_p50"] > 10  # the hung misses are the tail


def test_the_closed_loop_share_is_one_however_slow_the_answers():
    """A slower machine lengthens every answer: the share of the offered rate falls, the
    share of what the closed loop issues at that latency does not."""
    for answer_s in (0.2, 0.8, 2.0):
        run = _summary(closed_loop(20, 2.0, 30, answer_s=answer_s))
        assert run["rps_share_of_offered"] == pytest.approx(1 / (1 + answer_s), abs=0.06)
        assert run["rps_share_of_closed_loop"] == pytest.approx(1.0, abs=0.06)


def test_the_closed_loop_share_falls_when_answers_never_come():
    """Questions asked after 12 s never come back: the users wait on them until the run
    ends, and Locust, stopping them, logs nothing."""
    events = closed_loop(20, 2.0, 30, hang_after_s=12.0)
    events = events[events["t"] < 1012.0]
    assert _summary(events)["rps_share_of_closed_loop"] < 0.4


def test_a_first_wave_longer_than_half_the_run_is_not_cut():
    """Users kept waiting 20 s of a 30 s run: no steady part is left, so the window starts at
    the warm-up, and the seconds the users spent waiting count against both shares."""
    run = _summary(closed_loop(20, 20.0, 30))
    assert run["cold_start_s"] == pytest.approx(20.0)
    assert run["steady_from_s"] == 3.0
    assert run["rps_share_of_closed_loop"] < 0.5 and run["rps_share_of_offered"] < 0.4
