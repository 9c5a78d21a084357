"""Bounded retries (rag_core/llm/retry.py) on a clock and a sleep the test owns: no waiting."""

from __future__ import annotations

import random

import pytest
from fakes import ManualClock

from rag_core.config import Settings, fixed
from rag_core.llm.failures import PermanentLLMError, TransientLLMError
from rag_core.llm.retry import Retrier


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def retrier(settings: Settings, clock: ManualClock | None = None, **changes: object
            ) -> tuple[Retrier, list[float]]:
    clock = clock or ManualClock(0.0)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    s = settings.with_overrides(**changes)
    return Retrier(s.model_calls, sleep=sleep, rng=random.Random(3), monotonic=clock), slept


def test_transient_errors_are_retried_with_capped_full_jitter(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "LLM_BACKOFF_MAX_S", 1.5)
    r, slept = retrier(settings, llm_max_retries=3, llm_backoff_base_s=1.0)
    flaky = Flaky(*(TransientLLMError("503") for _ in range(3)))
    assert r.call(flaky) == "ok" and flaky.calls == 4
    caps = [1.0, 1.5, 1.5]  # base * 2**attempt, capped
    assert len(slept) == 3 and all(0 <= d <= cap for d, cap in zip(slept, caps, strict=True))


def test_gives_up_after_max_retries_with_the_last_error(settings: Settings) -> None:
    r, slept = retrier(settings, llm_max_retries=2)
    flaky = Flaky(*(TransientLLMError(f"try {i}") for i in range(5)))
    with pytest.raises(TransientLLMError, match="try 2"):
        r.call(flaky)
    assert flaky.calls == 3 and len(slept) == 2


def test_permanent_errors_are_not_retried(settings: Settings) -> None:
    r, slept = retrier(settings, llm_max_retries=3)
    flaky = Flaky(PermanentLLMError("400"))
    with pytest.raises(PermanentLLMError):
        r.call(flaky)
    assert flaky.calls == 1 and slept == []


def test_retry_after_is_a_floor_and_a_long_one_ends_the_call(settings: Settings) -> None:
    assert fixed.LLM_RETRY_AFTER_MAX_S == 5
    r, slept = retrier(settings, llm_max_retries=1, llm_backoff_base_s=0.01)
    assert r.call(Flaky(TransientLLMError("429", retry_after=2.0))) == "ok"
    assert slept == [2.0]
    r, slept = retrier(settings, llm_max_retries=3)
    flaky = Flaky(TransientLLMError("429", retry_after=30.0))
    with pytest.raises(TransientLLMError):
        r.call(flaky)
    assert flaky.calls == 1 and slept == []


def test_no_retry_starts_after_the_budget(settings: Settings,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fixed, "LLM_RETRY_BUDGET_S", 10.0)
    monkeypatch.setattr(fixed, "LLM_RETRY_AFTER_MAX_S", 6.0)
    clock = ManualClock(0.0)
    r, slept = retrier(settings, clock, llm_max_retries=5, llm_backoff_base_s=0.01)
    flaky = Flaky(*(TransientLLMError("503", retry_after=4.0) for _ in range(5)))
    with pytest.raises(TransientLLMError):
        r.call(flaky)
    assert slept == [4.0, 4.0] and flaky.calls == 3  # a third 4 s wait would end at 12 s
