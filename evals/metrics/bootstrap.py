"""Seeded bootstrap confidence intervals of per-question means.

The golden set is small (the card warns that its figures have wide intervals): a mean over 150
questions moves by several points when a few questions change. Each interval resamples the
questions with replacement (percentile method, ``n_boot`` resamples, a fixed seed), so two runs
on the same answers give the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

CI_METRICS = ("recall_at_5", "mrr", "context_recall", "context_precision", "rouge_l",
              "semantic_similarity", "context_tokens", "tokens_in", "tokens_out", "cost_usd")


def interval(values: Sequence[float] | pd.Series, *, n_boot: int = 2000, level: float = 0.95,
             seed: int = 7) -> tuple[float | None, float | None]:
    """(low, high) of the mean of ``values`` (NaN dropped); (None, None) when empty."""
    data = pd.to_numeric(pd.Series(values), errors="coerce").dropna().to_numpy(dtype=float)
    if data.size == 0:
        return None, None
    if data.size == 1 or np.all(data == data[0]):
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(n_boot, data.size))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def table(frame: pd.DataFrame, columns: Sequence[str] = CI_METRICS, *, seed: int = 7,
          n_boot: int = 2000) -> pd.DataFrame:
    """Rows = metrics; columns n, mean, ci_low, ci_high (95 %)."""
    rows: dict[str, dict[str, object]] = {}
    for column in columns:
        if column not in frame:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        low, high = interval(values, seed=seed, n_boot=n_boot)
        rows[column] = {"n": int(values.size),
                        "mean": float(values.mean()) if values.size else None,
                        "ci_low": low, "ci_high": high}
    return pd.DataFrame(rows).T


def metrics(frame: pd.DataFrame, split: str = "test", *, seed: int = 7) -> dict[str, object]:
    """``<metric>_ci_low`` / ``<metric>_ci_high`` of the rows of ``split`` (rows without a
    split count as test), for ``record``."""
    splits = frame["split"].fillna("test") if "split" in frame else None
    rows = frame if splits is None else frame[splits == split]
    out: dict[str, object] = {}
    for name, row in table(rows, seed=seed).iterrows():
        out[f"{name}_ci_low"] = row["ci_low"]
        out[f"{name}_ci_high"] = row["ci_high"]
    return out
