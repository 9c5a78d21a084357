"""Step 6b: the circuit breaker and bounded retries around a generator.

One failed call (after its retries) is one breaker failure. After ``breaker_fail_max`` of them
the breaker opens: calls fail at once with ``LLMUnavailable`` (and a Retry-After) without
touching the LLM, until ``breaker_reset_timeout_s`` has passed; then one probe goes through and
``breaker_success_threshold`` successes close it again. The state lives in Redis (pybreaker's
Redis storage) so that every worker process sees the same breaker; without Redis it lives in
process.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
import redis

from rag_core import observability as obs
from rag_core.config import Settings
from rag_core.errors import LLMUnavailable
from rag_core.llm.base import Generation, Generator, Prompt
from rag_core.llm.hf import PermanentLLMError, TransientLLMError

log = logging.getLogger("rag_core.llm")
T = TypeVar("T")
STATE_VALUE = {"closed": 0, "half-open": 1, "open": 2}
MAX_RETRY_AFTER_S = 5.0


class _Listener(pybreaker.CircuitBreakerListener):
    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        old = getattr(old_state, "name", None)
        obs.BREAKER_STATE.labels(name=cb.name or "llm").set(STATE_VALUE.get(new_state.name, 0))
        if old != new_state.name:
            obs.log_event(log, logging.WARNING, "circuit breaker state change",
                          breaker=cb.name, old=old, new=new_state.name)


def _storage(settings: Settings, client: redis.Redis | None) -> pybreaker.CircuitBreakerStorage:
    if client is not None:
        try:
            return pybreaker.CircuitRedisStorage(pybreaker.STATE_CLOSED, client,
                                                 namespace=f"rag:breaker:{settings.llm}")
        except redis.RedisError as exc:
            obs.log_event(log, logging.WARNING, "breaker state kept in process: Redis down",
                          error=type(exc).__name__)
    return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)


def _raise(exc: BaseException) -> None:
    raise exc


class ResilientGenerator:
    def __init__(self, inner: Generator, settings: Settings,
                 client: redis.Redis | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self.name = inner.name
        self.settings = settings
        self._sleep = sleep
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_timeout_s,
            success_threshold=settings.breaker_success_threshold,
            exclude=[PermanentLLMError],
            listeners=[_Listener()],
            state_storage=_storage(settings, client),
            name="llm",
        )
        obs.BREAKER_STATE.labels(name="llm").set(STATE_VALUE.get(self.state, 0))

    @property
    def state(self) -> str:
        return str(self.breaker.current_state)

    def retry_after(self) -> float:
        """Seconds until the breaker lets a probe through (at least 1)."""
        opened = self.breaker._state_storage.opened_at
        if self.state != "open" or opened is None:
            return 1.0
        remaining = (opened.timestamp() + self.settings.breaker_reset_timeout_s
                     - datetime.now(UTC).timestamp())
        return max(1.0, round(remaining, 1))

    def generate(self, prompt: Prompt) -> Generation:
        try:
            return self.breaker.call(self._with_retries, self.inner.generate, prompt)
        except pybreaker.CircuitBreakerError as exc:
            raise LLMUnavailable("The language model is temporarily unavailable.",
                                 retry_after=self.retry_after()) from exc
        except (TransientLLMError, PermanentLLMError) as exc:
            raise LLMUnavailable(f"The language model failed: {exc}",
                                 retry_after=self.retry_after()) from exc
        except redis.RedisError as exc:  # breaker bookkeeping only; never the caller's problem
            obs.log_event(log, logging.WARNING, "breaker storage error", error=str(exc))
            return self._with_retries(self.inner.generate, prompt)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """The breaker guards the start of the stream; a failure mid-stream counts too."""
        def start() -> tuple[str, Iterator[str]]:
            iterator = iter(self.inner.stream(prompt))
            return next(iterator, ""), iterator

        try:
            first, rest = self.breaker.call(self._with_retries, start)
        except pybreaker.CircuitBreakerError as exc:
            raise LLMUnavailable("The language model is temporarily unavailable.",
                                 retry_after=self.retry_after()) from exc
        except (TransientLLMError, PermanentLLMError) as exc:
            raise LLMUnavailable(f"The language model failed: {exc}",
                                 retry_after=self.retry_after()) from exc
        if first:
            yield first
        try:
            yield from rest
        except (TransientLLMError, PermanentLLMError) as exc:
            try:
                self.breaker.call(_raise, exc)
            except (pybreaker.CircuitBreakerError, TransientLLMError, PermanentLLMError):
                pass
            raise LLMUnavailable(f"The language model stopped mid-answer: {exc}",
                                 retry_after=self.retry_after()) from exc

    def _with_retries(self, func: Callable[..., T], *args: Any) -> T:
        attempts = self.settings.llm_max_retries + 1
        for attempt in range(attempts):
            try:
                return func(*args)
            except TransientLLMError as exc:
                if attempt + 1 >= attempts:
                    raise
                delay = random.uniform(0, self.settings.llm_backoff_base_s * 2 ** attempt)
                if exc.retry_after is not None:
                    delay = min(max(exc.retry_after, delay), MAX_RETRY_AFTER_S)
                self._sleep(delay)
        raise AssertionError("unreachable")
