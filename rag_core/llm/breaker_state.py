"""The circuit breaker's state: shared through Redis, mirrored in process.

pybreaker's own ``CircuitRedisStorage`` swallows Redis errors and then reports "closed" with a
zero failure count, so during a Redis outage the breaker could never open, and it stores
``opened_at`` in whole seconds, which makes a short reset timeout fire up to a second early.
:class:`SharedBreakerStorage` keeps the same keys in Redis (``<namespace>:state``,
``fail_counter``, ``success_counter``, ``opened_at`` as float epoch seconds) and mirrors them in
process; while Redis is unreachable the mirror carries on alone (the breaker still works, per
process) and no Redis error reaches the caller.

One clock: the moment of opening is stamped from the storage's ``clock`` (epoch seconds,
``time.time`` unless a test injects one), not from the ``datetime.now()`` that pybreaker passes,
and :class:`~rag_core.llm.resilience.ResilientGenerator` reads the same clock to decide when the
reset timeout is over. In production both are the wall clock; a test moves its own clock instead
of sleeping through a reset timeout.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Literal, TypeVar

from rag_core.llm.pybreaker_py import pybreaker
from rag_core.redis_kv.client import REDIS_ERRORS, RedisClient
from rag_core.telemetry import logs, metrics

log = logging.getLogger("rag_core.llm")
CLOSED, OPEN, HALF_OPEN = pybreaker.STATE_CLOSED, pybreaker.STATE_OPEN, pybreaker.STATE_HALF_OPEN
STATE_VALUE = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
GAUGE_NAME = "llm"
Clock = Callable[[], float]


@dataclass
class _Local:
    state: str = CLOSED
    fail: int = 0
    success: int = 0
    opened_at: float | None = None


# the keys of one breaker's shared state, below its namespace
KEYS = ("state", "fail_counter", "success_counter", "opened_at", "probe")
class _Off(Enum):
    OFF = "off"  # "Redis was not used": read the in-process mirror instead


_OFF = _Off.OFF
T = TypeVar("T")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class SharedBreakerStorage(pybreaker.CircuitBreakerStorage):
    """Breaker state in Redis, so that every worker sees one breaker; in process without it.

    Works with clients with or without ``decode_responses``. After a Redis error the mirror is
    used alone for ``retry_s`` seconds (one warning in the log), then Redis is tried again.
    """

    def __init__(self, client: RedisClient | None, namespace: str, retry_s: float = 5.0, *,
                 clock: Clock = time.time) -> None:
        super().__init__("redis" if client is not None else "memory")
        self._client = client
        self._namespace = namespace
        self._retry_s = retry_s
        self.clock = clock
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

    def _redis(self, action: Callable[[RedisClient], T]) -> T | Literal[_Off.OFF]:
        client = self._client
        if client is None or time.monotonic() < self._down_until:
            return _OFF
        try:
            value = action(client)
        except REDIS_ERRORS as exc:
            self._down_until = time.monotonic() + self._retry_s
            if not self._down:
                self._down = True
                logs.log_event(log, logging.WARNING,
                               "circuit breaker state kept in process: Redis unreachable",
                               namespace=self._namespace, error=type(exc).__name__)
            return _OFF
        if self._down:
            self._down = False
            logs.log_event(log, logging.INFO, "circuit breaker state shared through Redis again",
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

    def opened_stamp(self) -> float | None:
        """When the breaker last opened (epoch seconds of ``clock``), or None."""
        value = self._redis(lambda r: r.get(self._key("opened_at")))
        if value is not _OFF and value is not None:
            self._local.opened_at = float(_text(value))
        return self._local.opened_at

    @property
    def opened_at(self) -> datetime | None:
        stamp = self.opened_stamp()
        return datetime.fromtimestamp(stamp, UTC) if stamp is not None else None

    @opened_at.setter
    def opened_at(self, when: datetime) -> None:
        """pybreaker calls this when it opens, with ``datetime.now()``: the stamp comes from
        ``clock`` instead (see the module docstring), the same instant unless a test set one."""
        stamp = float(self.clock())
        self._local.opened_at = stamp
        self._redis(lambda r: r.set(self._key("opened_at"), repr(stamp)))

    def claim_probe(self, ttl_s: float) -> bool:
        """Take the one half-open probe slot across processes (always granted without Redis)."""
        got = self._redis(lambda r: r.set(self._key("probe"), self._probe_token, nx=True,
                                          px=max(1, int(ttl_s * 1000))))
        return True if got is _OFF else bool(got)

    def release_probe(self) -> None:
        self._redis(lambda r: r.delete(self._key("probe")))

    def clear(self) -> None:
        """Forget everything: closed, no failures, never opened, no probe claimed (in Redis
        and in process)."""
        with self._lock:
            self._local = _Local()
        self._redis(lambda r: r.delete(*(self._key(name) for name in KEYS)))


class StateListener(pybreaker.CircuitBreakerListener):
    """Logs every state change this process sees and sets the ``circuit_breaker_state`` gauge."""

    def __init__(self, gauge: str = GAUGE_NAME) -> None:
        self.gauge = gauge  # the gauge's label: ``llm``, ``llm_fallback`` for a second provider

    def state_change(self, cb: pybreaker.CircuitBreaker,
                     old_state: pybreaker.CircuitBreakerState | None,
                     new_state: pybreaker.CircuitBreakerState) -> None:
        new = str(new_state.name)
        old = getattr(old_state, "name", None)
        metrics.BREAKER_STATE.labels(name=self.gauge).set(STATE_VALUE.get(new, 0))
        if old != new:
            logs.log_event(log, logging.WARNING if new == OPEN else logging.INFO,
                           "circuit breaker state change", breaker=cb.name, old=old, new=new)
