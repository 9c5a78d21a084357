"""Step 6b: the circuit breaker and bounded retries around a generator.

``ResilientGenerator`` wraps any Generator. One call, with its retries, is one breaker call: it
counts as ONE failure if it still fails. After ``breaker_fail_max`` consecutive failures the
breaker opens: calls raise ``LLMUnavailable`` (with ``retry_after``) at once, without touching
the LLM, until ``breaker_reset_timeout_s`` has passed; then a single probe goes through (one per
process, and one across processes while Redis is up) and ``breaker_success_threshold`` good
probes close it again.

The parts live beside this module: the failure kinds in ``llm/failures.py`` (a
:class:`PermanentLLMError`, a 4xx, is not retried and does not count against the LLM's health),
the retries in ``llm/retry.py``, the state shared through Redis in ``llm/breaker_state.py``.
Their public names stay importable from here.

Concurrency: ``pybreaker.CircuitBreaker.call`` holds the breaker's lock while the guarded function
runs, which would let one process talk to the LLM one request at a time. The guard here uses
``CircuitBreaker.calling()``, which takes the lock only to decide and lets the call run outside it.

Time: one ``clock`` (epoch seconds; shared state across processes needs the wall clock) stamps
the opening and decides when the reset timeout is over; the guard moves the breaker to
half-open itself, so pybreaker's own ``datetime.now()`` check is never the one that decides.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

from rag_core.config import ModelCalls, fixed
from rag_core.errors import LLMMisconfigured, LLMUnavailable, RagError
from rag_core.llm.base import Generation, Generator, Prompt
from rag_core.llm.breaker_state import (
    CLOSED,
    GAUGE_NAME,
    HALF_OPEN,
    OPEN,
    STATE_VALUE,
    SharedBreakerStorage,
    StateListener,
)
from rag_core.llm.failures import MisconfiguredLLMError, PermanentLLMError, TransientLLMError
from rag_core.llm.health import LLMHealth, Problem
from rag_core.llm.pybreaker_py import pybreaker
from rag_core.llm.retry import Retrier
from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.keys import breaker_prefix
from rag_core.telemetry import metrics
from rag_core.types import JsonObject

__all__ = ["CLOSED", "HALF_OPEN", "OPEN", "MisconfiguredLLMError", "PermanentLLMError",
           "ResilientGenerator", "SharedBreakerStorage", "TransientLLMError"]

log = logging.getLogger("rag_core.llm")


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


def _raise(exc: BaseException) -> None:
    raise exc


def _unavailable(message: str | None, retry_after: float, reason: str) -> LLMUnavailable:
    err = LLMUnavailable(message, retry_after=retry_after)
    err.reason = reason
    return err


def _reason(exc: TransientLLMError) -> str:
    """How a transient failure failed: timeout, server_error (a 5xx, 408 or 429) or
    connection (refused, reset, unreachable)."""
    text = str(exc)
    if exc.timed_out or text.startswith("timeout"):
        return "timeout"
    if exc.status is not None:
        return "server_error"
    return "connection" if text.startswith("connection") else "server_error"


class ResilientGenerator:
    """A Generator behind a circuit breaker (shared through Redis) and bounded retries.

    Every failure reaches the caller as ``LLMUnavailable`` (503, with ``retry_after``); Redis
    errors never do. ``sleep``, ``rng`` and ``clock`` exist so that tests need not wait.
    """

    def __init__(self, inner: Generator, settings: ModelCalls,
                 redis_client: RedisClient | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time,
                 breaker: str | None = None, gauge: str = GAUGE_NAME) -> None:
        """``breaker``: the name of its shared state (``rag:breaker:<name>``; the inner
        generator's name by default); ``gauge``: its ``circuit_breaker_state`` label. A second
        provider of the same kind gets names of its own (``rag_core.llm.failover``)."""
        self.inner = inner
        self.name = inner.name
        self.gauge = gauge
        self.settings = settings
        self.retrier = Retrier(settings, sleep=sleep, rng=rng)
        self._probe = threading.Lock()
        self.storage = SharedBreakerStorage(
            redis_client, breaker_prefix(breaker or inner.name),
            fixed.BREAKER_REDIS_RETRY_S, clock=clock)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_timeout_s,
            success_threshold=settings.breaker_success_threshold,
            exclude=[PermanentLLMError],
            listeners=[StateListener(gauge)],
            state_storage=self.storage,
            name=breaker or inner.name,
        )
        metrics.BREAKER_STATE.labels(name=gauge).set(STATE_VALUE.get(self.state, 0))
        self.health = LLMHealth(inner.name, settings.llm_recheck_s, verify=self._verify)

    # --- configuration health (readiness) ---------------------------------------------------

    def check_config(self) -> JsonObject:
        """The ``llm`` check of ``/readyz``: ``{"ok": True}``, or the remembered
        ``LLM_MISCONFIGURED`` with its reason and message. Never calls the model per probe."""
        return self.health.check()

    def startup_check(self) -> Problem | None:
        """The generator's cheap configuration probe, once at startup (nothing generated)."""
        return self.health.startup(getattr(self.inner, "probe", None))

    def _verify(self) -> Problem | None:
        """Re-verify a remembered misconfiguration with one tiny generation (at most once per
        ``llm_recheck_s``, only while one is remembered). Transient failures re-raise: they
        say nothing about the configuration."""
        try:
            self.inner.generate(Prompt(messages=[{"role": "user", "content": "ping"}],
                                       question="ping", max_tokens=1))
        except MisconfiguredLLMError as exc:
            return exc.problem
        return None

    # --- state ------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """"closed", "open" or "half-open" ("open" whose reset timeout is over reads
        "half-open": the next call will be the probe)."""
        state = self.storage.state
        if state == OPEN and self._open_remaining() <= 0:
            return HALF_OPEN
        return state

    def retry_after(self) -> float:
        """Seconds a client should wait: until the probe while open, else 1."""
        if self.storage.state == OPEN:
            return max(0.1, round(self._open_remaining(), 2))
        return 1.0

    def reset(self) -> None:
        """Close the breaker by hand (operators, tests, the harness's variants), its shared
        state cleared."""
        self.storage.clear()
        self.breaker.close()

    def _open_remaining(self) -> float:
        opened = self.storage.opened_stamp()
        if opened is None:
            return 0.0
        return opened + self.settings.breaker_reset_timeout_s - self.storage.clock()

    # --- calls ------------------------------------------------------------------------------

    def generate(self, prompt: Prompt) -> Generation:
        with self._guarded():
            return self.retrier.call(self.inner.generate, prompt)
        raise AssertionError("unreachable")  # pragma: no cover (the guard never swallows)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """Yield the answer's pieces. The breaker guards the start of the stream (up to the first
        piece, with retries); a failure after that counts as one more breaker failure and ends
        the stream with ``LLMUnavailable``. Closing this iterator closes the HTTP stream."""
        with self._guarded():
            rest, first = self.retrier.call(self._start_stream, prompt)
        try:
            if first:
                yield first
            yield from rest
        except RagError:
            raise
        except Exception as exc:
            self._record_failure(exc)
            raise _unavailable("The language model stopped in the middle of its answer.",
                               self.retry_after(), "stream_broken") from exc
        finally:
            _close(rest)

    def _start_stream(self, prompt: Prompt) -> tuple[Iterator[str], str]:
        iterator = iter(self.inner.stream(prompt))
        try:
            return iterator, next(iterator, "")
        except BaseException:
            _close(iterator)
            raise

    # --- guard ------------------------------------------------------------------------------

    @contextmanager
    def _guarded(self) -> Iterator[None]:
        probe = self._admit()
        try:
            with self.breaker.calling():
                yield
            self.health.clear()
        except MisconfiguredLLMError as exc:
            self.health.report(exc.problem)
            raise LLMMisconfigured() from exc  # the detail is in the log and /readyz
        except pybreaker.CircuitBreakerError as exc:  # this call's failure opened it
            cause = exc.__cause__ or exc.__context__
            reason = _reason(cause) if isinstance(cause, TransientLLMError) else "failed"
            raise _unavailable(None, self.retry_after(), reason) from exc
        except TransientLLMError as exc:
            err = _unavailable(f"The language model failed: {exc}",
                               exc.retry_after or self.retry_after(), _reason(exc))
            err.abandoned = exc.timed_out
            raise err from exc
        except PermanentLLMError as exc:
            raise _unavailable(f"The language model refused the request: {exc}",
                               self.retry_after(), "refused") from exc
        except RagError:
            raise
        except Exception as exc:  # a bug or an unforeseen client error: still a clean 503
            log.exception("generator %s failed unexpectedly", self.name)
            raise _unavailable(None, self.retry_after(), "failed") from exc
        finally:
            if probe:
                self.storage.release_probe()
                self._probe.release()

    def _admit(self) -> bool:
        """Refuse at once while open; let one probe through once the reset timeout is over.

        Returns True when this call is the probe (its slot is released by the caller)."""
        state = self.breaker.state.name  # also tells the listener what other workers did
        if state == CLOSED:
            return False
        if state == OPEN and self._open_remaining() > 0:
            raise _unavailable(None, self.retry_after(), "breaker_open")
        if not self._probe.acquire(blocking=False):
            raise _unavailable(None, 1.0, "breaker_open")
        ttl = fixed.LLM_RETRY_BUDGET_S + self.settings.llm_read_timeout_s
        if not self.storage.claim_probe(ttl):
            self._probe.release()
            raise _unavailable(None, 1.0, "breaker_open")
        if state == OPEN:  # our clock says the reset timeout is over: this call is the probe
            self.breaker.half_open()
        return True

    def _record_failure(self, exc: BaseException) -> None:
        """Count a failure that happened after the guarded start (mid-stream)."""
        if isinstance(exc, PermanentLLMError) or self.storage.state == OPEN:
            return
        with suppress(Exception):  # the caller raises LLMUnavailable itself
            self.breaker.call(_raise, exc)

