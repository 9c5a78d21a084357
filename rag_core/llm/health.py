"""Is the LLM configured right? The last permanent misconfiguration, remembered per process.

A refused token (401/403), a model or endpoint that does not exist (404) or an unusable URL
will not heal by retrying, and the circuit breaker rightly ignores them (it guards against an
LLM that is down, not one that is misconfigured). Without a memory of them, every uncached
question fails while ``/readyz`` stays green. :class:`LLMHealth` remembers the last one:

* ``report`` is called with each misconfiguration a call meets: logged once (until it clears
  or changes), counted every time in ``llm_misconfigured_total{reason}``;
* ``clear`` is called after each successful call;
* ``startup`` runs the generator's cheap probe once (``GET <base>/models``, nothing generated);
* ``check`` is what ``/readyz`` shows: the remembered state, with no call to the model. While a
  problem is remembered, at most once per ``llm_recheck_s`` a background thread re-verifies it
  (the generator's ``verify``: one tiny generation), so that a fixed configuration on the
  server side (a token re-enabled, a model deployed) makes the service ready again without a
  restart and without a call per probe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rag_core.telemetry import logs, metrics
from rag_core.types import JsonObject

log = logging.getLogger("rag_core.llm")
CODE = "LLM_MISCONFIGURED"


@dataclass(frozen=True)
class Problem:
    """One misconfiguration: a short bounded ``reason`` (a metric label) and a plain message."""

    reason: str  # unauthorized | forbidden | not_found | bad_url | no_token
    message: str


@dataclass
class _State:
    problem: Problem | None = None
    since: float | None = None
    checked_at: float | None = None
    checks: int = 0
    extra: JsonObject = field(default_factory=dict)


class LLMHealth:
    """The misconfiguration memory of one generator (see the module docstring).

    ``verify`` re-checks a remembered problem (returns the problem that is still there, or
    None); ``clock`` and ``background`` exist so that tests need not wait.
    """

    def __init__(self, name: str, recheck_s: float, *,
                 verify: Callable[[], Problem | None] | None = None,
                 clock: Callable[[], float] = time.time, background: bool = True) -> None:
        self.name = name
        self.recheck_s = recheck_s
        self._verify = verify
        self._clock = clock
        self._background = background
        self._lock = threading.Lock()
        self._state = _State()
        self._verifying = False

    @property
    def problem(self) -> Problem | None:
        return self._state.problem

    def report(self, problem: Problem) -> None:
        """A call met ``problem``: remember it, count it, log it if it is new."""
        metrics.LLM_MISCONFIGURED.labels(reason=problem.reason).inc()
        with self._lock:
            new = self._state.problem != problem
            if new:
                now = self._clock()
                self._state = _State(problem=problem, since=now, checked_at=now)
        if new:
            logs.log_event(log, logging.ERROR, "the language model is misconfigured",
                           code=CODE, reason=problem.reason, detail=problem.message,
                           generator=self.name)

    def clear(self) -> None:
        """A call succeeded: whatever was remembered is over."""
        if self._state.problem is None:
            return
        with self._lock:
            old, self._state = self._state.problem, _State()
        if old is not None:
            logs.log_event(log, logging.WARNING, "the language model answers again",
                           reason=old.reason, generator=self.name)

    def startup(self, probe: Callable[[], Problem | None] | None) -> Problem | None:
        """Run the generator's cheap probe once; remember what it finds."""
        if probe is None:
            return None
        problem = probe()
        if problem is not None:
            self.report(problem)
        return problem

    def check(self) -> JsonObject:
        """The ``llm`` check of ``/readyz``: ``ok``, and the code, reason and message of a
        remembered misconfiguration. Never calls the model itself."""
        state = self._state
        if state.problem is None:
            return {"ok": True}
        self._maybe_recheck(state)
        return {"ok": False, "code": CODE, "reason": state.problem.reason,
                "message": state.problem.message,
                "since": round(state.since or 0.0, 3), "rechecks": state.checks}

    # --- re-verification ----------------------------------------------------------------

    def _maybe_recheck(self, state: _State) -> None:
        if self._verify is None or state.checked_at is None:
            return
        if self._clock() - state.checked_at < self.recheck_s:
            return
        with self._lock:
            if self._verifying:
                return
            self._verifying = True
            self._state.checked_at = self._clock()
        if self._background:
            threading.Thread(target=self.recheck, name="llm-recheck", daemon=True).start()
        else:
            self.recheck()

    def recheck(self) -> None:
        """Verify the remembered problem once (the background thread runs this)."""
        verify = self._verify
        try:
            still = verify() if verify is not None else self._state.problem
        except Exception:  # the verification itself failed: keep what we know
            still = self._state.problem
            log.debug("llm recheck failed", exc_info=True)
        finally:
            with self._lock:
                self._verifying = False
                self._state.checks += 1
        if still is None:
            self.clear()
        else:
            self.report(still)
