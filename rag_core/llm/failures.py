"""How a generator call failed: worth a retry (and a breaker failure) or not.

The generators raise these; ``rag_core.llm.resilience`` decides what to do with them.
"""

from __future__ import annotations

from rag_core.llm.health import Problem


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
