"""The spike's shedding figures (evals/load/shed.py) from a per-request log made here: the
burst's height over the sustained rate, the admitted questions' p99 against their SLO, the shed
share, timeouts and 500s."""

from __future__ import annotations

import pandas as pd
import pytest
from geventhttpclient.header import Headers

from evals.load.cpu import cores_between
from evals.load.shed import shed_figures, sustained_rate
from evals.load.stack import shed_reasons
from loadtests.lateness import Lateness, server_timing
from rag_core.telemetry import metrics

ORIGIN = 1_000.0  # a 100 s run: the burst is 40-60 s (loadtests.traffic.SPIKE_WINDOW)


def rows(n: int, at: float, outcome: str, ms: float, status: int = 200,
         stale: bool = False) -> list[dict[str, object]]:
    return [{"t": ORIGIN + at + i * 0.001, "ms": ms, "outcome": outcome, "status": status,
             "stale": stale} for i in range(n)]


def test_the_sustained_rate_is_the_highest_that_held_its_p99_within_4_s() -> None:
    assert sustained_rate([(17.0, 1_500.0), (25.0, 3_900.0), (40.0, 9_000.0)]) == 25.0
    assert sustained_rate([(40.0, 9_000.0), (None, 100.0), (5.0, float("nan"))]) is None


def test_a_burst_shed_cleanly_keeps_the_admitted_within_their_slo() -> None:
    events = pd.DataFrame(
        rows(50, 10, "miss", 900)  # before the burst: not counted
        + rows(100, 45, "miss", 2_000) + rows(100, 46, "hit", 40)
        + rows(800, 47, "limited", 12, status=503) + rows(5, 70, "miss", 800))
    figures = shed_figures(events, 100.0, ORIGIN, sustained_rps=10.0)
    assert figures["spike_burst_requests"] == 1_000
    assert figures["spike_offered_rps"] == 50.0  # 1,000 in the 20 s burst
    assert figures["spike_over_sustained"] == 5.0
    assert figures["spike_answered_over_sustained"] == 1.0
    assert figures["spike_shed_share"] == 0.8
    assert figures["spike_admitted_miss_p99_ms"] == 2_000.0
    assert figures["spike_admitted_p99_over_slo"] == 0.4  # the miss: 2 s of 5 s
    assert figures["spike_admitted_goodput"] == 1.0
    assert figures["spike_shed_p99_ms"] == 12.0
    assert (figures["spike_timeouts"], figures["spike_http_5xx"], figures["spike_stale"]) == (
        0, 0, 0)


def test_a_burst_that_queued_shows_late_answers_timeouts_and_500s() -> None:
    events = pd.DataFrame(rows(90, 45, "miss", 12_000) + rows(10, 46, "hit", 1_500)
                          + rows(3, 47, "error", 30_000, status=0)
                          + rows(2, 48, "error", 50, status=500))
    figures = shed_figures(events, 100.0, ORIGIN, sustained_rps=None)
    assert figures["spike_over_sustained"] is None  # no sustained rate: no height
    assert figures["spike_admitted_p99_over_slo"] == pytest.approx(2.4)
    assert figures["spike_admitted_goodput"] == 0.0
    assert figures["spike_shed_share"] == 0.0 and figures["spike_shed_p99_ms"] is None
    assert (figures["spike_timeouts"], figures["spike_http_5xx"]) == (3, 2)


def test_the_burst_time_is_told_apart_the_services_from_the_wait_before_it() -> None:
    timed = [{**row, "server_ms": 300.0, "server_lag_ms": 40.0, "loadgen_lag_ms": 900.0,
              "server_queue_ms": 25.0}
             for row in rows(100, 45, "hit", 1_200)]  # 0.9 s of each 1.2 s outside the app
    refused = [{**row, "server_ms": 1_000.0} for row in rows(100, 46, "limited", 2_000, 503)]
    events = pd.DataFrame(timed + refused)
    figures = shed_figures(events, 100.0, ORIGIN, sustained_rps=None)
    assert figures["spike_admitted_p99_over_slo"] == 1.2  # as the client saw it
    assert figures["spike_admitted_server_cached_p99_ms"] == 300.0
    assert figures["spike_admitted_server_p99_over_slo"] == 0.3  # from the service's edge
    # of the lines with server_ms: 0.9 s of each 1.2 s, 1 s of each refusal's 2 s
    assert figures["spike_outside_app_share"] == 0.5938
    assert figures["spike_server_lag_p99_ms"] == 40.0
    assert figures["spike_loadgen_lag_p99_ms"] == 900.0
    assert figures["spike_server_queue_p99_ms"] == 25.0
    assert figures["spike_shed_p99_over_limit"] == 2.0  # refused in 2 s, the 1 s
    assert figures["spike_shed_server_p99_ms"] == 1_000.0  # of which 1 s in the service
    old = shed_figures(pd.DataFrame(rows(10, 45, "hit", 100)), 100.0, ORIGIN, None)
    assert old["spike_outside_app_share"] is None  # lines from before Server-Timing


def test_server_timing_and_the_bursts_cores_are_read_as_written() -> None:
    assert server_timing({"Server-Timing": "app;dur=12.5, lag;dur=3.0, queue;dur=40.5"}) == {
        "server_ms": 12.5, "server_lag_ms": 3.0, "server_queue_ms": 40.5}
    assert server_timing({"x": "y", "server-timing": "db;dur=1, app;dur=oops"}) == {}
    headers = Headers()  # what Locust's FastHttpUser replies carry (dict() of it: pairs)
    headers.add("server-timing", "app;dur=7.0, lag;dur=1.5")
    assert server_timing(headers) == {"server_ms": 7.0, "server_lag_ms": 1.5}
    timeline = [(10.0, {"loadgen": 0.0, "app": 0.0}), (11.0, {"loadgen": 0.9, "app": 1.0}),
                (13.0, {"loadgen": 2.9, "app": 2.0}), (20.0, {"loadgen": 3.0, "app": 9.0})]
    assert cores_between(timeline, 10.5, 14.0) == {"loadgen_cores": 1.0, "app_cores": 0.5}
    assert cores_between(timeline, 14.0, 15.0) == {"loadgen_cores": None, "app_cores": None}


def test_the_runs_refusals_by_reason_are_read_from_the_apps_metrics() -> None:
    before = shed_reasons(metrics.metrics_text().decode()).get("deadline", 0.0)
    metrics.REQUESTS_SHED.labels(reason="deadline").inc(2)
    after = shed_reasons(metrics.metrics_text().decode())
    assert after["deadline"] == before + 2
    assert shed_reasons("# HELP other\nother_total 3.0\n") == {}


def test_the_generators_lag_is_the_worst_over_the_requests_flight() -> None:
    """A reply that waited on the generator's own loop at any time during its flight: the
    line carries that wait, the part inside the flight, not the lag at the flight's end."""
    now = [100.0]
    late = Lateness(every_s=0.05, clock=lambda: now[0])
    late.due = 100.05
    for woke_at in (100.05, 100.40, 100.45):  # the second wake-up came 0.3 s late
        now[0] = woke_at
        late.woke(woke_at)
    now[0] = 100.46
    assert late.lag() == 0.0  # at the flight's end the loop keeps up
    assert late.fields(0.5) == {"loadgen_lag_ms": 300.0}  # the flight saw the 0.3 s
    assert late.fields(0.11) == {"loadgen_lag_ms": 50.0}  # only its last 50 ms inside
    assert late.fields(0.05) == {"loadgen_lag_ms": 0.0}
    now[0] = 100.75  # the next wake-up, due at 100.50, is 0.25 s overdue
    assert late.fields(0.01) == {"loadgen_lag_ms": 250.0}
