"""A provider that lies about usage during a load or chaos run (``lying_usage``): the mock LLM
(and the second one, when there is one) reports negative, missing or absurd token counts for
the whole run, while it counts in its stats the tokens it really read and wrote. What the run
must show: the ledger's spend of every user never below zero, and the run's spend equal to what
the tokens the mocks counted cost at each provider's prices (the service billed its own count,
never the lie). Pure figures here (tested in ``tests/evals/test_lying_usage.py``); the run takes
the ledger's figures (``rag-core costs report``) before and after Locust.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

# what the mock reports in each scenario (its MockConfig fields); "" is an honest run
LIES: dict[str, dict[str, object]] = {
    "negative": {"usage_prompt_tokens": -10_000_000, "usage_completion_tokens": -5_000_000},
    "absurd": {"usage_prompt_tokens": 10**12, "usage_completion_tokens": 10**12},
    "missing": {"send_usage": False},
}
HONEST: dict[str, object] = {"usage_prompt_tokens": None, "usage_completion_tokens": None,
                             "send_usage": True}


def lie(name: str) -> dict[str, object]:
    """The mock config of a scenario (a clear error for an unknown one)."""
    if name not in LIES:
        raise ValueError(f"unknown lying_usage {name!r}; choose one of {', '.join(LIES)}")
    return dict(LIES[name])


@dataclass(frozen=True)
class Prices:
    input_per_token_usd: float
    output_per_token_usd: float

    def cost(self, stats: Mapping[str, object]) -> float:
        """What the tokens a mock counted (its ``/admin/stats``) cost at these prices."""
        return (float(str(stats.get("prompt_tokens") or 0)) * self.input_per_token_usd
                + float(str(stats.get("completion_tokens") or 0)) * self.output_per_token_usd)


def spend_by_user(env: Mapping[str, str]) -> dict[str, float]:
    """Today's spend of every user in the ledger of the stack whose environment is ``env``
    (``rag-core costs report``)."""
    out = subprocess.run([sys.executable, "-m", "rag_core", "costs", "report", "--top", "10000"],
                         env=dict(env), capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(out.stdout)
    return {str(row["user_id"]): float(row["cost_usd"]) for row in report["top"]}


def lying_figures(before: Mapping[str, float], after: Mapping[str, float],
                  events: pd.DataFrame, counted_usd: float) -> dict[str, float | int]:
    """The run's figures, from the ledger's spend per user before and after it, its
    per-request log (``events``: ``user``, ``cost_usd``, ``outcome``, ``usage_source``) and
    what the tokens the mocks counted cost (``counted_usd``).

    lying_users_below_zero: users whose spend is negative, or fell during the run.
    lying_user_spend_error_usd: the largest difference, over users, between what the ledger
    charged a user during the run and what that user's answers said they cost (to 1e-9 $).
    lying_spend_error_usd: the difference between the ledger's spend during the run (all
    users) and what the tokens the mocks counted cost (to 1e-9 $).
    lying_provider_answers: fresh answers billed at the provider's figures (each a lie that
    was believed: 0)."""
    users = set(before) | set(after) | {str(u) for u in events["user"].dropna()}
    deltas = {u: after.get(u, 0.0) - before.get(u, 0.0) for u in users}
    below = sum(1 for u in users if after.get(u, 0.0) < 0 or deltas[u] < -1e-12)
    answered = events.groupby(events["user"].astype(str))["cost_usd"].sum() \
        if len(events) else pd.Series(dtype=float)
    user_error = max((abs(deltas[u] - float(answered.get(u, 0.0))) for u in users), default=0.0)
    spent = sum(deltas.values())
    fresh = events[events["outcome"] == "miss"]
    return {"lying_users_below_zero": below,
            "lying_user_spend_error_usd": round(user_error, 9),
            "lying_spend_usd": round(spent, 9), "lying_counted_usd": round(counted_usd, 9),
            "lying_spend_error_usd": round(abs(spent - counted_usd), 9),
            "lying_provider_answers": int((fresh["usage_source"] == "provider").sum())}


def first_prices(env: Mapping[str, str]) -> Prices:
    """The first provider's prices in the app's environment (the Settings defaults unless its
    ``RAG_PRICE_*`` variables set them)."""
    from rag_core.config import Settings

    money = Settings().money
    return Prices(float(env.get("RAG_PRICE_INPUT_PER_TOKEN_USD",
                                money.price_input_per_token_usd)),
                  float(env.get("RAG_PRICE_OUTPUT_PER_TOKEN_USD",
                                money.price_output_per_token_usd)))


def start_lying(name: str, mocks: list[str], env: Mapping[str, str]) -> dict[str, float]:
    """Make every mock of ``mocks`` lie as scenario ``name`` says; returns the ledger's spend
    per user before the run."""
    from rag_core.devservers.mock_server import configure_mock

    config = lie(name)
    for url in mocks:
        configure_mock(url, **config)
    return spend_by_user(env)


def end_lying(before: Mapping[str, float], mocks: list[tuple[str, Prices]],
              env: Mapping[str, str], events: pd.DataFrame) -> dict[str, float | int]:
    """The mocks honest again; the run's figures (:func:`lying_figures`). ``mocks``: each
    mock's URL and its provider's prices."""
    from rag_core.devservers.mock_server import configure_mock, mock_stats

    counted = 0.0
    for url, prices in mocks:
        counted += prices.cost(mock_stats(url))
        configure_mock(url, **HONEST)
    return lying_figures(before, spend_by_user(env), events, counted)
