"""Bounded retries of one generator call: exponential backoff with full jitter.

Only :class:`TransientLLMError` is retried, at most ``llm_max_retries`` times; a server's
Retry-After is a floor of the wait, and one above ``fixed.LLM_RETRY_AFTER_MAX_S`` ends the call at
once; no retry starts after ``fixed.LLM_RETRY_BUDGET_S``. ``sleep``, ``rng`` and ``monotonic`` are
parameters so that tests need not wait.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from rag_core.config import ModelCalls, fixed
from rag_core.llm.failures import TransientLLMError
from rag_core.telemetry import logs

log = logging.getLogger("rag_core.llm")
T = TypeVar("T")


class Retrier:
    def __init__(self, settings: ModelCalls, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._monotonic = monotonic

    def call(self, func: Callable[..., T], *args: object) -> T:
        """``func(*args)``, retried on transient errors; the last error is raised."""
        s = self.settings
        deadline = self._monotonic() + fixed.LLM_RETRY_BUDGET_S
        attempt = 0
        timed_out = False
        while True:
            try:
                return func(*args)
            except TransientLLMError as exc:
                timed_out = timed_out or exc.timed_out
                exc.timed_out = timed_out  # an earlier attempt that timed out counts too
                delay = self.backoff(attempt, exc)
                if (attempt >= s.llm_max_retries or delay is None
                        or self._monotonic() + delay > deadline):
                    raise
                logs.log_event(log, logging.INFO, "retrying the language model",
                               attempt=attempt + 1, delay_s=round(delay, 3), error=str(exc))
                self._sleep(delay)
                attempt += 1

    def backoff(self, attempt: int, exc: TransientLLMError) -> float | None:
        """Full jitter, capped; a Retry-After is a floor, and one above the cap means give up."""
        s = self.settings
        delay = self._rng.uniform(0, min(fixed.LLM_BACKOFF_MAX_S,
                                         s.llm_backoff_base_s * 2 ** attempt))
        if exc.retry_after is not None:
            if exc.retry_after > fixed.LLM_RETRY_AFTER_MAX_S:
                return None
            delay = max(delay, exc.retry_after)
        return delay
