"""The cold start's figures (evals.load.cold_start) on requests built by hand: per interval the
hit rate of each cache layer, p50/p99 and the app's cores; the steady values of the run's last
half and the time until an interval is within 10 % of both."""

from __future__ import annotations

import math

import pytest

from evals.load import cold_start as cs
from evals.replay.send import Sent, layers_of

WARM = "query:hit semantic:off embedding:hit context:hit"
MISS = "query:miss semantic:miss embedding:miss context:miss"


def ask(send_s: float, latency_s: float, hit: bool, layers: str = "") -> Sent:
    return Sent(0, "u", send_s, send_s, send_s + latency_s, send_s + latency_s, 200,
                "hit" if hit else "miss", "query" if hit else "", 0.0, "",
                layers or (WARM if hit else MISS))


def cold_run() -> list[Sent]:
    """10 intervals of 2 s, 4 requests each: the first two slow and never hit, then half hit
    at a steady p99."""
    sent = []
    for i in range(10):
        for k in range(4):
            t = 2.0 * i + 0.5 * k
            if i < 2:
                sent.append(ask(t, 3.0, False))
            else:
                sent.append(ask(t, 0.4 if k % 2 else 0.5, bool(k % 2)))
    return sent


def test_the_answer_names_each_layers_outcome() -> None:
    body = (b'{"cache": {"query": "miss", "semantic": "semantic_hit", "embedding": "hit",'
            b' "context": "off", "reason": "semantic_reuse", "no_cache": false}}')
    assert layers_of(body) == "query:miss semantic:semantic_hit embedding:hit context:off"
    assert layers_of(b"not json") == "" and layers_of(b'{"cache": 3}') == ""


def test_each_layer_counts_only_where_it_was_looked_up() -> None:
    rates = cs.hit_rates([ask(0, 0.1, True), ask(1, 0.1, False),
                          ask(2, 0.1, False, "query:miss semantic:semantic_hit embedding:hit")])
    assert rates["hit_rate"] == pytest.approx(1 / 3)
    assert rates["query_hit_rate"] == pytest.approx(1 / 3)
    assert rates["semantic_hit_rate"] == pytest.approx(1 / 2)  # off once: not looked up
    assert rates["embedding_hit_rate"] == pytest.approx(2 / 3)
    assert rates["context_hit_rate"] == pytest.approx(1 / 2)  # absent once


def test_per_interval_rows_and_the_apps_cores() -> None:
    cpu = [(t / 2, 0.25 * t) for t in range(0, 41)]  # half a core all along
    rows = cs.per_interval(cold_run(), 2.0, cpu)
    assert list(rows["requests"]) == [4] * 10
    assert list(rows["hit_rate"][:3]) == [0.0, 0.0, 0.5]
    assert rows["p99_ms"][0] == pytest.approx(3000.0)
    assert rows["app_cores"][4] == pytest.approx(0.5)
    assert math.isnan(cs.per_interval(cold_run(), 2.0)["app_cores"][0])  # no samples
    with pytest.raises(ValueError):
        cs.per_interval(cold_run(), 0.0)


def test_steady_after_the_first_interval_within_ten_percent_of_both() -> None:
    sent = cold_run()
    rows = cs.per_interval(sent, 2.0)
    found = cs.steady(sent, rows, 2.0)
    assert found.hit_rate == pytest.approx(0.5)
    assert found.p99_ms == pytest.approx(500.0, abs=1.0)
    assert found.steady_s == 6.0  # the end of the third interval, the first warm one
    figures = found.figures(rows, speed=30.0)
    assert figures["cold_start_steady_s"] == 6.0
    assert figures["cold_start_steady_log_s"] == 180.0
    assert figures["cold_start_first_hit_rate"] == 0.0
    assert figures["cold_start_first_p99_ms"] == pytest.approx(3000.0)


def test_no_steady_time_from_intervals_too_thin_to_tell() -> None:
    sent = [ask(float(t), 0.2, False) for t in range(20)]  # 2 requests an interval
    rows = cs.per_interval(sent, 2.0)
    found = cs.steady(sent, rows, 2.0)
    assert found.steady_s is None
    assert found.figures(rows, 30.0)["cold_start_steady_log_s"] is None


def test_an_interval_is_a_minute_of_the_log() -> None:
    assert cs.interval_for(30.0) == 2.0 and cs.interval_for(1.0) == 60.0
