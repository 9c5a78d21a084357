"""What the service did past its capacity during the spike's burst (issue 82), from the spike
run's per-request log (pure): did it answer what it could within the SLO and refuse the rest at
once (load shedding), or queue until every answer was late?

- ``sustained_rate``: the rate the machine sustains, measured in the same notebook run: the
  highest answered rate among the runs before the spike (the main run's steady part, the
  sweep's steps) whose p99 held within ``SUSTAINED_P99_MS`` (4 s, the issue's figure).
- ``shed_figures``: over the requests started in the burst (``loadtests.traffic.SPIKE_WINDOW``
  of the run), the rate offered over the sustained one (the spike's height, >= 5 wanted), the
  answered rate over the sustained one (what shedding keeps: near 1 when the service goes on
  answering at its capacity, near 0 when a queue makes every answer late), the shed share
  (refused with 503 ``OVERLOADED`` or 429, ``Retry-After``), the p99 of the admitted questions
  over their SLO (a miss within 5 s, a cached answer within 1 s: the higher of the two
  ratios), the admitted questions' goodput (the share within their SLO), the refusals' p99,
  client timeouts and 500s (status 0 and 5xx that are not documented refusals) and stale
  answers. Ratios and shares, since the load generator shares the machine's cores.
- ``whose_time``: where the burst's client-seen time went (the event lines' ``server_ms``,
  ``server_lag_ms``, ``server_queue_ms``, ``loadgen_lag_ms``: ``loadtests.lateness``): the
  admitted questions' p99 over their SLO counted from the service's edge (its own time, without
  the wait before it saw the request), the share of the client-seen time spent outside the
  service's app, the p99 of the service's and of the load generator's loop lag, and the p99 of
  the wait from the request's arrival at the service's machine to its app's edge (the kernel's
  accept queue and the worker's turn: ``rag_core.api.received``). The refusals' p99 is also
  given over the issue's 1 s (``spike_shed_p99_over_limit``), and as the service saw it
  (``spike_shed_server_p99_ms``: from its edge to the refusal).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import pandas as pd

from loadtests.traffic import ANSWERED, CACHE_HITS, DOCUMENTED, LIMITED, SPIKE_WINDOW

SUSTAINED_P99_MS = 4_000.0
SLO_MISS_MS = 5_000.0
SLO_CACHED_MS = 1_000.0
SHED_LIMIT_MS = 1_000.0  # a refusal at the latest when the fair queue's wait ends (issue 82)


def sustained_rate(runs: Iterable[tuple[float | None, float | None]],
                   p99_ms: float = SUSTAINED_P99_MS) -> float | None:
    """The highest rate among ``runs`` ((answered rate, p99 ms) each) whose p99 held within
    ``p99_ms``; None when none did (or none was measured)."""
    held = [float(rps) for rps, p99 in runs
            if rps is not None and p99 is not None and not math.isnan(float(p99))
            and float(p99) <= p99_ms and float(rps) > 0]
    return round(max(held), 3) if held else None


def _p99(values: npt.NDArray[np.float64]) -> float | None:
    return round(float(np.percentile(values, 99)), 1) if len(values) else None


def _ratio(value: float | None, of: float | None) -> float | None:
    return None if value is None or not of else round(value / of, 4)


def shed_figures(events: pd.DataFrame, duration_s: float, origin: float,
                 sustained_rps: float | None, *, slo_miss_ms: float = SLO_MISS_MS,
                 slo_cached_ms: float = SLO_CACHED_MS) -> dict[str, float | int | None]:
    """``events``: the spike run's rows (``t`` start in epoch seconds, ``ms``, ``outcome``,
    ``status``, ``stale``); ``origin``: the run's start; ``duration_s``: its length. Keys
    ``spike_*`` (the notebook records them beside the spike's other figures)."""
    start, end = (origin + duration_s * share for share in SPIKE_WINDOW)
    burst = events[(events["t"] >= start) & (events["t"] < end)]
    seconds = end - start
    outcome = burst["outcome"].astype(str)
    ms = burst["ms"].to_numpy(float)
    admitted = outcome.isin(ANSWERED).to_numpy()
    cached = outcome.isin(CACHE_HITS).to_numpy()
    shed = outcome.isin(LIMITED).to_numpy()
    status = burst["status"].to_numpy(int)
    documented = outcome.isin(DOCUMENTED).to_numpy()
    miss_p99, cached_p99 = _p99(ms[admitted & ~cached]), _p99(ms[admitted & cached])
    over = _over(miss_p99, cached_p99, slo_miss_ms, slo_cached_ms)
    within = np.where(cached, ms <= slo_cached_ms, ms <= slo_miss_ms)[admitted]
    n = len(burst)
    return {
        "spike_burst_requests": n,
        "spike_offered_rps": round(n / seconds, 3) if seconds > 0 else None,
        "spike_sustained_rps": sustained_rps,
        "spike_over_sustained": _ratio(n / seconds if seconds > 0 else None, sustained_rps),
        "spike_answered_over_sustained": _ratio(
            int(admitted.sum()) / seconds if seconds > 0 else None, sustained_rps),
        "spike_shed_share": round(float(shed.mean()), 4) if n else None,
        "spike_admitted_miss_p99_ms": miss_p99,
        "spike_admitted_cached_p99_ms": cached_p99,
        "spike_admitted_p99_over_slo": over,
        "spike_admitted_goodput": round(float(within.mean()), 4) if len(within) else None,
        "spike_shed_p99_ms": _p99(ms[shed]),
        "spike_shed_p99_over_limit": _ratio(_p99(ms[shed]), SHED_LIMIT_MS),
        "spike_timeouts": int((status == 0).sum()),
        "spike_http_5xx": int(((status >= 500) & ~shed & ~documented).sum()),
        "spike_stale": int(burst["stale"].fillna(False).astype(bool).sum())
        if "stale" in burst.columns else 0,
        **whose_time(burst, admitted, cached, slo_miss_ms, slo_cached_ms),
        "spike_shed_server_p99_ms": _p99(_known(_column(burst, "server_ms")[shed])),
    }


def _known(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return values[~np.isnan(values)]


def _over(miss_p99: float | None, cached_p99: float | None, slo_miss_ms: float,
          slo_cached_ms: float) -> float | None:
    """The higher of the admitted misses' and cached answers' p99 over their SLO."""
    over = [r for r in (_ratio(miss_p99, slo_miss_ms), _ratio(cached_p99, slo_cached_ms))
            if r is not None]
    return max(over) if over else None


def _column(rows: pd.DataFrame, name: str) -> npt.NDArray[np.float64]:
    if name not in rows.columns:
        return np.full(len(rows), np.nan)
    return pd.to_numeric(rows[name], errors="coerce").to_numpy(float)


def whose_time(burst: pd.DataFrame, admitted: npt.NDArray[np.bool_],
               cached: npt.NDArray[np.bool_], slo_miss_ms: float = SLO_MISS_MS,
               slo_cached_ms: float = SLO_CACHED_MS) -> dict[str, float | None]:
    """The burst's time by whose it was (module docstring); None where the lines lack it."""
    ms, server = burst["ms"].to_numpy(float), _column(burst, "server_ms")
    known = ~np.isnan(server)
    miss = _p99(server[admitted & ~cached & known])
    hit = _p99(server[admitted & cached & known])
    total = float(ms[known].sum())
    outside = float((ms[known] - server[known]).clip(min=0).sum())
    lag, gen = _column(burst, "server_lag_ms"), _column(burst, "loadgen_lag_ms")
    queue = _column(burst, "server_queue_ms")
    return {
        "spike_admitted_server_miss_p99_ms": miss,
        "spike_admitted_server_cached_p99_ms": hit,
        "spike_admitted_server_p99_over_slo": _over(miss, hit, slo_miss_ms, slo_cached_ms),
        "spike_outside_app_share": round(outside / total, 4) if total > 0 else None,
        "spike_server_lag_p99_ms": _p99(lag[~np.isnan(lag)]),
        "spike_loadgen_lag_p99_ms": _p99(gen[~np.isnan(gen)]),
        "spike_server_queue_p99_ms": _p99(queue[~np.isnan(queue)]),
    }


FIGURES = ("burst_requests", "offered_rps", "sustained_rps", "over_sustained",
           "answered_over_sustained", "shed_share", "admitted_miss_p99_ms",
           "admitted_cached_p99_ms", "admitted_p99_over_slo", "admitted_goodput", "shed_p99_ms",
           "shed_p99_over_limit", "timeouts", "http_5xx", "stale", "admitted_server_miss_p99_ms",
           "admitted_server_cached_p99_ms", "admitted_server_p99_over_slo",
           "outside_app_share", "server_lag_p99_ms", "loadgen_lag_p99_ms", "shed_server_p99_ms",
           "server_queue_p99_ms")


def skipped() -> dict[str, float | int | None]:
    """Every figure, null: no spike run (skipped, not failed)."""
    return {f"spike_{k}": None for k in FIGURES}


__all__ = ["FIGURES", "SHED_LIMIT_MS", "SLO_CACHED_MS", "SLO_MISS_MS", "SUSTAINED_P99_MS",
           "shed_figures", "skipped", "sustained_rate", "whose_time"]
