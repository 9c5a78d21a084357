"""How a generator call failed: worth a retry (and a breaker failure) or not.

The generators raise these; ``rag_core.llm.resilience`` decides what to do with them.
"""

from __future__ import annotations


class TransientLLMError(Exception):
    """Worth a retry: a timeout, a connection error, a 5xx or a 429."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class PermanentLLMError(Exception):
    """Not worth a retry: a 4xx other than 408/429, a refused request, a malformed answer."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
