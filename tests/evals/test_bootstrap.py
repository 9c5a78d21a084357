"""Seeded bootstrap intervals and the per-answer cost columns (the service's bill)."""

import numpy as np
import pandas as pd

from evals.metrics import bootstrap
from evals.quality.answer_figures import usage_columns
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.types import TokenUsage


def test_intervals_are_seeded_hold_the_mean_and_narrow_with_more_questions():
    rng = np.random.default_rng(1)
    small = rng.binomial(1, 0.8, size=40).astype(float)
    large = rng.binomial(1, 0.8, size=400).astype(float)
    lo, hi = bootstrap.interval(small, seed=7)
    assert (lo, hi) == bootstrap.interval(small, seed=7)
    assert lo < small.mean() < hi
    lo2, hi2 = bootstrap.interval(large, seed=7)
    assert hi2 - lo2 < (hi - lo) * 0.6
    assert bootstrap.interval([np.nan]) == (None, None)
    assert bootstrap.interval([0.5, 0.5]) == (0.5, 0.5)


def test_metrics_read_the_chosen_split_only():
    frame = pd.DataFrame({"split": ["test"] * 3 + ["dev"] * 3,
                          "context_recall": [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]})
    test = bootstrap.metrics(frame, "test")
    dev = bootstrap.metrics(frame, "dev")
    assert test["context_recall_ci_low"] == 1.0 and dev["context_recall_ci_high"] == 0.0


def test_cost_columns_are_the_services_bill(tmp_path):
    """The row's dollars are what ``Bill`` charged (the Settings price table for a paid
    generator, $0 for the extractive one), read from the answer, not priced again."""
    from rag_core.answer import Answer
    from rag_core.costs.billing import Bill
    from rag_core.costs.ledger import ledger_for, price
    from rag_core.llm.base import Prompt
    from rag_core.tokens import default_counter

    settings = Settings(price_input_per_token_usd=1e-6, price_output_per_token_usd=2e-6,
                        llm="hf", state_dir=tmp_path)
    ledger = ledger_for(None, settings)
    usage = TokenUsage(input_tokens=60, output_tokens=100)  # within the bill's ceiling
    prompt = Prompt(messages=[{"role": "user", "content": "q"}], question="q")
    for generator, dollars in (("hf", price(usage, settings.money)), ("extractive", 0.0)):
        bill = Bill.open(ledger, settings.money, default_counter(), generator=generator,
                         user_id="amara", prompt=prompt)
        bill.settle("an answer", usage)
        answer = Answer(answer="an answer", citations=[], no_context=False,
                        generator=generator, cache={}, usage=usage, cost_usd=bill.cost,
                        timings_ms={}, request_id="r")
        row = usage_columns(answer)
        assert row == {"tokens_in": 60.0, "tokens_out": 100.0, "cost_usd": dollars}
    assert reporting.spend(ledger, "amara") == price(usage, settings.money)  # the paid one only
