"""Who answered during an LLM outage (pure, from the per-request log): the share refused with
503 ``LLM_UNAVAILABLE``, the share refused with 503 ``OVERLOADED`` (a global request limit, a
different cause, counted apart), the share answered degraded (from the notes, without a model),
and, with a second provider configured, the share it served and whether it billed them at its
own prices. ``evals.load.metrics.chaos_summary`` adds these to its figures; tested in
``tests/evals/test_chaos_outage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

# the outcomes of a request that needed a model during the outage (not a cache hit, not a
# "nothing in your notes"): what the providers, the stale store and the degraded answer share
NEEDED_A_MODEL = ("miss", "stale", "degraded", "503 documented")


@dataclass(frozen=True)
class SecondProvider:
    """The second provider of a chaos run: its model id and its prices per token."""

    model: str
    price_input_per_token_usd: float
    price_output_per_token_usd: float

    def price(self, in_tokens: float, out_tokens: float) -> float:
        return (in_tokens * self.price_input_per_token_usd
                + out_tokens * self.price_output_per_token_usd)


def _share(count: int, n: int) -> float:
    return count / n if n else 0.0


def outage_figures(during: pd.DataFrame, *, llm_fallback: str = "extractive",
                   second: SecondProvider | None = None) -> dict[str, float | None]:
    """The figures of the requests started during the outage (``during``: rows of the
    per-request log).

    unavailable_503_share: refused with 503 ``LLM_UNAVAILABLE``. unavailable_share: the same,
    gated at 0 with ``RAG_LLM_FALLBACK=extractive``; None under ``none``, where those 503s are
    the expected answer. limited_share: refused by a request limit (429 ``RATE_LIMITED`` or 503
    ``OVERLOADED``; the run states its limits, all off unless it sets one). degraded_share:
    answered from the notes without a model. second_provider_share: of the requests that
    needed a model (``NEEDED_A_MODEL``), the share the second provider's model wrote (None
    without one). second_provider_price_error_usd: the largest difference between what one of
    its fresh answers cost and its tokens at the second provider's prices, to 1e-12 $ (None
    without one or without such an answer)."""
    n = len(during)
    outcome = during["outcome"]
    unavailable = _share(int((outcome == "503 documented").sum()), n)
    out: dict[str, float | None] = {
        "unavailable_503_share": unavailable,
        "unavailable_share": unavailable if llm_fallback == "extractive" else None,
        "limited_share": _share(int((outcome == "limited").sum()), n),
        "degraded_share": _share(int((outcome == "degraded").sum()), n),
        "second_provider_share": None,
        "second_provider_answers": 0,
        "second_provider_price_error_usd": None,
    }
    if second is None:
        return out
    needed = during[outcome.isin(NEEDED_A_MODEL)]
    by_second = needed[(needed["model"] == second.model) & (needed["outcome"] == "miss")]
    out["second_provider_answers"] = len(by_second)
    out["second_provider_share"] = _share(len(by_second), len(needed))
    if len(by_second):
        expected = second.price(by_second["in_tokens"].astype(float),
                                by_second["billed_out_tokens"].astype(float))
        # to a millionth of a microdollar: what float arithmetic leaves is no price
        out["second_provider_price_error_usd"] = round(float(
            (by_second["cost_usd"].astype(float) - expected).abs().max()), 12)
    return out
