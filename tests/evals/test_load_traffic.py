"""The traffic helpers of the locustfile (loadtests/traffic.py): how answers and refusals are
classified and named, the question bank, mixes, shapes, think time, seeded users and tokens."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from geventhttpclient import HTTPClient
from geventhttpclient.useragent import CompatResponse

from loadtests import traffic


def test_classify_answers_and_refusals():
    ok = {"answer": "x", "cache": {"query": "hit"}, "cost_usd": 0.0, "stale": False}
    assert traffic.classify(200, {}, ok).label == "hit"
    assert traffic.classify(200, {}, {**ok, "cache": {"query": "semantic_hit"}}).label == \
        "semantic_hit"
    miss = traffic.classify(200, {}, {**ok, "cache": {"query": "miss"}, "cost_usd": 0.0004})
    assert (miss.label, miss.cost_usd, miss.failure) == ("miss", 0.0004, None)
    assert traffic.classify(200, {}, {**ok, "cache": {"query": "miss"},
                                      "no_context": True}).label == "no_context"
    assert traffic.classify(200, {}, {**ok, "stale": True}).stale
    refusal = {"error": {"code": "LLM_UNAVAILABLE", "message": "down"}}
    documented = traffic.classify(503, {"Retry-After": "5"}, refusal)
    assert documented.label == "503 documented" and documented.failure is None
    assert traffic.classify(503, {}, refusal).failure  # no Retry-After: not as documented
    assert traffic.classify(503, {"retry-after": "1"},
                            {"error": {"code": "EMBEDDING_FAILED"}}).failure
    assert traffic.classify(500, {}, None).failure == "HTTP 500"
    assert "no response" in str(traffic.classify(0, {}, None).failure)
    assert "TimeoutError" in str(traffic.classify(0, {}, None, TimeoutError()).failure)
    assert traffic.classify(200, {}, None).failure


def test_a_request_limits_refusal_is_limited_not_an_error():
    limited = traffic.classify(429, {"Retry-After": "17"},
                               {"error": {"code": "RATE_LIMITED", "limit": "minute"}})
    assert (limited.label, limited.failure, limited.retry_after) == ("limited", None, 17.0)
    overloaded = traffic.classify(503, {"retry-after": "1"},
                                  {"error": {"code": "OVERLOADED", "limit": "concurrent"}})
    assert (overloaded.label, overloaded.failure) == ("limited", None)
    # another 429 (the budget) stays an error, and so does a limit's code on another status
    assert traffic.classify(429, {}, {"error": {"code": "BUDGET_EXCEEDED"}}).failure
    assert traffic.classify(500, {}, {"error": {"code": "RATE_LIMITED"}}).failure
    assert "limited" in traffic.OUTCOMES


class Refusing(BaseHTTPRequestHandler):
    """A server that refuses every question as the request limits do: 429 RATE_LIMITED with
    Retry-After 7 (path /minute), 503 OVERLOADED with Retry-After 3 (any other path)."""

    def do_POST(self) -> None:
        status, code, after = ((429, "RATE_LIMITED", "7") if self.path == "/minute"
                               else (503, "OVERLOADED", "3"))
        body = json.dumps({"error": {"code": code, "message": "refused"}}).encode()
        self.send_response(status)
        self.send_header("Retry-After", after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def test_a_refused_user_reads_the_servers_retry_after_from_either_client(refusing):
    # FastHttpUser's replies are geventhttpclient responses (Locust's FastResponse is a
    # CompatResponse); their headers map each lower-cased name to a (name, value) pair
    fast = HTTPClient("127.0.0.1", port=refusing)
    try:
        reply = CompatResponse(fast.post("/minute", body=b"{}"))
        assert dict(reply.headers)["retry-after"] == ("Retry-After", "7")
        outcome, body = traffic.read_reply(reply)
        assert (outcome.label, outcome.retry_after) == ("limited", 7.0)
        assert body == {"error": {"code": "RATE_LIMITED", "message": "refused"}}
        # what the locustfile did before: dict() of those headers read Retry-After as 0
        assert traffic.classify(429, dict(reply.headers),
                                {"error": {"code": "RATE_LIMITED"}}).retry_after == 0.0
        shed, _ = traffic.read_reply(CompatResponse(fast.post("/v1/query", body=b"{}")))
        assert (shed.label, shed.retry_after) == ("limited", 3.0)
    finally:
        fast.close()
    # HttpUser's replies are requests' (the streaming user)
    slow, _ = traffic.read_reply(requests.post(f"http://127.0.0.1:{refusing}/minute",
                                               json={}, timeout=30))
    assert (slow.label, slow.retry_after) == ("limited", 7.0)


def test_request_names_round_trip():
    for outcome in traffic.OUTCOMES:
        assert traffic.outcome_of_name(traffic.request_name(outcome)) == outcome
    assert traffic.outcome_of_name("Aggregated") is None


def test_question_bank_from_the_golden_set():
    bank = traffic.QuestionBank.from_items(traffic.load_items())
    assert bank.users == ["amara", "ben", "chloe", "david"]
    rng = random.Random(1)
    for user in bank.users:
        assert 0 < len(bank.popular[user]) <= 8
        assert traffic.question_for("repeat", bank, user, rng) in bank.popular[user]
        assert traffic.question_for("adversarial", bank, user, rng) in \
            [q for qs in bank.adversarial.values() for q in qs]
    assert traffic.QuestionBank.from_items(traffic.load_items(), only=["ben"]).users == ["ben"]
    assert traffic.user_list(" amara, ben,") == ["amara", "ben"] and traffic.user_list(None) == []
    novel = {traffic.novel_question(bank, "amara", rng) for _ in range(50)}
    assert len(novel) == 50 and all(len(q) <= 1000 for q in novel)


def test_mixes_shapes_and_wait():
    assert traffic.user_classes_for("mixed") == {"repeat": 6, "novel": 3, "adversarial": 1}
    assert traffic.user_classes_for("novel") == {"novel": 1}
    with pytest.raises(ValueError):
        traffic.user_classes_for("chaos")
    assert traffic.shape_target("sustained", 5, 100, 10, 60) == (100, 10)
    assert traffic.shape_target("sustained", 60, 100, 10, 60) is None
    assert traffic.shape_target("ramp", 30, 100, 10, 60) == (50, 10)
    assert traffic.shape_target("spike", 5, 100, 10, 60) == (20, 100.0)
    assert traffic.shape_target("spike", 30, 100, 10, 60) == (100, 100.0)
    assert traffic.shape_target("spike", 50, 100, 10, 60) == (20, 100.0)
    assert traffic.wait_range("") == (0.5, 1.5) and traffic.wait_range("5,10") == (5.0, 10.0)
    with pytest.raises(ValueError):
        traffic.wait_range("3,1")


def test_seeded_users_draw_the_same_in_every_run():
    bank = traffic.QuestionBank.from_items(traffic.load_items())

    def draws(seed, kind, number):
        rng = traffic.user_rng(seed, kind, number)
        user = rng.choice(bank.users)
        return user, [traffic.question_for(kind, bank, user, rng) for _ in range(5)], \
            rng.uniform(0.5, 1.5)

    assert draws(7, "repeat", 1) == draws(7, "repeat", 1)
    assert draws(7, "repeat", 1) != draws(7, "repeat", 2)  # users of a kind differ
    assert draws(7, "novel", 1) != draws(8, "novel", 1)  # and so do seeds
    assert traffic.seed_of("7") == 7 and traffic.seed_of("") is None
    assert traffic.seed_of(None) is None


def test_tokens_are_issued_or_read(tmp_path, monkeypatch):
    import jwt

    monkeypatch.setenv("RAG_JWT_SECRET", "s" * 32)
    issued = traffic.tokens_for(["amara"])
    assert jwt.decode(issued["amara"], "s" * 32, algorithms=["HS256"])["sub"] == "amara"
    path = traffic.write_tokens({"amara": "t1", "ben": "t2"}, tmp_path / "tokens.json")
    assert traffic.tokens_for(["ben"], path) == {"ben": "t2"}
    assert json.loads(path.read_text())["amara"] == "t1"


def test_workers_other_than_the_first_draw_users_of_their_own():
    first = traffic.user_rng(7, "repeat", 1, worker=0).random()
    assert first == traffic.user_rng(7, "repeat", 1).random()  # worker 0: the single process
    assert traffic.user_rng(7, "repeat", 1, worker=1).random() != first


def test_the_request_count_of_a_locust_stats_csv(tmp_path):
    path = tmp_path / "x_stats.csv"
    assert traffic.csv_request_count(path) == 0  # not written yet
    path.write_text("Type,Name,Request Count\nPOST,/v1/query hit,3\n,Aggregated,7\n")
    assert traffic.csv_request_count(path) == 7
    path.write_text("Type,Name,Request Count\n")  # the header alone, before any request
    assert traffic.csv_request_count(path) == 0


def test_a_novel_pool_makes_the_novel_users_ask_again_from_a_fixed_set() -> None:
    bank = traffic.QuestionBank.from_items(traffic.load_items()).with_novel_pool(5, seed=7)
    again = traffic.QuestionBank.from_items(traffic.load_items()).with_novel_pool(5, seed=7)
    assert bank.novel_pool == again.novel_pool  # every Locust process of a seed: the same pool
    for user in bank.users:
        assert 1 <= len(bank.novel_pool[user]) <= 5
        rng = traffic.user_rng(7, "novel", 1)
        asked = [traffic.question_for(kind, bank, user, rng)
                 for kind in ("novel", "stream") for _ in range(200)]
        assert set(asked) == set(bank.novel_pool[user])  # all of the pool, nothing else
        assert not set(asked) & set(bank.answerable[user])  # new questions, not golden ones


def test_without_a_pool_every_novel_question_is_new() -> None:
    bank = traffic.QuestionBank.from_items(traffic.load_items())
    assert bank.with_novel_pool(0) is bank and not bank.novel_pool
    rng = traffic.user_rng(7, "novel", 1)
    asked = [traffic.question_for("novel", bank, "amara", rng) for _ in range(200)]
    # (a long pair of questions cut at 990 characters loses its tag: a rare repeat)
    assert len(set(asked)) >= 195
