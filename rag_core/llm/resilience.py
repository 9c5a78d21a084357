"""Step 6b: the circuit breaker and bounded retries around a generator.

``ResilientGenerator`` wraps any Generator. One call, with its retries, is one breaker call: it
counts as ONE failure if it still fails. After ``breaker_fail_max`` consecutive failures the
breaker opens: calls raise ``LLMUnavailable`` (with ``retry_after``) at once, without touching
the LLM, until ``breaker_reset_timeout_s`` has passed; then a single probe goes through (one per
process, and one across processes while Redis is up) and ``breaker_success_threshold`` good
probes close it again.

Retries: only for :class:`TransientLLMError` (timeouts, connection errors, 5xx, 429), at most
``llm_max_retries``, with exponential backoff and full jitter, honouring a server's Retry-After
up to ``llm_retry_after_max_s`` (a longer one ends the call at once), and never starting a retry
after ``llm_retry_budget_s``. A :class:`PermanentLLMError` (4xx) is not retried and does not
count against the LLM's health.

Shared state: pybreaker's own ``CircuitRedisStorage`` swallows Redis errors and then reports
"closed" with a zero failure count, so during a Redis outage the breaker could never open, and it
stores ``opened_at`` in whole seconds, which makes a short reset timeout fire up to a second
early. :class:`SharedBreakerStorage` keeps the same keys in Redis (``<namespace>:state``,
``fail_counter``, ``success_counter``, ``opened_at`` as float epoch seconds) and mirrors them in
process; while Redis is unreachable the mirror carries on alone (the breaker still works, per
process) and no Redis error reaches the caller.

Concurrency: ``pybreaker.CircuitBreaker.call`` holds the breaker's lock while the guarded function
runs, which would let one process talk to the LLM one request at a time. The guard here uses
``CircuitBreaker.calling()``, which takes the lock only to decide and lets the call run outside it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import pybreaker
import redis

from rag_core import observability as obs
from rag_core.cache.keys import breaker_prefix
from rag_core.config import Settings
from rag_core.errors import LLMMisconfigured, LLMUnavailable, RagError
from rag_core.llm.base import Generation, Generator, Prompt
from rag_core.llm.health import LLMHealth, Problem

log = logging.getLogger("rag_core.llm")
T = TypeVar("T")
CLOSED, OPEN, HALF_OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
GAUGE_NAME = "llm"


class TransientLLMError(Exception):
    """Worth a retry: a timeout, a connection error, a 5xx or a 429. ``timed_out``: the
    request reached the model and no answer came in time (it may have done the work)."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, timed_out: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.timed_out = timed_out


class PermanentLLMError(Exception):
    """Not worth a retry: a 4xx other than 408/429, a refused request, a malformed answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MisconfiguredLLMError(PermanentLLMError):
    """Permanent, and the operator's to fix: a refused token, a missing model, a bad URL."""

    def __init__(self, reason: str, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.problem = Problem(reason, message)


# --- shared state ---------------------------------------------------------------------------


@dataclass
class _Local:
    state: str = CLOSED
    fail: int = 0
    success: int = 0
    opened_at: float | None = None


_OFF: Any = object()  # "Redis was not used": read the in-process mirror instead


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SharedBreakerStorage(pybreaker.CircuitBreakerStorage):
    """Breaker state in Redis, so that every worker sees one breaker; in process without it.

    Works with clients with or without ``decode_responses``. After a Redis error the mirror is
    used alone for ``retry_s`` seconds (one warning in the log), then Redis is tried again.
    """

    def __init__(self, client: redis.Redis | None, namespace: str, retry_s: float = 5.0) -> None:
        super().__init__("redis" if client is not None else "memory")
        self._client = client
        self._namespace = namespace
        self._retry_s = retry_s
        self._local = _Local()
        self._lock = threading.Lock()
        self._down_until = 0.0
        self._down = False
        self._probe_token = uuid.uuid4().hex

    @property
    def shared(self) -> bool:
        """True while the state lives in Redis (False: no client, or Redis unreachable)."""
        return self._client is not None and not self._down

    def _key(self, name: str) -> str:
        return f"{self._namespace}:{name}"

    def _redis(self, action: Callable[[redis.Redis], Any]) -> Any:
        client = self._client
        if client is None or time.monotonic() < self._down_until:
            return _OFF
        try:
            value = action(client)
        except redis.RedisError as exc:
            self._down_until = time.monotonic() + self._retry_s
            if not self._down:
                self._down = True
                obs.log_event(log, logging.WARNING,
                              "circuit breaker state kept in process: Redis unreachable",
                              namespace=self._namespace, error=type(exc).__name__)
            return _OFF
        if self._down:
            self._down = False
            obs.log_event(log, logging.INFO, "circuit breaker state shared through Redis again",
                          namespace=self._namespace)
        return value

    @property
    def state(self) -> str:
        value = self._redis(lambda r: r.get(self._key("state")))
        if value is _OFF:
            return self._local.state
        if value is None:  # a fresh or flushed Redis: seed it with what this process knows
            self._redis(lambda r: r.set(self._key("state"), self._local.state, nx=True))
            return self._local.state
        self._local.state = _text(value)
        return self._local.state

    @state.setter
    def state(self, state: str) -> None:
        self._local.state = str(state)
        self._redis(lambda r: r.set(self._key("state"), str(state)))

    def _count(self, name: str, attr: str, delta: int | None) -> None:
        """Add ``delta`` to a counter (``None``: reset it to zero), here and in Redis."""
        with self._lock:
            setattr(self._local, attr, 0 if delta is None else getattr(self._local, attr) + delta)
        if delta is None:
            self._redis(lambda r: r.set(self._key(name), 0))
            return
        value = self._redis(lambda r: r.incrby(self._key(name), delta))
        if value is not _OFF:
            setattr(self._local, attr, int(value))

    def _read(self, name: str, attr: str) -> int:
        value = self._redis(lambda r: r.get(self._key(name)))
        if value is not _OFF:
            setattr(self._local, attr, int(_text(value)) if value else 0)
        return int(getattr(self._local, attr))

    def increment_counter(self) -> None:
        self._count("fail_counter", "fail", 1)

    def reset_counter(self) -> None:
        self._count("fail_counter", "fail", None)

    def increment_success_counter(self) -> None:
        self._count("success_counter", "success", 1)

    def reset_success_counter(self) -> None:
        self._count("success_counter", "success", None)

    @property
    def counter(self) -> int:
        return self._read("fail_counter", "fail")

    @property
    def success_counter(self) -> int:
        return self._read("success_counter", "success")

    @property
    def opened_at(self) -> datetime | None:
        value = self._redis(lambda r: r.get(self._key("opened_at")))
        if value is not _OFF and value is not None:
            self._local.opened_at = float(_text(value))
        stamp = self._local.opened_at
        return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        stamp = when.timestamp()
        self._local.opened_at = stamp
        self._redis(lambda r: r.set(self._key("opened_at"), repr(stamp)))

    def claim_probe(self, ttl_s: float) -> bool:
        """Take the one half-open probe slot across processes (always granted without Redis)."""
        got = self._redis(lambda r: r.set(self._key("probe"), self._probe_token, nx=True,
                                          px=max(1, int(ttl_s * 1000))))
        return True if got is _OFF else bool(got)

    def release_probe(self) -> None:
        self._redis(lambda r: r.delete(self._key("probe")))


class _StateListener(pybreaker.CircuitBreakerListener):
    """Logs every state change this process sees and sets the ``circuit_breaker_state`` gauge."""

    def state_change(self, cb: pybreaker.CircuitBreaker, old_state: Any, new_state: Any) -> None:
        new = str(new_state.name)
        old = getattr(old_state, "name", None)
        obs.BREAKER_STATE.labels(name=GAUGE_NAME).set(STATE_VALUE.get(new, 0))
        if old != new:
            obs.log_event(log, logging.WARNING if new == OPEN else logging.INFO,
                          "circuit breaker state change", breaker=cb.name, old=old, new=new)


# --- the wrapper ----------------------------------------------------------------------------


def _close(iterator: object) -> None:
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


def _raise(exc: BaseException) -> None:
    raise exc


class ResilientGenerator:
    """A Generator behind a circuit breaker (shared through Redis) and bounded retries.

    Every failure reaches the caller as ``LLMUnavailable`` (503, with ``retry_after``); Redis
    errors never do. ``sleep`` and ``rng`` exist so that unit tests need not wait.
    """

    def __init__(self, inner: Generator, settings: Settings,
                 redis_client: redis.Redis | None = None, *,
                 sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._probe = threading.Lock()
        self.storage = SharedBreakerStorage(
            redis_client, breaker_prefix(inner.name),
            settings.breaker_redis_retry_s)
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_timeout_s,
            success_threshold=settings.breaker_success_threshold,
            exclude=[PermanentLLMError],
            listeners=[_StateListener()],
            state_storage=self.storage,
            name=inner.name,
        )
        obs.BREAKER_STATE.labels(name=GAUGE_NAME).set(STATE_VALUE.get(self.state, 0))
        self.health = LLMHealth(inner.name, settings.llm_recheck_s, verify=self._verify)

    # --- configuration health (readiness) ---------------------------------------------------

    def check_config(self) -> dict[str, Any]:
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
        """Close the breaker by hand (operators, tests)."""
        self.breaker.close()

    def _open_remaining(self) -> float:
        opened = self.storage.opened_at
        if opened is None:
            return 0.0
        return opened.timestamp() + self.settings.breaker_reset_timeout_s - time.time()

    # --- calls ------------------------------------------------------------------------------

    def generate(self, prompt: Prompt) -> Generation:
        with self._guarded():
            return self._with_retries(self.inner.generate, prompt)
        raise AssertionError("unreachable")  # pragma: no cover (the guard never swallows)

    def stream(self, prompt: Prompt) -> Iterator[str]:
        """Yield the answer's pieces. The breaker guards the start of the stream (up to the first
        piece, with retries); a failure after that counts as one more breaker failure and ends
        the stream with ``LLMUnavailable``. Closing this iterator closes the HTTP stream."""
        with self._guarded():
            rest, first = self._with_retries(self._start_stream, prompt)
        try:
            if first:
                yield first
            yield from rest
        except RagError:
            raise
        except Exception as exc:
            self._record_failure(exc)
            raise LLMUnavailable("The language model stopped in the middle of its answer.",
                                 retry_after=self.retry_after()) from exc
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
            raise LLMUnavailable(retry_after=self.retry_after()) from exc
        except TransientLLMError as exc:
            err = LLMUnavailable(f"The language model failed: {exc}",
                                 retry_after=exc.retry_after or self.retry_after())
            err.abandoned = exc.timed_out
            raise err from exc
        except PermanentLLMError as exc:
            raise LLMUnavailable(f"The language model refused the request: {exc}",
                                 retry_after=self.retry_after()) from exc
        except RagError:
            raise
        except Exception as exc:  # a bug or an unforeseen client error: still a clean 503
            log.exception("generator %s failed unexpectedly", self.name)
            raise LLMUnavailable(retry_after=self.retry_after()) from exc
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
            raise LLMUnavailable(retry_after=self.retry_after())
        if not self._probe.acquire(blocking=False):
            raise LLMUnavailable(retry_after=1.0)
        ttl = self.settings.llm_retry_budget_s + self.settings.llm_read_timeout_s
        if not self.storage.claim_probe(ttl):
            self._probe.release()
            raise LLMUnavailable(retry_after=1.0)
        return True

    def _record_failure(self, exc: BaseException) -> None:
        """Count a failure that happened after the guarded start (mid-stream)."""
        if isinstance(exc, PermanentLLMError) or self.storage.state == OPEN:
            return
        with suppress(Exception):  # the caller raises LLMUnavailable itself
            self.breaker.call(_raise, exc)

    # --- retries ----------------------------------------------------------------------------

    def _with_retries(self, func: Callable[..., T], *args: Any) -> T:
        s = self.settings
        deadline = time.monotonic() + s.llm_retry_budget_s
        attempt = 0
        timed_out = False
        while True:
            try:
                return func(*args)
            except TransientLLMError as exc:
                timed_out = timed_out or exc.timed_out
                exc.timed_out = timed_out  # an earlier attempt that timed out counts too
                delay = self._backoff(attempt, exc)
                if (attempt >= s.llm_max_retries or delay is None
                        or time.monotonic() + delay > deadline):
                    raise
                obs.log_event(log, logging.INFO, "retrying the language model",
                              attempt=attempt + 1, delay_s=round(delay, 3), error=str(exc))
                self._sleep(delay)
                attempt += 1

    def _backoff(self, attempt: int, exc: TransientLLMError) -> float | None:
        """Full jitter, capped; a Retry-After is a floor, and one above the cap means give up."""
        s = self.settings
        delay = self._rng.uniform(0, min(s.llm_backoff_max_s, s.llm_backoff_base_s * 2 ** attempt))
        if exc.retry_after is not None:
            if exc.retry_after > s.llm_retry_after_max_s:
                return None
            delay = max(delay, exc.retry_after)
        return delay
