"""The mock LLM server over real HTTP: protocol, deterministic answer, fault injection, admin."""

from __future__ import annotations

import argparse
import json
import time

import httpx
import pytest
from fakes import ManualClock
from llm_helpers import configure, stats

from rag_core.devservers.mock_server import (
    MockConfig,
    MockLLM,
    add_mock_args,
    config_from_args,
    mock_answer,
)
from rag_core.llm.prompt import build_prompt
from rag_core.tokens import default_counter
from rag_core.types import Chunk

pytestmark = pytest.mark.integration


def body(chunks: list[Chunk], **extra: object) -> dict[str, object]:
    prompt = build_prompt("What did they do?", chunks, 200)
    return {"model": "meta-llama/Llama-3.2-3B-Instruct", "messages": prompt.messages, **extra}


def post(url: str, payload: dict[str, object],
         timeout: float | httpx.Timeout = 10) -> httpx.Response:
    return httpx.post(f"{url}/v1/chat/completions", json=payload, timeout=timeout)


def test_answer_cites_each_note_with_its_first_sentence(mock_llm: str, chunks: list[Chunk]
                                                        ) -> None:
    payload = body(chunks)
    response = post(mock_llm, payload)
    assert response.status_code == 200
    data = response.json()
    text = data["choices"][0]["message"]["content"]
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["model"] == "meta-llama/Llama-3.2-3B-Instruct"
    assert text == ("According to your notes: Abraham was seventy-five years old when he left "
                    "Haran. [1] Mama Ngozi put twelve mango seedlings in the ground at "
                    "seventy-nine. [2] Noah kept building for years under a clear sky. [3]")
    counter = default_counter()
    messages = payload["messages"]
    assert isinstance(messages, list)
    prompt_tokens = sum(counter.count(m["content"]) for m in messages)
    assert data["usage"] == {"prompt_tokens": prompt_tokens,
                             "completion_tokens": counter.count(text),
                             "total_tokens": prompt_tokens + counter.count(text)}
    assert post(mock_llm, payload).json()["choices"][0]["message"]["content"] == text


def test_answer_respects_max_tokens_and_no_notes(mock_llm: str, chunks: list[Chunk]) -> None:
    text = post(mock_llm, body(chunks, max_tokens=5)).json()["choices"][0]["message"]["content"]
    assert default_counter().count(text) <= 5
    assert "do not seem to cover" in mock_answer([{"role": "user", "content": "hello"}])


def test_stream_is_server_sent_events_with_usage_and_done(mock_llm: str, chunks: list[Chunk]
                                                          ) -> None:
    full = post(mock_llm, body(chunks)).json()
    with httpx.stream("POST", f"{mock_llm}/v1/chat/completions",
                      json=body(chunks, stream=True), timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events)
    assert text == full["choices"][0]["message"]["content"]
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"] == full["usage"]
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert stats(mock_llm)["streams"] == 1


def test_error_rate_one_gives_the_chosen_status(mock_llm: str, chunks: list[Chunk]) -> None:
    configure(mock_llm, error_rate=1.0, error_status=500)
    assert post(mock_llm, body(chunks)).status_code == 500
    configure(mock_llm, error_status=429, retry_after_s=7)
    response = post(mock_llm, body(chunks))
    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    configure(mock_llm, error_rate=0.0)
    assert post(mock_llm, body(chunks)).status_code == 200
    assert stats(mock_llm)["requests"] == 3 and stats(mock_llm)["errors"] == 2


def test_fail_next_then_heals(mock_llm: str, chunks: list[Chunk]) -> None:
    configure(mock_llm, fail_next=2, error_status=503)
    assert [post(mock_llm, body(chunks)).status_code for _ in range(3)] == [503, 503, 200]


def test_outage_by_admin_and_scheduled(chunks: list[Chunk]) -> None:
    clock = ManualClock(1000.0)  # outages run on the mock's clock: the test moves it
    with MockLLM(clock=clock, outage_after_s=30, outage_duration_s=40) as (url, _app):
        assert post(url, body(chunks)).status_code == 200
        clock.advance(31)  # the scheduled outage runs from 30 s to 70 s
        assert post(url, body(chunks)).status_code == 503
        assert stats(url)["in_outage"] is True
        clock.advance(40)
        assert post(url, body(chunks)).status_code == 200
        httpx.post(f"{url}/admin/outage", json={"seconds": 30}, timeout=5).raise_for_status()
        assert post(url, body(chunks)).status_code == 503
        clock.advance(29)
        assert stats(url)["in_outage"] is True
        clock.advance(2)
        assert post(url, body(chunks)).status_code == 200
        assert stats(url)["outage_errors"] == 2


def test_latency_is_applied(chunks: list[Chunk]) -> None:
    with MockLLM(latency_ms=300) as (url, app):
        start = time.perf_counter()
        assert post(url, body(chunks)).status_code == 200
        assert time.perf_counter() - start >= 0.3  # a floor: a busy machine only adds to it
        configure(url, latency_ms=0, latency_dist="uniform", latency_jitter_ms=0)
        assert app.state.mock.latency_s() == 0.0  # the admin change reached the server
        assert post(url, body(chunks)).status_code == 200


def test_lognormal_latency_is_seeded(mock_llm: str) -> None:
    from rag_core.devservers.mock_server import MockState

    draws = []
    for _ in range(2):
        state = MockState(MockConfig(latency_ms=100, latency_jitter_ms=50,
                                     latency_dist="lognormal", seed=7))
        draws.append([state.latency_s() for _ in range(5)])
    assert draws[0] == draws[1] and len(set(draws[0])) == 5 and min(draws[0]) > 0


def test_timeout_rate_hangs_past_the_client_timeout(mock_llm: str, chunks: list[Chunk]) -> None:
    configure(mock_llm, timeout_rate=1.0, hang_s=600)  # it stops hanging when the client goes
    with pytest.raises(httpx.ReadTimeout):
        post(mock_llm, body(chunks), timeout=httpx.Timeout(30, read=0.3))
    assert stats(mock_llm)["timeouts"] == 1


def test_stream_error_midway(mock_llm: str, chunks: list[Chunk]) -> None:
    configure(mock_llm, stream_error_after=2)
    with httpx.stream("POST", f"{mock_llm}/v1/chat/completions",
                      json=body(chunks, stream=True), timeout=10) as response:
        lines = [line for line in response.iter_lines() if line]
    assert "error" in json.loads(lines[-1].removeprefix("data: "))
    assert sum("content" in line for line in lines) == 3  # role chunk + 2 pieces


def test_admin_stats_config_reset_models_health(mock_llm: str, chunks: list[Chunk]) -> None:
    assert httpx.get(f"{mock_llm}/health").json() == {"status": "ok"}
    assert httpx.get(f"{mock_llm}/v1/models").json()["data"][0]["id"] == "mock-llm"
    for _ in range(3):
        post(mock_llm, body(chunks))
    assert post(mock_llm, {"nope": 1}).status_code == 400
    counts = stats(mock_llm)
    assert counts["requests"] == 4 and counts["completed"] == 3 and counts["bad_requests"] == 1
    assert counts["in_flight"] == 0 and counts["max_in_flight"] >= 1
    config = httpx.get(f"{mock_llm}/admin/config").json()
    assert config["latency_ms"] == 0 and config["error_status"] == 503
    bad = httpx.post(f"{mock_llm}/admin/config", json={"no_such_knob": 1})
    assert bad.status_code == 400
    changed = httpx.post(f"{mock_llm}/admin/config", json={"latency_ms": "5"}).json()
    assert changed["latency_ms"] == 5.0 and changed["error_status"] == 503
    httpx.post(f"{mock_llm}/admin/reset")
    assert stats(mock_llm)["requests"] == 0


def test_cli_args_map_to_config() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8100)
    add_mock_args(parser)
    ns = parser.parse_args(["--latency-ms", "3500", "--error-rate", "0.1", "--error-status", "429",
                            "--outage-after-s", "60", "--outage-duration-s", "20"])
    config = config_from_args(ns)
    assert "port" not in config
    made = MockConfig(**config)
    assert (made.latency_ms, made.error_rate, made.error_status) == (3500, 0.1, 429)
    assert (made.outage_after_s, made.outage_duration_s) == (60, 20)
