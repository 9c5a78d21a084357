"""The arithmetic of the cache replay: who answered each request, hit rates per layer, rates
over time and per request kind, and the monthly LLM cost projection. Pure functions of the
replay's rows (``evals.cache.replay`` produces them), tested alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pandas as pd

from evals.jsonish import number
from rag_core.config import Settings

SCALES = (100, 1_000, 10_000)
DAYS_PER_MONTH = 30
OUTCOMES = ("l1", "semantic", "llm", "no_context")


def classify(cache: Mapping[str, str], generator: str) -> str:
    """Which part answered a request: ``l1``, ``semantic``, ``llm`` or ``no_context``
    (no-context answers and guard refusals: no LLM call). A "nothing in your notes" answer
    that L1 remembered (its generator is ``none``) stays ``no_context``: it saved no LLM call,
    so counting it as a hit would inflate the saving."""
    if generator in ("", "none"):
        return "no_context"
    if cache.get("query") == "hit":
        return "l1"
    if cache.get("query") == "semantic_hit" or cache.get("semantic") == "semantic_hit":
        return "semantic"
    return "llm"


def _share(num: float, den: float) -> float | None:
    return num / den if den else None


def layer_rates(rows: pd.DataFrame) -> dict[str, float | None]:
    """Hit rates per layer and LLM calls of a replay (one row per event, ``outcome`` column).

    ``hit_rate`` is the share of requests answered from a cache (L1 or semantic), i.e. without
    an LLM call that would otherwise have been made; no-context answers are neither. L2
    (embeddings) and L3 (retrieved context) rates are per lookup: a request answered by L1
    never reaches them.
    """
    req = rows[rows["outcome"] != "edit"] if "outcome" in rows else rows
    n = len(req)
    counts = {o: int((req["outcome"] == o).sum()) for o in OUTCOMES} if n else \
        dict.fromkeys(OUTCOMES, 0)
    hits = counts["l1"] + counts["semantic"]

    def per_lookup(column: str) -> float | None:
        if column not in req:
            return None
        looked = req[column].isin(["hit", "miss"])
        return _share(float((req.loc[looked, column] == "hit").sum()), float(looked.sum()))

    return {
        "requests": n,
        "hit_rate": _share(hits, n),
        "l1_hit_rate": _share(counts["l1"], n),
        "semantic_hit_rate": _share(counts["semantic"], n),
        "semantic_share_of_l1_misses": _share(counts["semantic"], n - counts["l1"]),
        "l2_hit_rate": per_lookup("embedding"),
        "l3_hit_rate": per_lookup("context"),
        "no_context_rate": _share(counts["no_context"], n),
        "llm_calls": counts["llm"],
        "llm_calls_without_cache": counts["llm"] + hits,
        "llm_calls_saved": hits,
        "edits": int((rows["outcome"] == "edit").sum()) if "outcome" in rows else 0,
    }


def rates_over_time(rows: pd.DataFrame, bucket_s: float) -> pd.DataFrame:
    """Share of requests per outcome in each time bucket of ``bucket_s`` simulated seconds."""
    req = rows[rows["outcome"] != "edit"]
    if req.empty:
        return pd.DataFrame(columns=["bucket_start_h", "requests", *OUTCOMES])
    bucket = (req["t"] // bucket_s).astype(int)
    table = pd.crosstab(bucket, req["outcome"]).reindex(columns=list(OUTCOMES), fill_value=0)
    total = table.sum(axis=1)
    out = table.div(total, axis=0)
    out.insert(0, "requests", total)
    out.insert(0, "bucket_start_h", out.index * bucket_s / 3600)
    return out.reset_index(drop=True)


def outcome_by_kind(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows = request kinds (repeat, paraphrase, novel), columns = share per outcome."""
    req = rows[rows["outcome"] != "edit"]
    table = pd.crosstab(req["kind"], req["outcome"], normalize="index")
    table = table.reindex(columns=list(OUTCOMES), fill_value=0.0)
    table.insert(0, "requests", req["kind"].value_counts())
    return table


def mean_tokens(rows: pd.DataFrame) -> tuple[float, float]:
    """Mean input and output tokens of the answers that were generated."""
    gen = rows[rows["outcome"] == "llm"]
    if gen.empty:
        return 0.0, 0.0
    return float(gen["input_tokens"].mean()), float(gen["output_tokens"].mean())


def cost_per_call(input_tokens: float, output_tokens: float, settings: Settings) -> float:
    """Dollars of one generation with these token counts, from the Settings price table."""
    from rag_core.costs.ledger import price
    from rag_core.types import TokenUsage

    return price(TokenUsage(input_tokens, output_tokens),  # type: ignore[arg-type]
                 settings.money)


def billed_per_call(generator: str, call_cost_usd: float) -> float:
    """What the service bills for one model call of ``generator``, and counts as saved when a
    cache serves that answer again (``rag_core.costs.billing.Bill``,
    ``rag_core.answers.log.saved_price``): nothing for a free generator (``FREE_GENERATORS``:
    the offline extractive one) or for no generator, else the call at the price table
    (``call_cost_usd``)."""
    from rag_core.costs.billing import FREE_GENERATORS

    return 0.0 if generator in FREE_GENERATORS or generator in ("", "none") else call_cost_usd


def spent_and_saved(rows: pd.DataFrame, call_cost_usd: float) -> pd.DataFrame:
    """The replay's dollars per layer: spent on its LLM calls and saved by each cache layer
    (every hit replaced one model call); no-context answers neither spend nor save.

    ``billed_usd`` is what the service counts in production (``api_cost_total_dollars``,
    ``cache_saved_dollars_total{layer}``): each call and hit at ``billed_per_call`` of the
    generator that made the answer (``generator`` column), so $0 for the free extractive
    generator. ``priced_usd`` prices every call and hit at ``call_cost_usd`` (the mean
    generated answer's tokens at the price table: the projection's price, as if a priced
    model had answered). For a priced generator the two agree."""
    req = rows[rows["outcome"] != "edit"] if "outcome" in rows else rows
    table = [("spent", "llm", "llm"), ("saved", "query", "l1"), ("saved", "semantic", "semantic")]
    out = []
    for what, layer, outcome in table:
        made_by = req.loc[req["outcome"] == outcome, "generator"] if len(req) else []
        out.append({"dollars": what, "layer": layer, "requests": len(made_by),
                    "billed_usd": sum(billed_per_call(str(g), call_cost_usd) for g in made_by),
                    "priced_usd": len(made_by) * call_cost_usd})
    return pd.DataFrame(out)


def project_costs(rates: Mapping[str, float | None], call_cost_usd: float,
                  scales: Iterable[int] = SCALES, requests_per_user_per_day: float = 10,
                  days: int = DAYS_PER_MONTH) -> pd.DataFrame:
    """Monthly LLM cost per scale with and without caches.

    Per request, ``llm_calls / requests`` calls with caches and ``llm_calls_without_cache /
    requests`` without, each at ``call_cost_usd`` (the mean generated answer's price).
    """
    n = number(rates["requests"])
    with_rate = number(rates["llm_calls"]) / n if n else 0.0
    without_rate = number(rates["llm_calls_without_cache"]) / n if n else 0.0
    rows = []
    for users in scales:
        requests = users * requests_per_user_per_day * days
        cost_with = requests * with_rate * call_cost_usd
        cost_without = requests * without_rate * call_cost_usd
        rows.append({
            "users": users,
            "requests_per_month": requests,
            "llm_calls_without_cache": requests * without_rate,
            "llm_calls_with_cache": requests * with_rate,
            "cost_without_cache_usd": cost_without,
            "cost_with_cache_usd": cost_with,
            "saved_usd": cost_without - cost_with,
        })
    return pd.DataFrame(rows)


def cost_reduction(costs: pd.DataFrame) -> float | None:
    """``1 - cost with caches / cost without`` (the same at every scale)."""
    without = float(costs["cost_without_cache_usd"].sum())
    return 1 - float(costs["cost_with_cache_usd"].sum()) / without if without else None


def costs_metrics(costs: pd.DataFrame) -> dict[str, dict[str, float]]:
    """``{"users_1000": {"with_cache_usd": ..., "without_cache_usd": ...}, ...}`` for record."""
    return {f"users_{int(r.users)}": {"with_cache_usd": float(r.cost_with_cache_usd),
                                      "without_cache_usd": float(r.cost_without_cache_usd)}
            for r in costs.itertuples()}


def to_metrics(rates: Mapping[str, float | None], costs: pd.DataFrame,
               semantic: Mapping[str, object], tokens: tuple[float, float], call_cost_usd: float,
               ceiling: float | None = None) -> dict[str, object]:
    """The metrics the notebook records (``cache.hit_rate``, ``cache.cost_reduction``, ...);
    ``semantic`` holds the semantic decision's figures on the labelled pairs (already named),
    ``ceiling`` the exact-match ceiling of the log (what an L1 with perfect memory would get)."""
    keep = ("requests", "hit_rate", "l1_hit_rate", "semantic_hit_rate",
            "semantic_share_of_l1_misses", "l2_hit_rate", "l3_hit_rate", "no_context_rate",
            "llm_calls", "llm_calls_without_cache", "llm_calls_saved", "edits")
    out: dict[str, object] = {
        **{k: rates[k] for k in keep},
        "cost_reduction": cost_reduction(costs),
        **dict(semantic),
        "mean_input_tokens": tokens[0],
        "mean_output_tokens": tokens[1],
        "cost_per_call_usd": call_cost_usd,
        "monthly_cost": costs_metrics(costs),
    }
    if ceiling is not None:
        out["exact_match_ceiling"] = ceiling
        hit = rates.get("hit_rate")
        out["hit_rate_over_ceiling"] = (hit - ceiling) if hit is not None else None
    return out


def with_main_point(swept: pd.DataFrame, rows: pd.DataFrame, users: Iterable[str],
                    query_ttl_s: float, semantic_threshold: float) -> pd.DataFrame:
    """The sweep table plus the main replay's point, measured on the sweep's users only."""
    keep = set(users)
    main = sweep_row(query_ttl_s, semantic_threshold, layer_rates(rows[rows["user"].isin(keep)]))
    table = pd.concat([pd.DataFrame([main]), swept], ignore_index=True)
    return table.sort_values(["semantic_threshold", "query_ttl_s"]).reset_index(drop=True)


def sweep_row(ttl_s: float, threshold: float, rates: Mapping[str, float | None]
              ) -> dict[str, object]:
    """The row of one sweep point (the main replay's row is made the same way). No L2 rate:
    embeddings are shared by all users, so it depends on how many users a replay has."""
    return {"query_ttl_s": ttl_s, "query_ttl_h": ttl_s / 3600, "semantic_threshold": threshold,
            **{k: rates[k] for k in ("requests", "hit_rate", "l1_hit_rate",
                                     "semantic_hit_rate", "llm_calls")}}


def sweep_points(ttls: Iterable[float], thresholds: Iterable[float], query_ttl_s: float,
                 semantic_threshold: float) -> list[dict[str, float]]:
    """TTL points at the chosen threshold, then threshold points at the chosen TTL (the
    chosen pair itself is left out: the main replay measured it)."""
    points = [{"query_ttl_s": float(t), "semantic_threshold": semantic_threshold}
              for t in ttls if float(t) != float(query_ttl_s)]
    points += [{"query_ttl_s": query_ttl_s, "semantic_threshold": float(s)}
               for s in thresholds if float(s) != float(semantic_threshold)]
    return points
