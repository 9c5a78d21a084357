"""The app as operators run it: ``rag-core serve --workers 2`` (real uvicorn, two processes) on a
loopback port, wired by environment to this module's own PostgreSQL database and Redis, with the
``hf`` generator talking to the repo's mock LLM so that answers cost money.

One server for the whole module (started by tests/app/uvicorn_served.py; starting uvicorn
workers and loading the model is the slow part); the tests run in file order and the Redis
outage comes last. The Redis server is this module's own, restartable on the same port, like
``redis_factory`` in tests/conftest.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import redis
from uvicorn_served import (
    SECRET,
    TOPICS,
    USER,
    Served,
    question_stream,
    serve_app,
    until_both_workers,
)

from rag_core.costs.ledger import today
from rag_core.procs import wait_until
from rag_core.redis_kv.keys import cost_keys
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.slow]



@pytest.fixture(scope="module")
def served(module_database_url: str, short_tmp: Path) -> Iterator[Served]:
    with serve_app(module_database_url, short_tmp) as app:
        yield app


# --- (a) auth -------------------------------------------------------------------------------


def test_auth_accepted_expired_and_forged(served: Served) -> None:
    r = served.ask("What did Pastor Okafor say about faith?")
    assert r.status_code == 200, r.text
    assert r.json()["citations"] and r.json()["generator"] == "hf"
    now = int(time.time())
    bad = {
        "expired": jwt.encode({"sub": USER, "iat": now - 7200, "exp": now - 3600}, SECRET,
                              algorithm="HS256"),
        "forged": jwt.encode({"sub": USER, "exp": now + 3600},
                             "someone-elses-secret-0123456789-abcdefghij", algorithm="HS256"),
        "alg_none": jwt.encode({"sub": USER, "exp": now + 3600}, None, algorithm="none"),
    }
    for kind, token in bad.items():
        r = httpx.post(f"{served.url}/v1/query", json={"query": "faith"},
                       headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 401, kind
        assert r.json()["error"]["code"] == "UNAUTHORIZED", kind
        assert r.json()["error"]["request_id"] == r.headers["x-request-id"]
        assert r.headers["www-authenticate"] == "Bearer"
    assert "expired" in httpx.post(f"{served.url}/v1/query", json={"query": "faith"}, headers={
        "Authorization": f"Bearer {bad['expired']}"}, timeout=10).json()["error"]["message"]
    r = httpx.get(f"{served.url}/v1/stats", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


# --- (b) request id, and the JSON log line that carries it ----------------------------------


def test_request_id_round_trip_and_json_logs(served: Served) -> None:
    rid = f"rt-{uuid.uuid4().hex[:12]}"
    token = served.token()
    r = httpx.post(f"{served.url}/v1/query", json={"query": "What is faith, per Hebrews 11?"},
                   headers={"Authorization": f"Bearer {token}", "X-Request-ID": rid},
                   timeout=30)
    assert r.status_code == 200
    assert r.headers["x-request-id"] == rid and r.json()["request_id"] == rid
    r = httpx.get(f"{served.url}/healthz", headers={"X-Request-ID": "bad id!"}, timeout=5)
    made = r.headers["x-request-id"]
    assert made and made != "bad id!"

    def logged() -> bool:  # the worker writes its log line after the response went out
        lines = [json.loads(line) for line in served.log_path.read_text().splitlines()
                 if line.startswith("{")]
        return any(entry.get("request_id") == rid and entry.get("message") == "request"
                   and entry.get("status") == 200 for entry in lines)

    wait_until(logged, 30, "the request's JSON log line")
    assert token not in served.log_path.read_text()


# --- (c) Server-Sent Events -----------------------------------------------------------------


def test_sse_stream_ends_cleanly_with_the_answer(served: Served) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    with httpx.stream("POST", f"{served.url}/v1/query", headers=served.auth(), timeout=30,
                      json={"query": "What did Okafor say about endurance?", "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    # the body ended (iter_lines returned) and the last event is the answer, nothing after it
    kinds = [k for k, _ in events]
    assert kinds[-1] == "answer" and set(kinds[:-1]) == {"delta"}, kinds
    final = events[-1][1]
    text = "".join(data["text"] for k, data in events[:-1])
    assert final["answer"].replace(" ", "") == text.replace(" ", "")
    assert final["citations"] and final["generator"] == "hf" and final["cost_usd"] > 0


# --- (e) metrics ----------------------------------------------------------------------------


# The seed names as PromQL sees them (sample names).
SEED_SAMPLES = ("assistant_requests_total", "assistant_request_duration_seconds_bucket",
                "assistant_errors_total", "cache_hits_total", "cache_misses_total",
                "cache_size", "api_cost_total_dollars", "api_tokens_used_total",
                "circuit_breaker_state", "vector_search_duration_seconds_bucket",
                "context_relevance_score_bucket", "assistant_truncations_total",
                "no_context_responses_total")


def _samples(text: str) -> dict[str, float]:
    """Sample name (with labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def _total(texts: list[str], name: str, **labels: str) -> float:
    want = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return sum(v for t in texts for k, v in _samples(t).items()
               if k.split("{")[0] == name and (not want or want in k))


def _scrape(served: Served) -> list[str]:
    return [httpx.get(f"{served.url}/metrics", timeout=10).text]


def test_metric_values_after_a_scripted_sequence(served: Served) -> None:
    """Exact deltas, summed over both workers (multiprocess mode), for: a new question, the
    same question again (an L1 hit, maybe on the other worker), an empty question."""
    before = _scrape(served)
    question = f"What did Okafor say about prayer and waiting? ({question_tag()})"
    first = served.ask(question)
    second = served.ask(question)
    empty = served.ask("   ")
    assert (first.status_code, second.status_code, empty.status_code) == (200, 200, 422)
    answer = first.json()
    assert answer["cache"]["query"] == "miss" and second.json()["cache"]["query"] == "hit"
    after = _scrape(served)

    def delta(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert delta("assistant_requests_total", outcome="generated") == 1
    assert delta("assistant_requests_total", outcome="cached") == 1
    assert delta("assistant_requests_total", outcome="error") == 1
    assert delta("assistant_errors_total", type="INVALID_QUERY") == 1  # was 2: app + pipeline
    assert delta("assistant_errors_total") == 1
    assert delta("cache_misses_total", layer="query") == 1
    assert delta("cache_hits_total", layer="query") == 1
    assert delta("cache_misses_total", layer="embedding") == 1
    assert delta("api_tokens_used_total", kind="output") == answer["usage"]["output_tokens"]
    assert delta("api_tokens_used_total", kind="input") == answer["usage"]["input_tokens"]
    assert delta("api_cost_total_dollars") == pytest.approx(answer["cost_usd"], rel=1e-9)
    assert delta("assistant_request_duration_seconds_count") == 3
    assert _total(after, "assistant_concurrent_queries") == 0
    names = {k.split("{")[0] for k in _samples(after[0])}
    assert not [n for n in SEED_SAMPLES if n not in names]
    assert not [n for n in names if n.endswith("_created")]
    assert _total(after, "cache_size", layer="query") >= 1  # refreshed as entries are written
    assert all("user" not in k for t in after for k in _samples(t))  # no per-user labels


def test_genai_metrics_steps_and_each_workers_process_series(served: Served) -> None:
    """The GenAI conventions' histograms count a generated answer's tokens, the step histogram
    has every step of a miss, and each live worker has its own ``process_*`` series."""
    before = _scrape(served)
    question = f"What did Okafor say about patience in the desert? ({question_tag()})"
    first = served.ask(question)
    assert first.status_code == 200, first.text
    answer = first.json()
    after = _scrape(served)

    def delta(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    # (one label at a time: ``_total`` matches labels as text; only chat has output tokens)
    assert delta("gen_ai_client_token_usage_sum", gen_ai_token_type="output") == \
        answer["usage"]["output_tokens"]
    assert delta("gen_ai_client_token_usage_count", gen_ai_token_type="output") == 1
    assert delta("gen_ai_client_operation_duration_seconds_count",
                 gen_ai_operation_name="chat") == 1
    assert delta("gen_ai_client_operation_duration_seconds_count",
                 gen_ai_operation_name="embeddings") == 1
    for step in answer["timings_ms"]:
        if step != "total":
            assert delta("assistant_step_duration_seconds_count", step=step) == 1, step
    pids = {sample.split("pid=")[1].split(",")[0].rstrip("}")
            for sample in _samples(after[0]) if sample.startswith("process_cpu_seconds_total")}
    assert len(pids) == 2, pids  # the two workers, each on its own


# --- (f) two workers share caches, cost counters and breaker state through Redis -----------


def test_l1_answer_of_one_worker_is_a_hit_on_the_other(served: Served) -> None:
    question = "Why did Mama Ngozi plant mango trees at seventy-nine?"
    responses = until_both_workers(lambda: served.ask(question))
    assert all(r.status_code == 200 for r in responses)
    first = responses[0].json()
    assert first["cache"]["query"] == "miss" and first["generator"] == "hf"
    producer = responses[0].headers["x-worker-pid"]
    other = next(r for r in responses if r.headers["x-worker-pid"] != producer)
    body = other.json()
    assert body["cache"]["query"] == "hit" and body["answer"] == first["answer"]
    assert body["cost_usd"] == 0.0 and body["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert all(r.json()["cache"]["query"] == "hit" for r in responses[1:])


def test_cost_counters_add_up_across_workers(served: Served) -> None:
    client = redis.Redis.from_url(served.redis.url)
    key = cost_keys(today(), USER)[0]
    before = client.hgetall(key)
    spent0 = float(before.get(b"spent", 0))
    requests0 = int(before.get(b"requests", 0))
    paid: dict[str, list[float]] = {}
    for question in question_stream():
        r = served.ask(question)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["usage"]["output_tokens"] > 0:  # generated now (a cache hit has no usage)
            paid.setdefault(r.headers["x-worker-pid"], []).append(body["cost_usd"])
        if len(paid) == 2 and sum(len(v) for v in paid.values()) >= 6:
            break
    assert len(paid) == 2, "every generated answer came from one worker"
    after = client.hgetall(key)
    total = sum(sum(v) for v in paid.values())
    assert total > 0
    assert float(after[b"spent"]) - spent0 == pytest.approx(total, rel=1e-6)
    assert int(after[b"requests"]) - requests0 == sum(len(v) for v in paid.values())
    assert float(after.get(b"reserved", 0)) == pytest.approx(0.0, abs=1e-9)
    # every worker reports the same spend: the one in Redis, not its own
    stats = until_both_workers(lambda: httpx.get(f"{served.url}/v1/stats", headers=served.auth(),
                                                 timeout=10))
    assert {r.json()["cost"]["spent_today_usd"] for r in stats} == {round(float(after[b"spent"]),
                                                                          6)}
    client.close()


def test_breaker_opened_by_one_worker_is_open_on_the_other(served: Served) -> None:
    from rag_core.devservers.mock_server import configure_mock, mock_stats

    client = redis.Redis.from_url(served.redis.url)
    # as many tries as until_both_workers: a quiet host may give one worker a long run of the
    # connections (each question new, so that none is a cache hit; the tag names no quantity)
    questions = (f"What did Okafor teach about {t}? (breaker k{n}x)" for n in range(4)
                 for t in TOPICS)
    configure_mock(served.mock_url, error_rate=1.0, retry_after_s=None)
    try:
        calls_before = mock_stats(served.mock_url)
        r = served.ask(next(questions))
        assert r.status_code == 503 and r.json()["error"]["code"] == "LLM_UNAVAILABLE"
        opener = r.headers["x-worker-pid"]
        # breaker_fail_max=1: that failure opened the breaker, and the state is in Redis
        assert client.get("rag:breaker:hf:state") == b"open"
        calls_opened = mock_stats(served.mock_url)
        # now a request on the other worker is refused at once, without calling the LLM
        refused = None
        for question in questions:
            r = served.ask(question)
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "LLM_UNAVAILABLE"
            assert 1 <= int(r.headers["retry-after"]) <= 60
            if r.headers["x-worker-pid"] != opener:
                refused = r
                break
        assert refused is not None, "no request reached the second worker"
        assert mock_stats(served.mock_url) == calls_opened
        assert calls_opened != calls_before
        ready = until_both_workers(lambda: httpx.get(f"{served.url}/readyz", timeout=10))
        assert {r.json()["checks"]["breaker"] for r in ready} == {"open"}
    finally:
        configure_mock(served.mock_url, error_rate=0.0, retry_after_s=1.0)
        for key in client.scan_iter("rag:breaker:hf:*"):  # close it again for the next tests
            name = key.decode().rsplit(":", 1)[1]
            if name == "state":
                client.set(key, "closed")
            elif name in ("fail_counter", "success_counter"):
                client.set(key, 0)
        client.close()
    # each worker reads the closed state from Redis (and keeps it in its in-process mirror,
    # which is what it falls back to if Redis goes away later)
    ready = until_both_workers(lambda: httpx.get(f"{served.url}/readyz", timeout=10))
    assert {r.json()["checks"]["breaker"] for r in ready} == {"closed"}
    r = served.ask("What did Okafor teach about grace? (7)")  # not asked before: generated
    assert r.status_code == 200 and r.json()["generator"] == "hf"


# --- (d) readiness follows Redis, without restarting the app (last: it empties Redis) ------


def test_readyz_follows_redis_without_restart(served: Served) -> None:
    pids_before = {r.headers["x-worker-pid"] for r in until_both_workers(
        lambda: httpx.get(f"{served.url}/healthz", timeout=5))}
    served.redis.stop()
    try:
        r = httpx.get(f"{served.url}/readyz", timeout=10)
        assert r.status_code == 503
        assert r.json()["checks"]["redis"] is False and r.json()["checks"]["postgres"] is True
        assert r.headers["retry-after"] == "5"
        # the service still answers (caches fail open) while Redis is down
        r = served.ask("What did Okafor say about faith that waits? (redis down)")
        assert r.status_code == 200, r.text
    finally:
        served.redis.start()
    ok: list[httpx.Response] = []

    def ready_on_both() -> bool:  # a run of 200s from both workers, none 503 in between
        r = httpx.get(f"{served.url}/readyz", timeout=10)
        ok[:] = ok + [r] if r.status_code == 200 else []
        return len({x.headers["x-worker-pid"] for x in ok}) == 2

    wait_until(ready_on_both, 120, "/readyz ready again on both workers", poll_s=0.1)
    assert {x.headers["x-worker-pid"] for x in ok} == pids_before  # same processes
