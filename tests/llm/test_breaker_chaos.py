"""Chaos: the circuit breaker and retries with the real Redis and the mock LLM over HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pybreaker
import pytest
import redis
from fakes import ManualClock
from llm_helpers import configure, stats

from rag_core.config import Settings, fixed
from rag_core.errors import LLMUnavailable
from rag_core.llm import build_generator
from rag_core.llm.hf import HFGenerator, hf_generator
from rag_core.llm.prompt import build_prompt
from rag_core.llm.resilience import ResilientGenerator
from rag_core.procs import wait_until
from rag_core.redis_kv.client import connect
from rag_core.telemetry.metrics import REGISTRY
from rag_core.types import Chunk

pytestmark = [pytest.mark.integration, pytest.mark.both_redis]
ROOT = Path(__file__).resolve().parents[2]
MakeSettings = Callable[..., Settings]


class Tally(pybreaker.CircuitBreakerListener):
    """Counts what the breaker saw."""

    def __init__(self) -> None:
        self.successes = 0
        self.failures = 0

    def success(self, cb: pybreaker.CircuitBreaker) -> None:
        self.successes += 1

    def failure(self, cb: pybreaker.CircuitBreaker, exc: BaseException) -> None:
        self.failures += 1


def resilient(settings: Settings, client: Any = None,
              **kwargs: Any) -> tuple[ResilientGenerator, Tally]:
    gen = ResilientGenerator(hf_generator(settings), settings.model_calls, client, **kwargs)
    tally = Tally()
    gen.breaker.add_listener(tally)
    return gen, tally


class Held:
    """A generator that, once ``holding`` is set, waits at the door until the test opens it:
    the test then knows a call is inside the breaker without guessing how long it takes."""

    def __init__(self, inner: HFGenerator) -> None:
        self.inner = inner
        self.name = inner.name
        self.holding = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def generate(self, prompt: Any) -> Any:
        if self.holding:
            self.entered.set()
            assert self.release.wait(120), "the test never let the held call through"
        return self.inner.generate(prompt)

    def stream(self, prompt: Any) -> Any:
        return self.inner.stream(prompt)


def client_of(url: str, settings: Settings, **kwargs: Any) -> Any:
    """A client of the test's Redis of the kind ``settings.redis_mode`` names."""
    return connect(url, settings.services.redis_mode, timeout_s=5.0, **kwargs)


def outage(url: str, seconds: float) -> None:
    httpx.post(f"{url}/admin/outage", json={"seconds": seconds}, timeout=5).raise_for_status()


def gauge() -> float | None:
    return REGISTRY.get_sample_value("circuit_breaker_state", {"name": "llm"})


def test_failed_probe_opens_it_again(mock_llm: str, chunks: list[Chunk],
                                     hf_settings: MakeSettings, redis_url: str) -> None:
    clock = ManualClock()
    settings = hf_settings(mock_llm)
    gen, _ = resilient(settings, client_of(redis_url, settings), clock=clock)
    prompt = build_prompt("Q?", chunks, 100)
    configure(mock_llm, error_rate=1.0, error_status=502)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)
    clock.advance(31)
    with pytest.raises(LLMUnavailable):
        gen.generate(prompt)  # the probe fails
    assert gen.state == "open" and stats(mock_llm)["requests"] == 4
    assert gen.retry_after() == 30.0  # a fresh reset timeout, counted from the failed probe


def test_only_one_probe_at_a_time(mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings,
                                  redis_url: str) -> None:
    settings = hf_settings(mock_llm)
    clock = ManualClock()
    held = Held(hf_generator(settings))
    gen = ResilientGenerator(held, settings.model_calls, client_of(redis_url, settings),  # type: ignore[arg-type]
                             clock=clock)
    prompt = build_prompt("Q?", chunks, 100)
    outage(mock_llm, 60)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            gen.generate(prompt)
    outage(mock_llm, 0)
    held.holding = True
    clock.advance(31)
    answers: list[Any] = []
    probe = threading.Thread(target=lambda: answers.append(gen.generate(prompt)))
    probe.start()
    try:
        assert held.entered.wait(60), "the probe never reached the generator"
        with pytest.raises(LLMUnavailable) as info:
            gen.generate(prompt)  # the probe is still out: refused
        assert info.value.retry_after == 1.0
    finally:
        held.release.set()
        probe.join(60)
    assert len(answers) == 1 and "[1]" in answers[0].text
    assert gen.state == "half-open" and stats(mock_llm)["requests"] == 4  # one good probe
    held.holding = False
    for _ in range(2):  # and two more, one at a time
        gen.generate(prompt)
    assert gen.state == "closed" and stats(mock_llm)["requests"] == 6


def test_calls_are_not_serialised_by_the_breaker(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    """Four calls meet at a barrier inside the guarded section: if the breaker let one call in
    at a time, the barrier would break (after its timeout) instead of opening."""
    settings = hf_settings(mock_llm)
    barrier = threading.Barrier(4, timeout=60)
    inner = hf_generator(settings)

    class AtTheBarrier:
        name = inner.name

        def generate(self, prompt: Any) -> Any:
            barrier.wait()
            return inner.generate(prompt)

        def stream(self, prompt: Any) -> Any:
            return inner.stream(prompt)

    gen = ResilientGenerator(AtTheBarrier(), settings.model_calls,  # type: ignore[arg-type]
                             client_of(redis_url, settings))
    outcomes: list[str] = []

    def call() -> None:
        try:
            outcomes.append(gen.generate(build_prompt("Q?", chunks, 50)).text)
        except LLMUnavailable as exc:
            outcomes.append(f"refused: {exc}")

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(outcomes) == 4 and all("[1]" in o for o in outcomes), outcomes
    assert stats(mock_llm)["completed"] == 4 and not barrier.broken


CHILD = """
import sys, time
from rag_core.redis_kv.client import connect
from rag_core.config import Settings
from rag_core.errors import LLMUnavailable
from rag_core.llm import build_generator
from rag_core.llm.prompt import build_prompt
s = Settings(profile="ci", llm="hf", llm_base_url="{url}/v1", llm_max_retries=0,
             breaker_fail_max=3, breaker_reset_timeout_s={reset})
g = build_generator(s, connect("{redis_url}", "{mode}"))
for _ in range(int(sys.argv[1])):
    try:
        g.generate(build_prompt("Q?", [], 50))
    except LLMUnavailable:
        pass
print(g.state)
"""


def run_child(url: str, redis_url: str, calls: int, reset: float, mode: str) -> str:
    script = textwrap.dedent(CHILD).format(url=url, redis_url=redis_url, reset=reset, mode=mode)
    out = subprocess.run([sys.executable, "-c", script, str(calls)], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


def test_processes_share_the_breaker_through_redis(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    # The child processes run on the wall clock; this process on a clock that starts there and
    # that the test moves past the reset timeout instead of sleeping through it.
    settings = hf_settings(mock_llm, breaker_reset_timeout_s=30.0)
    clock = ManualClock()
    gen, _ = resilient(settings, client_of(redis_url, settings), clock=clock)
    assert gen.state == "closed"
    outage(mock_llm, 60)
    mode = settings.services.redis_mode
    assert run_child(mock_llm, redis_url, 3, 30.0, mode) == "open"  # process A opened it
    assert stats(mock_llm)["requests"] == 3
    with pytest.raises(LLMUnavailable):  # process B (this one) sees it open: refused at once
        gen.generate(build_prompt("Q?", chunks, 50))
    assert stats(mock_llm)["requests"] == 3 and gen.state == "open" and gauge() == 2
    outage(mock_llm, 0)
    opened = gen.storage.opened_stamp()  # A's wall-clock stamp, read from Redis
    assert opened is not None
    clock.now = opened + 31
    gen.generate(build_prompt("Q?", chunks, 50))  # B's good probe: one of three
    assert run_child(mock_llm, redis_url, 0, 30.0, mode) == "half-open"
    # A's two good probes: the count of good probes is shared, the third closes it for all
    assert run_child(mock_llm, redis_url, 2, 30.0, mode) == "closed"
    assert gen.state == "closed"


def test_retry_after_a_503_is_one_breaker_success(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    configure(mock_llm, fail_next=1, error_status=503, retry_after_s=None)
    gen, tally = resilient(hf_settings(mock_llm, llm_max_retries=2, llm_backoff_base_s=0.01))
    assert "[1]" in gen.generate(build_prompt("Q?", chunks, 100)).text
    assert stats(mock_llm)["requests"] == 2
    assert (tally.successes, tally.failures) == (1, 0) and gen.breaker.fail_counter == 0


def test_exhausted_retries_are_one_breaker_failure(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    configure(mock_llm, error_rate=1.0, error_status=503, retry_after_s=None)
    gen, tally = resilient(hf_settings(mock_llm, llm_max_retries=2, llm_backoff_base_s=0.01))
    with pytest.raises(LLMUnavailable):
        gen.generate(build_prompt("Q?", chunks, 100))
    assert stats(mock_llm)["requests"] == 3  # one try and two retries
    assert tally.failures == 1 and gen.breaker.fail_counter == 1 and gen.state == "closed"


def test_a_400_is_not_retried_and_not_an_outage(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    configure(mock_llm, error_rate=1.0, error_status=400)
    gen, tally = resilient(hf_settings(mock_llm, llm_max_retries=3, llm_backoff_base_s=0.01))
    for _ in range(5):
        with pytest.raises(LLMUnavailable):
            gen.generate(build_prompt("Q?", chunks, 100))
    assert stats(mock_llm)["requests"] == 5 and tally.failures == 0 and gen.state == "closed"


def test_429_retry_after_is_honoured(mock_llm: str, chunks: list[Chunk],
                                     hf_settings: MakeSettings) -> None:
    configure(mock_llm, fail_next=1, error_status=429, retry_after_s=2)
    slept: list[float] = []
    gen, _ = resilient(hf_settings(mock_llm, llm_max_retries=1, llm_backoff_base_s=0.01),
                       sleep=slept.append)
    gen.generate(build_prompt("Q?", chunks, 100))
    assert slept == [2.0] and stats(mock_llm)["requests"] == 2


def test_429_with_a_long_retry_after_is_not_retried(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings) -> None:
    configure(mock_llm, error_rate=1.0, error_status=429, retry_after_s=30)
    gen, _ = resilient(hf_settings(mock_llm, llm_max_retries=3))  # Retry-After over 5 s
    with pytest.raises(LLMUnavailable) as info:
        gen.generate(build_prompt("Q?", chunks, 100))
    assert info.value.retry_after == 30 and stats(mock_llm)["requests"] == 1


def test_429_retry_after_really_waits(mock_llm: str, chunks: list[Chunk],
                                      hf_settings: MakeSettings) -> None:
    configure(mock_llm, fail_next=1, error_status=429, retry_after_s=1)
    gen, _ = resilient(hf_settings(mock_llm, llm_max_retries=1, llm_backoff_base_s=0.01))
    start = time.perf_counter()
    gen.generate(build_prompt("Q?", chunks, 100))
    assert time.perf_counter() - start >= 1.0  # a floor: a busy machine only adds to it


def test_stream_start_is_guarded_and_retried(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    settings = hf_settings(mock_llm, llm_max_retries=1, llm_backoff_base_s=0.01)
    gen, tally = resilient(settings, client_of(redis_url, settings))
    prompt = build_prompt("Q?", chunks, 100)
    configure(mock_llm, fail_next=1, retry_after_s=None)
    assert "[1]" in "".join(gen.stream(prompt))
    assert stats(mock_llm)["requests"] == 2 and tally.failures == 0
    outage(mock_llm, 60)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            next(gen.stream(prompt))
    assert gen.state == "open" and stats(mock_llm)["requests"] == 8
    with pytest.raises(LLMUnavailable):
        next(gen.stream(prompt))
    assert stats(mock_llm)["requests"] == 8


def test_stream_failure_midway_counts_and_abandoning_does_not(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    gen, _ = resilient(hf_settings(mock_llm), client_of(redis_url, hf_settings(mock_llm)))
    prompt = build_prompt("Q?", chunks, 100)
    configure(mock_llm, tokens_per_s=100)
    stream = gen.stream(prompt)
    next(stream)
    stream.close()  # the client went away: not the LLM's fault
    assert gen.breaker.fail_counter == 0
    configure(mock_llm, stream_error_after=2, tokens_per_s=0)
    pieces: list[str] = []
    with pytest.raises(LLMUnavailable):
        for piece in gen.stream(prompt):
            pieces.append(piece)
    assert len(pieces) == 2 and gen.breaker.fail_counter == 1


def test_redis_down_the_breaker_still_works_in_process(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings,
        redis_factory: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "BREAKER_REDIS_RETRY_S", 0.3)
    server = redis_factory()
    # generous timeouts: a stopped server refuses at once; a busy machine must not time out
    client = redis.Redis.from_url(server.url, socket_timeout=5, socket_connect_timeout=5)
    gen, _ = resilient(hf_settings(mock_llm), client, clock=ManualClock())
    prompt = build_prompt("Q?", chunks, 100)
    gen.generate(prompt)
    assert gen.storage.shared and client.get("rag:breaker:hf:state") == b"closed"
    server.stop()
    outage(mock_llm, 60)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):  # never a Redis error
            gen.generate(prompt)
    assert gen.state == "open" and not gen.storage.shared
    with pytest.raises(LLMUnavailable):  # refused at once: the LLM is not called
        gen.generate(prompt)
    assert stats(mock_llm)["requests"] == 4
    server.start()  # Redis is back: the state this process kept is shared again
    wait_until(lambda: gen.state == "open" and gen.storage.shared, 60,
               "the breaker's state shared through Redis again")
    assert client.get("rag:breaker:hf:state") == b"open"


def test_redis_down_from_the_start(mock_llm: str, chunks: list[Chunk],
                                   hf_settings: MakeSettings) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    gen, _ = resilient(hf_settings(mock_llm), dead)
    assert "[1]" in gen.generate(build_prompt("Q?", chunks, 100)).text
    assert not gen.storage.shared


def test_decoded_responses_client_shares_state(
        mock_llm: str, chunks: list[Chunk], hf_settings: MakeSettings, redis_url: str) -> None:
    settings = hf_settings(mock_llm)
    clock = ManualClock()
    first, _ = resilient(settings, client_of(redis_url, settings, decode_responses=True),
                         clock=clock)
    second, _ = resilient(settings, client_of(redis_url, settings), clock=clock)
    outage(mock_llm, 60)
    for _ in range(3):
        with pytest.raises(LLMUnavailable):
            first.generate(build_prompt("Q?", chunks, 100))
    assert first.state == second.state == "open"
    assert first.storage.opened_stamp() == second.storage.opened_stamp() == clock.now
    assert first.retry_after() == second.retry_after() == 30.0


def test_build_generator_wraps_the_named_generator(settings: Settings, redis_url: str) -> None:
    gen = build_generator(settings, client_of(redis_url, settings))
    assert isinstance(gen, ResilientGenerator) and gen.name == "extractive"
    out = gen.generate(build_prompt("What is faith?", [], 100))
    assert out.model == "extractive" and gen.state == "closed"  # no chunks: it declines
