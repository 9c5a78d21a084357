"""What a Locust run measured (pure): Locust's CSVs and the per-request log read into frames,
the load summary (throughput, percentiles, real errors against documented 503s, cache share,
cost), and the chaos arithmetic (what an LLM outage did to the users, and how the breaker
recovered). Tested in ``tests/evals/test_loadtest.py`` on small fixtures; ``evals.load.loadtest``
runs the processes that produce the input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import suppress
from pathlib import Path

import numpy as np
import pandas as pd

from evals.load.outage import SecondProvider, outage_figures
from loadtests import traffic

AGGREGATED = "Aggregated"
PERCENTILES = {"p50_ms": "50%", "p95_ms": "95%", "p99_ms": "99%"}
# the per-request log: every request, and a streamed answer's figures (loadtests/streaming.py)
EVENT_COLUMNS = ["t", "ms", "kind", "outcome", "status", "failure", "cost_usd", "stale",
                 "stream", "ttft_ms", "itl_ms", "chunks", "out_tokens", "tokens_per_s",
                 "model", "degraded", "in_tokens", "billed_out_tokens", "usage_source", "user",
                 "server_ms", "server_lag_ms", "server_queue_ms",
                 "loadgen_lag_ms"]  # loadtests.lateness
SETTLE_S = 3.0  # after opening: in-flight calls end their retries (see chaos_summary)
SLOW_MS = 1000.0  # a request after the breaker opened that took longer waited on the LLM

# --- reading Locust's output -----------------------------------------------------------------


def _read_csv(path: Path) -> pd.DataFrame:
    if not path.is_file():
        return pd.DataFrame()
    return pd.read_csv(path, na_values=["N/A"])


def read_stats(prefix: str | Path) -> pd.DataFrame:
    """``<prefix>_stats.csv``: one row per request name, plus the ``Aggregated`` row."""
    return _read_csv(Path(f"{prefix}_stats.csv"))


def read_history(prefix: str | Path) -> pd.DataFrame:
    """``<prefix>_stats_history.csv`` with ``t`` (seconds since the first row) added."""
    frame = _read_csv(Path(f"{prefix}_stats_history.csv"))
    if not frame.empty:
        frame["t"] = frame["Timestamp"] - frame["Timestamp"].min()
    return frame


def read_failures(prefix: str | Path) -> pd.DataFrame:
    return _read_csv(Path(f"{prefix}_failures.csv"))


def read_events(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The per-request JSON lines the locustfile wrote (``RAG_LOAD_EVENTS``), sorted by start."""
    rows: list[dict[str, object]] = []
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                with suppress(ValueError):  # a line cut by a killed process
                    rows.append(json.loads(line))
    frame = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    return frame.sort_values("t").reset_index(drop=True)


def after_warmup(events: pd.DataFrame, warmup_s: float,
                 origin: float | None = None) -> pd.DataFrame:
    """The requests started ``warmup_s`` or more after ``origin`` (default: the first
    request's start): what the timing figures are computed from, so that connection set-up,
    the users' ramp and cold caches of the first seconds do not count."""
    if events.empty:
        return events
    start = float(events["t"].min()) if origin is None else float(origin)
    return events[events["t"] >= start + float(warmup_s)]


def timing_figures(events: pd.DataFrame, window_s: float | None = None) -> dict[str, float]:
    """Throughput and latency percentiles of the given per-request rows (after the warm-up):
    ``rps`` over ``window_s`` (default: first to last start), p50/p95/p99/max of the whole
    request time, and the misses' tail over their median (``miss_p99_over_p50``, and the
    steadier ``miss_p95_over_p50``: with ~100 misses in a ci run the p99 is the second
    slowest miss, the p95 the sixth)."""
    out = {"rps": math.nan, **{k: math.nan for k in PERCENTILES}, "max_ms": math.nan,
           "miss_p99_over_p50": math.nan, "miss_p95_over_p50": math.nan}
    if events.empty:
        return out
    span = window_s if window_s is not None else float(events["t"].max() - events["t"].min())
    out["rps"] = _ratio(len(events), span)
    ms = events["ms"].to_numpy(dtype=float)
    for key, q in zip(PERCENTILES, (50, 95, 99), strict=True):
        out[key] = float(np.percentile(ms, q))
    out["max_ms"] = float(ms.max())
    misses = events[events["outcome"] == "miss"]["ms"].to_numpy(dtype=float)
    if len(misses):
        out["miss_p99_over_p50"] = _ratio(np.percentile(misses, 99), np.median(misses))
        out["miss_p95_over_p50"] = _ratio(np.percentile(misses, 95), np.median(misses))
    return out


def cold_start_s(events: pd.DataFrame, users: int) -> float:
    """Seconds from the first request's start until the first ``users`` requests (each user's
    first question, asked while the app may still load its models) have all been answered:
    how long a fresh app kept its first users waiting. NaN without requests."""
    if events.empty or users <= 0:
        return math.nan
    first = events.nsmallest(int(users), "t")
    return float((first["t"] + first["ms"] / 1000.0).max() - events["t"].min())


def closed_loop_share(steady: pd.DataFrame, window_s: float | None, users: int,
                      think_s: float) -> float:
    """Requests answered per second (not failed) over the rate the closed loop issues at the
    latency it measured: ``users / (think_s + mean request time)``, from the same requests.
    A slow machine lengthens the requests and so lowers both; what lowers only the first is
    the app not answering what the users asked: a request that never comes back (the users
    wait on it and it is not in the log), one that fails, or a load generator that falls
    behind its own think times."""
    if steady.empty or not window_s or users <= 0:
        return math.nan
    served = int(steady["failure"].isna().sum()) / float(window_s)
    issued = users / (float(think_s) + float(steady["ms"].mean()) / 1000.0)
    return _ratio(served, issued)


def steady_window(events: pd.DataFrame, warmup_s: float, users: int | None = None,
                  duration_s: float | None = None) -> tuple[float, float | None]:
    """Where the steady part of a closed-loop run starts (seconds after the first start) and
    how long it lasts (None: to the last start). It starts ``warmup_s`` in, or, when the first
    wave of questions is answered later than that (:func:`cold_start_s`: a fresh app's first
    answers wait for its models, the longer the busier the machine), once it is: while the
    first wave waits no user asks again, so counting those seconds would make the served rate
    measure the app's start-up, not the rate it serves. A first wave that takes more than half
    the run leaves no steady part to speak of: the window then starts at ``warmup_s``, and
    the seconds the users spent waiting count against the served rate (and its gates)."""
    start = float(warmup_s)
    if users:
        cold = cold_start_s(events, users)
        if not math.isnan(cold) and (not duration_s or cold <= float(duration_s) / 2):
            start = max(start, cold)
    length = float(duration_s) - start if duration_s else None
    return start, (length if length is None or length > 0 else None)


def outcome_table(stats: pd.DataFrame) -> pd.DataFrame:
    """Per outcome of ``/v1/query``: requests, share, failures and latency percentiles."""
    cols = ["outcome", "requests", "share", "failures", "median_ms", "p95_ms", "p99_ms",
            "max_ms"]
    if stats.empty:
        return pd.DataFrame(columns=cols)
    rows = stats[stats["Name"] != AGGREGATED].copy()
    rows["outcome"] = rows["Name"].map(traffic.outcome_of_name)
    rows = rows[rows["outcome"].notna()]
    total = rows["Request Count"].sum()
    out = pd.DataFrame({
        "outcome": rows["outcome"], "requests": rows["Request Count"],
        "share": rows["Request Count"] / total if total else np.nan,
        "failures": rows["Failure Count"], "median_ms": rows["Median Response Time"],
        "p95_ms": rows["95%"], "p99_ms": rows["99%"], "max_ms": rows["Max Response Time"]})
    return out.sort_values("requests", ascending=False).reset_index(drop=True)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def summarise_load(stats: pd.DataFrame, events: pd.DataFrame | None = None,
                   llm_latency_ms: float | None = None,
                   offered_rps: float | None = None, warmup_s: float | None = None,
                   duration_s: float | None = None, users: int | None = None) -> dict[str, float]:
    """The load metrics: throughput, latency percentiles (all requests, Locust's histogram),
    real error rate (documented 503s are successes of their own name), documented-503 rate,
    cache-hit share of the answers, dollars per 1,000 requests (from the answers' cost) and,
    given the mock LLM's latency, how far p99 sits above it (``p99_over_llm_ms``, and as a
    ratio ``p99_over_llm``).

    The gated ratios are measured so that a busy machine does not move them: both parts of
    each come from the same requests of the run's steady part. ``miss_p99_over_p50`` and
    ``miss_p95_over_p50``: the tail of the LLM-bound answers over their own median (queueing
    shows as a tail far above the typical miss). ``rps_share_of_closed_loop`` (given
    ``users``): the rate answered over the rate the users issue at the latency measured
    (:func:`closed_loop_share`). Recorded beside them, ``rps_share_of_offered``: the steady
    rate over the rate the users offer (users over their mean think time), which falls
    whenever requests take longer, on a slow machine as on a slow app.

    Given ``warmup_s`` and the per-request ``events``, the timing figures (p50/p95/p99, max,
    the misses' tail, p99 over the LLM's latency, the steady rate ``rps_after_warmup``) come
    from the requests started in the steady window (:func:`steady_window`: ``warmup_s`` in,
    or once the first ``users`` questions are answered if that is later; its start is
    ``steady_from_s``, the first wave's wait ``cold_start_s``); Locust's whole-run p99 is kept
    as ``p99_with_warmup_ms`` and its whole-run rate as ``rps`` (and
    ``rps_share_of_offered_whole_run``, which counts the app's start-up). The counts and
    rates (errors, documented 503s, cache hits, cost) stay over every request. Without
    events, ``rps_share_of_offered`` is Locust's whole-run rate over the offered one."""
    agg = stats[stats["Name"] == AGGREGATED]
    if agg.empty:
        raise ValueError("no Aggregated row: Locust recorded no request")
    row = agg.iloc[0]
    total = float(row["Request Count"])
    per = outcome_table(stats).set_index("outcome")["requests"]
    answered = float(per.reindex(list(traffic.ANSWERED)).fillna(0).sum())
    hits = float(per.reindex(list(traffic.CACHE_HITS)).fillna(0).sum())
    documented = float(per.reindex(list(traffic.DOCUMENTED)).fillna(0).sum())
    limited = float(per.reindex(list(traffic.LIMITED)).fillna(0).sum())
    out: dict[str, float] = {
        "requests": int(total),
        "rps": float(row["Requests/s"]),
        **{k: float(row[v]) for k, v in PERCENTILES.items()},
        "max_ms": float(row["Max Response Time"]),
        "error_rate": _ratio(row["Failure Count"], total),
        "documented_503_rate": _ratio(documented, total),
        "limited_rate": _ratio(limited, total),  # refused by a request limit (not errors)
        "cache_hit_share": _ratio(hits, answered),
        "stale_share": _ratio(per.get("stale", 0), total),
        "usd_per_1k_requests": math.nan,
    }
    misses = outcome_table(stats).set_index("outcome")
    if "miss" in misses.index:
        for key, col in (("miss_p99_over_p50", "p99_ms"), ("miss_p95_over_p50", "p95_ms")):
            out[key] = _ratio(misses.loc["miss", col], misses.loc["miss", "median_ms"])
    else:
        out["miss_p99_over_p50"] = out["miss_p95_over_p50"] = math.nan
    steady_rps = math.nan
    if warmup_s is not None and events is not None and len(events):
        start, window = steady_window(events, warmup_s, users, duration_s)
        steady = after_warmup(events, start)
        out["p99_with_warmup_ms"] = out["p99_ms"]
        timing = timing_figures(steady, window)
        steady_rps = out["rps_after_warmup"] = timing.pop("rps")
        out.update(timing)
        out["warmup_s"] = float(warmup_s)
        out["steady_from_s"] = start
        out["warmup_requests"] = int(len(events) - len(steady))
        if users:
            out["cold_start_s"] = cold_start_s(events, users)
            if offered_rps:
                out["rps_share_of_closed_loop"] = closed_loop_share(
                    steady, window, users, users / float(offered_rps))
    if llm_latency_ms is not None:
        out["p99_over_llm_ms"] = out["p99_ms"] - float(llm_latency_ms)
        out["p99_over_llm"] = _ratio(out["p99_ms"], float(llm_latency_ms))
    if offered_rps is not None:
        whole = _ratio(out["rps"], offered_rps)
        out["rps_share_of_offered_whole_run"] = whole
        out["rps_share_of_offered"] = whole if math.isnan(steady_rps) else \
            _ratio(steady_rps, offered_rps)
    if events is not None and len(events):
        out["usd_per_1k_requests"] = 1000.0 * float(events["cost_usd"].sum()) / len(events)
    return out


def history_timeline(history: pd.DataFrame) -> pd.DataFrame:
    """Per second of the run (Aggregated rows): users, RPS, failures/s, p50/p95 (Locust's
    current-window percentiles) and the documented-503 rate from the per-name rows."""
    cols = ["t", "users", "rps", "failures_s", "p50_ms", "p95_ms", "documented_s"]
    if history.empty:
        return pd.DataFrame(columns=cols)
    agg = history[history["Name"] == AGGREGATED]
    out = pd.DataFrame({"t": agg["t"], "users": agg["User Count"],
                        "rps": agg["Requests/s"], "failures_s": agg["Failures/s"],
                        "p50_ms": agg["50%"], "p95_ms": agg["95%"]})
    doc = history[history["Name"].isin([traffic.request_name(d) for d in traffic.DOCUMENTED])]
    doc_s = doc.groupby("t")["Requests/s"].sum()
    out["documented_s"] = out["t"].map(doc_s).fillna(0.0)
    return out.reset_index(drop=True)


def outcome_rates(events: pd.DataFrame, start: float | None = None,
                  bin_s: float = 1.0) -> pd.DataFrame:
    """Requests per second by outcome (rows: seconds since ``start``, columns: outcomes)."""
    if events.empty:
        return pd.DataFrame()
    origin = events["t"].min() if start is None else start
    binned = ((events["t"] - origin) // bin_s * bin_s).rename("t")
    table = events.groupby([binned, events["outcome"]]).size().unstack(fill_value=0)
    return table / bin_s


# --- chaos arithmetic -----------------------------------------------------------------------


def breaker_timeline(samples: Sequence[Sequence[object]]) -> pd.DataFrame:
    """``(epoch seconds, state[, LLM requests so far])`` samples (the state from ``/readyz``,
    the count from the mock's ``/admin/stats``) as a frame with a numeric level (0 closed,
    1 half-open, 2 open, NaN unknown) and ``llm_requests`` (NaN when not sampled)."""
    levels = {"closed": 0, "half-open": 1, "open": 2}
    rows = [(s[0], s[1], s[2] if len(s) > 2 else None) for s in samples]
    frame = pd.DataFrame(rows, columns=["t", "state", "llm_requests"]).astype(
        {"llm_requests": float})
    frame["level"] = frame["state"].map(levels)
    return frame


def chaos_summary(events: pd.DataFrame, breaker: pd.DataFrame, outage_start: float,
                  outage_end: float, reset_timeout_s: float | None = None,
                  settle_s: float = SETTLE_S, *, llm_fallback: str = "extractive",
                  second: SecondProvider | None = None) -> dict[str, float | None]:
    """What the outage did to the users.

    With them, who answered (``evals.load.outage.outage_figures``): the shares refused with 503
    ``LLM_UNAVAILABLE`` or ``OVERLOADED``, answered degraded, and served by the ``second``
    provider at its prices; ``llm_fallback``: the run's ``RAG_LLM_FALLBACK``.

    stale_share / refused_share / error_share: of the requests started during the outage, the
    share answered from the stale cache, refused with a documented 503, or failed otherwise.
    cached_share: the share answered from the (fresh) query or semantic cache.
    max_wait_after_open_ms / slow_after_open: the longest request, and the number slower than
    ``SLOW_MS``, among those started after the breaker first opened and before the outage
    ended. Refusals are immediate; what is slow there is the half-open probe (one per reset
    timeout), which does call the LLM and retries its 503s, and, on a saturated app, time
    spent queueing for a worker thread.
    llm_calls_while_open: requests the mock LLM received from ``settle_s`` after the first
    open sample to the end of the outage (from its counter); only the half-open probes and
    their retries should reach it. ``settle_s`` lets calls that started before the breaker
    opened finish their retries (two Retry-After waits of the mock's 1 s).
    recovery_s: from the end of the outage to the first ``closed`` sample of the breaker (0 if
    it never opened; null, with ``recovered`` false, if it did not close before the run ended).
    recovery_beyond_reset_s: recovery_s minus the breaker's reset timeout; the breaker may
    have re-opened just before the outage ended, so the bound is "reset timeout + one probe".
    recovery_over_reset: recovery_s over the reset timeout (the gated form: a ratio to the
    run's own timer, not a time).
    answers_flow_s: from the end of the outage to the first fresh LLM answer that started after
    it.
    """
    during = events[(events["t"] >= outage_start) & (events["t"] < outage_end)]
    n = len(during)
    out: dict[str, float] = {
        "outage_requests": n,
        "stale_share": _ratio(int(during["stale"].astype(bool).sum()), n),
        "refused_share": _ratio(int((during["outcome"].isin(traffic.DOCUMENTED)).sum()), n),
        "cached_share": _ratio(int((during["outcome"].isin(traffic.CACHE_HITS)).sum()), n),
        "error_share": _ratio(int(during["failure"].notna().sum()), n),
        "opened": False, "open_after_s": math.nan, "max_wait_after_open_ms": math.nan,
        "slow_after_open": 0, "llm_calls_while_open": 0.0,
        "recovered": True, "recovery_s": 0.0, "answers_flow_s": math.nan,
    }
    opened = breaker[(breaker["t"] >= outage_start) & (breaker["state"] == "open")]
    if not opened.empty:
        t_open = float(opened["t"].iloc[0])
        out["opened"] = True
        out["open_after_s"] = t_open - outage_start
        after = events[(events["t"] >= t_open) & (events["t"] < outage_end)]
        out["max_wait_after_open_ms"] = float(after["ms"].max()) if len(after) else math.nan
        out["slow_after_open"] = int((after["ms"] > SLOW_MS).sum())
        window = (breaker["t"] >= t_open + settle_s) & (breaker["t"] <= outage_end)
        calls = breaker[window]["llm_requests"]
        calls = calls.dropna()
        out["llm_calls_while_open"] = float(calls.max() - calls.min()) if len(calls) else math.nan
        later = breaker[breaker["t"] >= max(outage_end, t_open)]
        closed = later[later["state"] == "closed"]
        if closed.empty:
            out["recovered"], out["recovery_s"] = False, math.nan
        else:
            out["recovery_s"] = max(0.0, float(closed["t"].iloc[0]) - outage_end)
    if reset_timeout_s is not None:
        out["recovery_beyond_reset_s"] = out["recovery_s"] - float(reset_timeout_s)
        out["recovery_over_reset"] = _ratio(out["recovery_s"], float(reset_timeout_s))
    fresh = events[(events["t"] >= outage_end) & (events["outcome"] == "miss")]
    if len(fresh):
        done = fresh["t"] + fresh["ms"] / 1000.0
        out["answers_flow_s"] = float(done.min()) - outage_end
    return {**out, **outage_figures(during, llm_fallback=llm_fallback, second=second)}
