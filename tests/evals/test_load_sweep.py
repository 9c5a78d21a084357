"""LLM-native load figures, the warm-up cut and the concurrency sweep, on rows built by hand
(no servers): loadtests/streaming.py, evals/load/sweep.py, evals.load.metrics.after_warmup."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from evals.load import loadtest
from evals.load import metrics as load_metrics
from evals.load.sweep import (
    find_knee,
    knee_figures,
    steps_markdown,
    stream_summary,
    sweep_steps,
)
from loadtests import streaming, traffic


def _sse(kind: str, data: dict[str, object]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


ANSWER = {"answer": "Grace is a gift.", "cache": {"query": "miss"}, "cost_usd": 0.0003,
          "usage": {"input_tokens": 300, "output_tokens": 12}, "no_context": False}


# --- one streamed answer ---------------------------------------------------------------------


def test_timer_measures_first_text_gaps_and_tokens_per_second():
    timer = streaming.SseTimer(started=10.0)
    body = (_sse("delta", {"text": "Grace "}) + _sse("delta", {"text": "is a "})
            + _sse("delta", {"text": "gift."}) + _sse("answer", ANSWER))
    first, second, third, rest = body[:10], body[10:40], body[40:80], body[80:]
    timer.feed(first.encode(), 10.2)  # half an event: no text yet
    timer.feed(second.encode(), 10.5)  # completes the first delta
    timer.feed(third.encode(), 10.6)
    timer.feed(rest.encode(), 11.0)
    assert timer.text_at == [10.5, 10.6, 11.0]
    fig = timer.figures()
    assert fig["ttft_ms"] == pytest.approx(500.0)
    assert fig["itl_ms"] == pytest.approx([100.0, 400.0])
    assert fig["chunks"] == 3 and fig["out_tokens"] == 12
    assert fig["tokens_per_s"] == pytest.approx(12 / 1.0)
    outcome = timer.outcome(200, {"content-type": "text/event-stream"})
    assert outcome.label == "miss" and outcome.failure is None


def test_timer_ignores_empty_deltas_and_reports_a_broken_stream():
    timer = streaming.SseTimer(started=0.0)
    timer.feed(_sse("delta", {"text": ""}), 0.1)
    assert timer.figures()["ttft_ms"] is None  # headers and empty pieces are not text
    timer.feed(_sse("delta", {"text": "Some"}) + _sse("error", {"code": "LLM_UNAVAILABLE"}), 0.3)
    assert timer.figures()["ttft_ms"] == pytest.approx(300.0)
    assert timer.figures()["itl_ms"] == []  # one chunk: no gap
    outcome = timer.outcome(200, {})
    assert outcome.label == "error" and "LLM_UNAVAILABLE" in (outcome.failure or "")
    cut = streaming.SseTimer(started=0.0)
    cut.feed("event: delta\ndata: {\"text\": \"x\"}\n\n", 0.2)
    assert cut.outcome(200, {}).failure == "stream ended without an answer event"


def test_stream_fields_go_into_the_event_line():
    timer = streaming.SseTimer(started=1.0)
    timer.feed(_sse("delta", {"text": "a "}) + _sse("answer", ANSWER), 1.25)
    line = json.loads(traffic.event_line(1.0, 300.0, "stream", timer.outcome(200, {}), 200,
                                         streaming.stream_fields(timer)))
    assert line["stream"] is True and line["ttft_ms"] == pytest.approx(250.0)
    assert line["outcome"] == "miss" and line["out_tokens"] == 12 and line["itl_ms"] == []


def test_stream_users_ask_novel_questions_of_their_own():
    bank = traffic.QuestionBank.from_items(traffic.load_items())
    assert traffic.user_classes_for("stream") == {"stream": 1}
    user = bank.users[0]
    stream_q = traffic.question_for("stream", bank, user, traffic.user_rng(7, "stream", 1))
    novel_q = traffic.question_for("novel", bank, user, traffic.user_rng(7, "novel", 1))
    assert stream_q != novel_q  # their own random source: not the novel users' questions


# --- aggregation -----------------------------------------------------------------------------


def _rows(specs: list[dict[str, object]]) -> pd.DataFrame:
    base = {"kind": "stream", "outcome": "miss", "status": 200, "failure": None,
            "cost_usd": 0.0, "stale": False, "stream": True, "chunks": 3, "out_tokens": 10}
    return pd.DataFrame([{**base, **s} for s in specs], columns=load_metrics.EVENT_COLUMNS)


def test_stream_summary_pools_gaps_and_keeps_only_generated_streams():
    rows = _rows([
        {"t": 0.0, "ms": 900, "ttft_ms": 100.0, "itl_ms": [10.0, 30.0], "tokens_per_s": 20.0},
        {"t": 1.0, "ms": 900, "ttft_ms": 300.0, "itl_ms": [20.0], "tokens_per_s": 40.0},
        # a cached answer arrives as one chunk: not a figure of the model
        {"t": 2.0, "ms": 20, "outcome": "hit", "ttft_ms": 5.0, "itl_ms": [],
         "tokens_per_s": 900.0},
        # a non-streamed request of another user class
        {"t": 3.0, "ms": 50, "kind": "repeat", "stream": None, "ttft_ms": None,
         "itl_ms": None, "tokens_per_s": None},
    ])
    out = stream_summary(rows)
    assert out["stream_requests"] == 2
    assert out["stream_ttft_p50_ms"] == pytest.approx(200.0)
    assert out["stream_ttft_p99_ms"] == pytest.approx(298.0)
    assert out["stream_itl_p50_ms"] == pytest.approx(20.0)
    assert out["stream_tokens_per_second_p50"] == pytest.approx(30.0)
    assert out["stream_ttft_over_total_p50"] == pytest.approx(200 / 900)
    empty = stream_summary(rows.iloc[2:])
    assert empty["stream_requests"] == 0 and math.isnan(empty["stream_ttft_p50_ms"])


def test_events_read_back_with_stream_columns(tmp_path: Path):
    path = tmp_path / "e.1.jsonl"
    timer = streaming.SseTimer(started=5.0)
    timer.feed(_sse("delta", {"text": "a "}) + _sse("delta", {"text": "b"}), 5.5)
    timer.feed(_sse("answer", ANSWER), 5.75)
    lines = [traffic.event_line(5.0, 800, "stream", timer.outcome(200, {}), 200,
                                streaming.stream_fields(timer)),
             traffic.event_line(4.0, 30, "repeat", traffic.Outcome("hit"), 200)]
    path.write_text("\n".join(lines) + "\n")
    events = load_metrics.read_events([path])
    assert list(events["kind"]) == ["repeat", "stream"]
    assert stream_summary(events)["stream_ttft_p50_ms"] == pytest.approx(500.0)


def test_warmup_requests_are_left_out_of_the_timing_figures(tmp_path: Path):
    """Ten slow requests in the first 3 s, then 100 fast ones: with warmup_s=3 the latency
    percentiles are those of the steady part; counts and Locust's rate stay over every
    request, the steady rate is recorded beside it."""
    slow = [{"t": 100.0 + 0.3 * i, "ms": 5000.0, "outcome": "miss"} for i in range(10)]
    fast = [{"t": 103.0 + 0.1 * i, "ms": 100.0 + i, "outcome": "miss"} for i in range(100)]
    events = _rows([*slow, *fast])
    steady = load_metrics.after_warmup(events, 3.0)
    assert len(steady) == 100 and steady["ms"].max() < 5000
    # from an earlier origin the cut is at t=102: three slow ones (102.1, 102.4, 102.7) stay
    assert len(load_metrics.after_warmup(events, 3.0, origin=99.0)) == 103
    stats_csv = tmp_path / "s_stats.csv"
    stats_csv.write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,"
        "Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,"
        "66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "POST,/v1/query miss,110,0,150,500,100,5000,100,8.0,0,150,150,150,150,5000,5000,5000,"
        "5000,5000,5000,5000\n"
        ",Aggregated,110,0,150,500,100,5000,100,8.0,0,150,150,150,150,5000,5000,5000,5000,5000,"
        "5000,5000\n")
    stats = load_metrics.read_stats(tmp_path / "s")
    whole = load_metrics.summarise_load(stats, events)
    assert whole["p99_ms"] == 5000.0  # Locust's whole-run figure
    cut = load_metrics.summarise_load(stats, events, llm_latency_ms=100.0, offered_rps=20.0,
                                      warmup_s=3.0, duration_s=13.0)
    assert cut["p99_ms"] < 200 and cut["p99_with_warmup_ms"] == 5000.0
    assert cut["warmup_requests"] == 10 and cut["requests"] == 110
    assert cut["rps_after_warmup"] == pytest.approx(100 / 10.0)
    assert cut["rps"] == 8.0  # Locust's whole-run rate; the share offered is the steady one
    assert cut["rps_share_of_offered"] == pytest.approx(0.5)
    assert cut["rps_share_of_offered_whole_run"] == pytest.approx(0.4)
    assert cut["steady_from_s"] == 3.0 and "cold_start_s" not in cut  # users not given
    assert cut["p99_over_llm"] == pytest.approx(cut["p99_ms"] / 100.0)
    assert whole["miss_p99_over_p50"] > 30  # 5000 / 150 with the warm-up
    assert cut["miss_p99_over_p50"] == pytest.approx(198.01 / 149.5, rel=0.01)  # steady only


# --- the sweep and its knee ------------------------------------------------------------------


def test_sweep_steps_cut_each_step_after_its_warmup():
    rows = []
    for step, (users, per_s) in enumerate([(1, 2), (2, 4), (4, 5)]):
        start = 50.0 + 10 * step
        # a slow request right after the step change (inside the step's warm-up)
        rows.append({"t": start + 0.1, "ms": 9000.0})
        rows += [{"t": start + 2 + k / per_s, "ms": 200.0 * users} for k in range(8 * per_s)]
    events = _rows(rows).assign(ttft_ms=50.0, itl_ms=[[5.0]] * len(rows), tokens_per_s=10.0)
    steps = sweep_steps(events, [1, 2, 4], step_s=10.0, warmup_s=2.0, origin=50.0)
    assert list(steps["users"]) == [1, 2, 4]
    assert list(steps["requests"]) == [16, 32, 40]
    assert list(steps["p50_ms"]) == [200.0, 400.0, 800.0]  # the slow ones are left out
    assert steps["rps"].iloc[0] == pytest.approx(16 / 8.0, abs=0.15)
    assert steps["ttft_p50_ms"].iloc[0] == 50.0
    table = steps_markdown(steps, find_knee(steps["users"], steps["rps"], steps["p50_ms"]))
    assert "| **2** (knee) |" in table and table.count("\n|") == 4  # header rule + 3 steps
    with pytest.raises(ValueError):
        sweep_steps(events, [1], step_s=2.0, warmup_s=2.0)


def test_knee_where_added_users_stop_adding_throughput():
    knee = find_knee([1, 2, 4, 8, 16], [1.0, 2.0, 3.9, 4.2, 4.3], [100, 100, 110, 150, 190])
    assert knee.users == 4 and knee.reached and "highest throughput" in knee.reason
    assert knee.rps == 3.9


def test_one_noisy_step_does_not_move_the_knee():
    """8 users measured no more than 4 (a noisy step), 16 then more: the plateau starts at
    16, and latency doubling at 32 puts the knee at 16."""
    knee = find_knee([2, 4, 8, 16, 32], [1.1, 2.6, 2.6, 3.7, 3.6],
                     [1000, 1000, 1300, 1900, 2500])
    assert knee.users == 16 and knee.reached


def test_knee_where_latency_climbs_first():
    knee = find_knee([2, 4, 8], [2.0, 4.0, 7.9], [100, 120, 260], [150, 200, 900])
    assert knee.users == 4 and knee.reached and "median request time" in knee.reason
    assert knee.p99_ms == 200


def test_no_knee_when_throughput_keeps_growing_and_order_does_not_matter():
    knee = find_knee([8, 2, 4], [8.0, 2.0, 4.0], [100, 100, 100])
    assert knee.users == 8 and not knee.reached and knee.index == 0
    figures = knee_figures(pd.DataFrame({"rps": [8.0, 2.0, 4.0]}), knee)
    assert figures["sweep_max_rps"] == 8.0 and figures["knee_reached"] is False
    with pytest.raises(ValueError):
        find_knee([1, 2], [1.0], [1.0, 2.0])


def test_steps_shape_and_sweep_config():
    assert traffic.step_list("1, 2,4") == [1, 2, 4]
    with pytest.raises(ValueError):
        traffic.step_list("0,2")
    assert traffic.steps_target([1, 2, 4], 10.0, 0.0) == (1, 4.0)
    assert traffic.steps_target([1, 2, 4], 10.0, 25.0) == (4, 4.0)
    assert traffic.steps_target([1, 2, 4], 10.0, 30.0) is None
    base = loadtest.LoadConfig(users=20, mix="mixed", warmup_s=2.0, label="load")
    sweep = loadtest.sweep_config(base, [2, 8, 4], 10.0, tokens_per_s=80.0, wait_s=(0.1, 0.2))
    assert (sweep.mix, sweep.shape, sweep.users, sweep.steps) == ("stream", "steps", 8,
                                                                  (2, 8, 4))
    assert sweep.duration_s >= 30 and sweep.mock_tokens_per_s == 80.0
    assert sweep.warmup_s == 2.0 and sweep.label == "sweep" and sweep.wait_s == (0.1, 0.2)
    env = loadtest.locust_env(sweep, {"env": {}, "tokens": "t.json"}, Path("x"))
    assert env["RAG_LOAD_SHAPE"] == "steps" and env["RAG_LOAD_STEPS"] == "2,8,4"


def test_the_load_generator_resolves_an_address_at_once_and_a_name_as_gevent_does() -> None:
    """gevent's blocking resolver for an IP address's app; a name, or the operator's own
    choice, keeps what gevent would do."""
    config = loadtest.LoadConfig(users=2, label="load")

    def env_for(url: str, **own: str) -> dict[str, str]:
        stack = {"env": own, "tokens": "t.json", "app_url": url}
        return loadtest.locust_env(config, stack, Path("x"))

    assert env_for("http://127.0.0.1:8123")["GEVENT_RESOLVER"] == "block"
    assert env_for("http://[::1]:8123")["GEVENT_RESOLVER"] == "block"
    assert "GEVENT_RESOLVER" not in env_for("http://app.example:8123")
    assert env_for("http://127.0.0.1:8123", GEVENT_RESOLVER="ares")["GEVENT_RESOLVER"] == "ares"
