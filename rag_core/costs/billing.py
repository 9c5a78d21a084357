"""The bill of one generation: reserve before the model is called, settle exactly once after.

``Bill.open`` reserves the worst case (prompt tokens plus the whole output budget) with the
ledger, which refuses a request that would pass a budget. ``settle`` commits what the model
really did (its reported usage, else the tokens of the text that arrived) or, when it did
nothing, releases the reservation. A second ``settle`` changes nothing, so every way out of a
generation (answer, LLM failure, a client that hung up) can settle without double-charging.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rag_core import observability as obs
from rag_core.config import Money
from rag_core.costs.ledger import CostLedger, Reservation, price
from rag_core.llm.base import Prompt
from rag_core.tokens import TokenCounter
from rag_core.types import TokenUsage

FREE_GENERATORS = frozenset({"extractive"})  # nothing was paid for


@dataclass
class Bill:
    ledger: CostLedger
    money: Money  # the prices
    counter: TokenCounter
    reservation: Reservation
    prompt_tokens: int
    max_tokens: int
    free: bool
    cost: float = 0.0
    usage: TokenUsage = field(default_factory=TokenUsage)
    settled: bool = False

    @classmethod
    def open(cls, ledger: CostLedger, money: Money, counter: TokenCounter, *,
             generator: str, user_id: str, prompt: Prompt) -> Bill:
        """Reserve the worst case of ``prompt`` for ``user_id``; ``generator`` is the name of
        the generator that will answer (a free one reserves nothing)."""
        prompt_tokens = counter.count_messages(prompt.messages)
        free = generator in FREE_GENERATORS
        worst = TokenUsage(prompt_tokens, prompt.max_tokens)
        estimate = 0.0 if free else price(worst, money)
        reservation = ledger.reserve(user_id, estimate)
        return cls(ledger, money, counter, reservation, prompt_tokens, prompt.max_tokens, free)

    @property
    def state(self) -> str:
        """The budget state at reservation: ok, alert or tightened."""
        return self.reservation.state

    def settle(self, text: str, usage: TokenUsage | None = None, *,
               abandoned: bool = False) -> TokenUsage:
        """Commit the work done (``usage`` as the model reported it, else counted on ``text``)
        or release the reservation when nothing came back. ``abandoned``: the call timed out
        after the model got it, so it may have worked in vain: billed at the estimate.
        Returns the usage billed."""
        if self.settled:
            return self.usage
        self.settled = True
        if usage is None and not text:
            if not abandoned:
                self.ledger.release(self.reservation)
                return self.usage
            usage = TokenUsage(self.prompt_tokens, self.max_tokens)
        self.usage = usage or TokenUsage(self.prompt_tokens, self.counter.count(text))
        self.cost = 0.0 if self.free else price(self.usage, self.money)
        self.ledger.commit(self.reservation, self.cost, self.usage)
        obs.COST.inc(self.cost)
        obs.TOKENS.labels(kind="input").inc(self.usage.input_tokens)
        obs.TOKENS.labels(kind="output").inc(self.usage.output_tokens)
        return self.usage
