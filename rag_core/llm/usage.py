"""A provider's reported usage, checked at the edge of the model client before it is billed.

A provider's ``usage`` is data from outside: a buggy proxy, a compromised second provider or a
self-hosted model with a broken token counter can report anything. What the service bills is
its own business, so every provider's figures (the first's, the second's, any later one's) pass
:func:`checked_usage` before they reach the bill:

- both counts present (``missing``), integers (``not_integer``) and not negative (``negative``);
- output tokens at most the request's ``max_tokens`` plus ``fixed.USAGE_OUTPUT_SLACK_TOKENS``
  (``output_over_max``): a provider may count the stop token;
- input tokens within ``fixed.USAGE_INPUT_RATIO`` of the service's own count of the prompt,
  plus ``fixed.USAGE_INPUT_SLACK_TOKENS`` either way (``input_mismatch``): its tokenizer and
  chat template differ from ours, never by orders of magnitude.

A usage that fails is replaced by the service's own count (the prompt as counted, the output
counted from the text received) and flagged ``counted`` (else ``provider``); the rejection is
counted in ``llm_usage_rejected_total{provider,reason}`` beside ``llm_usage_checked_total
{provider}`` (the alert's share) and logged once per provider and reason in a process.
:func:`ceiling` is the most one request may be billed: the bill (``costs.billing``) never
settles past it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from rag_core.config import fixed
from rag_core.telemetry import logs, metrics
from rag_core.types import TokenUsage

log = logging.getLogger("rag_core.llm.usage")

PROVIDER = "provider"  # the provider's own figures were billed
COUNTED = "counted"  # the service's count was billed (the provider's failed, or it sent none)
REASONS = ("missing", "not_integer", "negative", "output_over_max", "input_mismatch",
           "over_reservation")

_logged: set[tuple[str, str]] = set()
_lock = threading.Lock()


@dataclass(frozen=True)
class Bounds:
    """What a provider may report for one request."""

    input_low: int
    input_high: int
    output_high: int


def bounds(prompt_tokens: int, max_tokens: int) -> Bounds:
    """The tolerances around our count of the prompt (``prompt_tokens``) and ``max_tokens``."""
    prompt_tokens, max_tokens = max(0, prompt_tokens), max(0, max_tokens)
    ratio, slack = fixed.USAGE_INPUT_RATIO, fixed.USAGE_INPUT_SLACK_TOKENS
    return Bounds(input_low=max(0, int(prompt_tokens / ratio) - slack),
                  input_high=int(prompt_tokens * ratio) + slack,
                  output_high=max_tokens + fixed.USAGE_OUTPUT_SLACK_TOKENS)


def ceiling(prompt_tokens: int, max_tokens: int) -> TokenUsage:
    """The largest usage one request may be billed at (the reservation with its tolerance)."""
    b = bounds(prompt_tokens, max_tokens)
    return TokenUsage(b.input_high, b.output_high)


def _integer(value: object) -> int | None:
    """``value`` as an int when it is one (a float without a fraction counts); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def judge(reported_in: object, reported_out: object, prompt_tokens: int,
          max_tokens: int) -> str | None:
    """Why a reported usage cannot be billed (a reason of :data:`REASONS`), or None."""
    if reported_in is None or reported_out is None:
        return "missing"
    n_in, n_out = _integer(reported_in), _integer(reported_out)
    if n_in is None or n_out is None:
        return "not_integer"
    if n_in < 0 or n_out < 0:
        return "negative"
    b = bounds(prompt_tokens, max_tokens)
    if n_out > b.output_high:
        return "output_over_max"
    if not b.input_low <= n_in <= b.input_high:
        return "input_mismatch"
    return None


def rejected(provider: str, reason: str, **fields: object) -> None:
    """Count a rejected usage; log it the first time this provider fails for this reason."""
    metrics.USAGE_REJECTED.labels(provider=provider, reason=reason).inc()
    with _lock:
        first = (provider, reason) not in _logged
        _logged.add((provider, reason))
    if first:
        logs.log_event(log, logging.WARNING, "provider usage rejected; billed at the service's "
                       "own count", provider=provider, reason=reason, **fields)


def checked_usage(provider: str, reported: object, *, prompt_tokens: int, max_tokens: int,
                  output_tokens: Callable[[], int]) -> tuple[TokenUsage, str]:
    """The usage to bill and its source (:data:`PROVIDER` or :data:`COUNTED`).

    ``reported``: the provider's usage object or mapping (``prompt_tokens``,
    ``completion_tokens``), None when it sent none; ``prompt_tokens``: our count of the prompt;
    ``output_tokens``: our count of the text received (called only when needed)."""
    def field(name: str) -> object:
        if isinstance(reported, dict):
            return reported.get(name)
        return getattr(reported, name, None)

    metrics.USAGE_CHECKED.labels(provider=provider).inc()
    got_in, got_out = (None, None) if reported is None else (field("prompt_tokens"),
                                                             field("completion_tokens"))
    reason = judge(got_in, got_out, prompt_tokens, max_tokens)
    if reason is None:
        return TokenUsage(_integer(got_in) or 0, _integer(got_out) or 0), PROVIDER
    rejected(provider, reason, reported_input=_shown(got_in), reported_output=_shown(got_out),
             counted_input=prompt_tokens, max_tokens=max_tokens)
    return TokenUsage(max(0, prompt_tokens), max(0, output_tokens())), COUNTED


def _shown(value: object) -> int | float | str | None:
    """A reported figure for a log line (a number as is, anything else as a short repr)."""
    return value if isinstance(value, int | float) or value is None else repr(value)[:40]


def forget_logged() -> None:
    """Log the next rejection of each provider and reason again (tests)."""
    with _lock:
        _logged.clear()
