"""The bill of one generation: reserve before the model is called, settle exactly once after.

``Bill.open`` reserves the worst case (prompt tokens plus the whole output budget) with the
ledger, which refuses a request that would pass a budget. ``settle`` commits what the model
really did (its reported usage, checked at the model client: ``rag_core.llm.usage``; else the
tokens of the text that arrived) or, when it did nothing, releases the reservation. A second
``settle`` changes nothing, so every way out of a generation (answer, LLM failure, a client
that hung up) can settle without double-charging.

The reservation is the ceiling: a usage that is negative, or that would cost more than the
reservation's worst case with the checks' tolerance (``llm.usage.ceiling``), is billed as
counted instead, and never past that ceiling. ``settle`` never raises: a failure is logged and
counted (``cost_settle_failures_total``), the reservation released, the answer still returned.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass, field

from rag_core.config import Money
from rag_core.costs.ledger import CostLedger, Reservation, price
from rag_core.llm import usage as usage_check
from rag_core.llm.base import Prompt
from rag_core.llm.breaker_state import GAUGE_NAME
from rag_core.telemetry import logs, metrics
from rag_core.tokens import TokenCounter
from rag_core.types import TokenUsage

FREE_GENERATORS = frozenset({"extractive"})  # nothing was paid for
log = logging.getLogger("rag_core.costs.billing")


@dataclass
class Bill:
    ledger: CostLedger
    money: Money  # the prices
    counter: TokenCounter
    reservation: Reservation
    prompt_tokens: int
    max_tokens: int
    free: bool
    provider: str = GAUGE_NAME  # its name in llm_usage_rejected_total
    cost: float = 0.0
    usage: TokenUsage = field(default_factory=TokenUsage)
    usage_source: str = usage_check.COUNTED  # whose figures were billed
    settled: bool = False

    @classmethod
    def open(cls, ledger: CostLedger, money: Money, counter: TokenCounter, *,
             generator: str, user_id: str, prompt: Prompt, provider: str = GAUGE_NAME) -> Bill:
        """Reserve the worst case of ``prompt`` for ``user_id``; ``generator`` is the name of
        the generator that will answer (a free one reserves nothing), ``provider`` the
        provider's name in metrics."""
        prompt_tokens = counter.count_messages(prompt.messages)
        free = generator in FREE_GENERATORS
        worst = TokenUsage(prompt_tokens, prompt.max_tokens)
        estimate = 0.0 if free else price(worst, money)
        reservation = ledger.reserve(user_id, estimate)
        return cls(ledger, money, counter, reservation, prompt_tokens, prompt.max_tokens, free,
                   provider)

    @property
    def ceiling(self) -> float:
        """The most this bill may settle at: the reservation's worst case with the tolerance."""
        return price(usage_check.ceiling(self.prompt_tokens, self.max_tokens), self.money)

    @property
    def state(self) -> str:
        """The budget state at reservation: ok, alert or tightened."""
        return self.reservation.state

    def settle(self, text: str, usage: TokenUsage | None = None, *,
               abandoned: bool = False, source: str = usage_check.PROVIDER) -> TokenUsage:
        """Commit the work done (``usage`` as the model client passed it, with its ``source``;
        else counted on ``text``) or release the reservation when nothing came back.
        ``abandoned``: the call timed out after the model got it, so it may have worked in
        vain: billed at the estimate. Returns the usage billed; never raises."""
        if self.settled:
            return self.usage
        self.settled = True
        committed = False
        try:
            if usage is None and not text:
                if not abandoned:
                    self.ledger.release(self.reservation)
                    return self.usage
                usage, source = TokenUsage(self.prompt_tokens, self.max_tokens), \
                    usage_check.COUNTED
            self.usage, self.usage_source = self._billable(text, usage, source)
            cost = 0.0 if self.free else price(self.usage, self.money)
            self.cost = max(0.0, min(cost, 0.0 if self.free else self.ceiling))
            committed = True
            self.ledger.commit(self.reservation, self.cost, self.usage)
        except Exception as exc:  # noqa: BLE001 - money bookkeeping never fails an answer
            metrics.SETTLE_FAILURES.inc()
            logs.log_event(log, logging.ERROR, "settling a bill failed; the answer goes on",
                           error=f"{type(exc).__name__}: {exc}"[:300], committed=committed)
            if not committed:
                with suppress(Exception):
                    self.ledger.release(self.reservation)
            return self.usage
        metrics.COST.inc(self.cost)
        metrics.TOKENS.labels(kind="input").inc(self.usage.input_tokens)
        metrics.TOKENS.labels(kind="output").inc(self.usage.output_tokens)
        return self.usage

    def _billable(self, text: str, usage: TokenUsage | None,
                  source: str) -> tuple[TokenUsage, str]:
        """``usage`` when it is whole, not negative and within the ceiling; else the tokens
        counted here (the prompt as reserved, the text received)."""
        if usage is None:
            return TokenUsage(self.prompt_tokens, self.counter.count(text)), usage_check.COUNTED
        n_in, n_out = usage.input_tokens, usage.output_tokens
        reason = None
        if not isinstance(n_in, int) or not isinstance(n_out, int):
            reason = "not_integer"
        elif n_in < 0 or n_out < 0:
            reason = "negative"
        elif not self.free and price(usage, self.money) > self.ceiling:
            reason = "over_reservation"
        if reason is None:
            return usage, source
        usage_check.rejected(self.provider, reason, reported_input=str(n_in)[:40],
                             reported_output=str(n_out)[:40])
        return TokenUsage(self.prompt_tokens, self.counter.count(text)), usage_check.COUNTED
