"""The lying-provider figures of the chaos run (``evals.load.lying``), on made-up ledgers and
per-request logs: a run whose ledger matches the answers and the mocks' counts, and runs where
a user's spend went negative, a user was over-billed, or an answer was billed at the lie."""

from __future__ import annotations

import pandas as pd
import pytest

from evals.load.lying import LIES, Prices, lie, lying_figures


def events(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "outcome", "cost_usd", "usage_source"])


def test_a_ledger_that_matches_the_counted_tokens_has_no_error() -> None:
    log = events([("amara", "miss", 0.002, "counted"), ("amara", "hit", 0.0, "counted"),
                  ("ben", "miss", 0.001, "counted"), ("ben", "degraded", 0.0, "counted")])
    out = lying_figures({"amara": 0.5}, {"amara": 0.502, "ben": 0.001}, log, 0.003)
    assert out == {"lying_users_below_zero": 0, "lying_user_spend_error_usd": 0.0,
                   "lying_spend_usd": 0.003, "lying_counted_usd": 0.003,
                   "lying_spend_error_usd": 0.0, "lying_provider_answers": 0}


def test_a_negative_spend_a_lie_believed_and_an_over_bill_are_each_seen() -> None:
    log = events([("amara", "miss", -5.0, "provider"), ("ben", "miss", 0.001, "counted")])
    out = lying_figures({}, {"amara": -5.0, "ben": 800_000.0}, log, 0.003)
    assert out["lying_users_below_zero"] == 1
    assert out["lying_provider_answers"] == 1
    assert out["lying_user_spend_error_usd"] == pytest.approx(800_000.0 - 0.001)
    assert out["lying_spend_error_usd"] == pytest.approx(800_000.0 - 5.0 - 0.003)


def test_the_scenarios_and_the_prices() -> None:
    assert lie("negative") == {"usage_prompt_tokens": -10_000_000,
                               "usage_completion_tokens": -5_000_000}
    assert lie("missing") == {"send_usage": False} and set(LIES) == {"negative", "missing",
                                                                      "absurd"}
    with pytest.raises(ValueError, match="unknown lying_usage"):
        lie("honest-ish")
    assert Prices(1e-6, 2e-6).cost({"prompt_tokens": 1000, "completion_tokens": 100}) == \
        pytest.approx(1.2e-3)
