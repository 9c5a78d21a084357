"""A soak's resource record (``soak`` profile, notebook 04's ``soak_sample_s``): while Locust
runs, a thread samples every ``every_s`` each server process's resident memory (the app with
its uvicorn workers, the mock LLM, the embedded PostgreSQL's processes, Redis), Redis's
``used_memory`` and PostgreSQL's open connections; after the run, ``per_minute`` puts them
beside each minute's p99 (from the per-request log) and ``slopes`` fits a line through each
column: a leak shows as a positive slope (per minute).

A bounded structure filling toward its bound also climbs, and is no leak. So the gated slopes
(``figures``) are those of the settled half: the second half of the minutes after the warm-up.
The soak runs with a cache bound its new questions reach well inside the first half (the soak
profile's ``cache_max_entries``), and ``cache_entries`` (the live entries of the fullest Redis
cache layer) shows that they did: ``soak_cache_fill_at_half`` is that count at the first
settled minute over the bound. A run whose caches were still filling then cannot tell a fill
from a leak, and its fill gate fails.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from rag_core.redis_kv.client import RedisClient

MB = 1024 * 1024
COLUMNS = ("app_rss_mb", "mock_rss_mb", "postgres_rss_mb", "redis_rss_mb",
           "redis_used_memory_mb", "pg_connections", "cache_entries")
MIN_MINUTES = 3  # fewer minutes than this fit no slope
SETTLED_SHARE = 0.5  # the gated slopes: the last half of the minutes after the warm-up
# the Redis layers a new question writes to (the context layer lives in each app process)
REDIS_LAYERS = ("query", "embedding", "semantic", "stale")


def _rss(pids: Iterable[int], children: bool = True) -> float:
    import psutil

    total = 0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            procs = [proc, *(proc.children(recursive=True) if children else [])]
            total += sum(p.memory_info().rss for p in procs if p.is_running())
        except psutil.Error:
            continue
    return round(total / MB, 2)


def _server_pids(name: str, marks: Sequence[str]) -> list[int]:
    """The processes named ``name`` (postgres, redis-server) whose command line holds one of
    ``marks`` (PostgreSQL's data folder; Redis's port or socket): the server, whose children (the
    PostgreSQL backends) ``_rss`` adds."""
    import psutil

    found = []
    marks = [m for m in marks if m]
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            line = " ".join(proc.info["cmdline"] or [])
            if name in (proc.info["name"] or "") and any(m in line for m in marks):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


class ResourceSampler(threading.Thread):
    """Samples the stack's servers every ``every_s`` until ``done`` is set."""

    def __init__(self, app_pid: int, mock_pid: int, env: dict[str, str],
                 every_s: float = 60.0, *, database_url: str = "", redis_url: str = "") -> None:
        """``env``: the servers' (their state folder); the URLs: those of the state folder's
        embedded services when not given."""
        super().__init__(daemon=True, name="soak-sampler")
        self.app_pid, self.mock_pid, self.every_s = app_pid, mock_pid, every_s
        self.state_dir = env.get("RAG_STATE_DIR", "")
        self.urls = (database_url, redis_url)
        self.rows: list[dict[str, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        from rag_core import services
        from rag_core.config import Settings
        from rag_core.redis_kv.client import connect

        database_url, redis_url = self.urls
        if not (database_url and redis_url):
            ends = services.resolve(Settings(profile="ci", state_dir=Path(self.state_dir)))
            database_url = ends.services.database_url or ""
            redis_url = ends.services.redis_url or ""
        redis = connect(redis_url, timeout_s=5.0)
        where = urlsplit(redis_url)  # Redis' title names its port, or its socket (embedded)
        redis_port = where.path if where.scheme == "unix" else (
            f":{where.port}" if where.port else "")
        while not self.done.is_set():
            row = {"t": time.time(), "app_rss_mb": _rss([self.app_pid]),
                   "mock_rss_mb": _rss([self.mock_pid]),
                   "postgres_rss_mb": _rss(_server_pids("postgres", [self.state_dir])),
                   "redis_rss_mb": _rss(_server_pids("redis-server", [redis_port])),
                   "redis_used_memory_mb": float("nan"), "pg_connections": float("nan"),
                   "cache_entries": float("nan")}
            with suppress(Exception):  # a sample lost, not the run
                row["redis_used_memory_mb"] = round(int(redis.info("memory")["used_memory"])
                                                    / MB, 3)
            with suppress(Exception):
                row["cache_entries"] = float(cache_entries(redis))
            row["pg_connections"] = _pg_connections(database_url)
            self.rows.append(row)
            self.done.wait(self.every_s)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["t", *COLUMNS])


def cache_entries(redis: RedisClient, now: float | None = None) -> int:
    """The live entries (not yet expired) of the fullest Redis cache layer, from each layer's
    index (``RedisCache.size`` counts the same way)."""
    from rag_core.redis_kv.keys import layer_index

    since = f"({time.time() if now is None else now}"
    return max(int(redis.zcount(layer_index(layer), since, "+inf")) for layer in REDIS_LAYERS)


def _pg_connections(url: str) -> float:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as conn:
            row = conn.execute("SELECT count(*) FROM pg_stat_activity "
                               "WHERE backend_type = 'client backend'").fetchone()
        return float(row[0]) - 1 if row else float("nan")  # not this query's own
    except Exception:
        return float("nan")


def per_minute(samples: pd.DataFrame, events: pd.DataFrame, origin: float,
               warmup_s: float = 0.0) -> pd.DataFrame:
    """Per minute from ``origin``: the mean of each resource column and the p99 of the
    requests started in it (``events``: ``t`` epoch seconds, ``ms``). Minutes that start
    before ``origin + warmup_s`` are left out: the pools, caches and models fill then."""
    first = math.ceil(warmup_s / 60)
    samples = samples[samples["t"] >= origin + 60 * first]
    events = events[events["t"] >= origin + 60 * first] if len(events) else events
    frame = samples.assign(minute=((samples["t"] - origin) // 60).astype(int))
    out = frame.groupby("minute")[list(COLUMNS)].mean()
    if len(events):
        minutes = ((events["t"] - origin) // 60).astype(int)
        out["p99_ms"] = events.groupby(minutes)["ms"].quantile(0.99)
    return out.reset_index()


def slopes(minutes: pd.DataFrame) -> dict[str, float | None]:
    """The slope (per minute) of a line fitted through each column; None with fewer than
    ``MIN_MINUTES`` minutes that have a value."""
    out: dict[str, float | None] = {}
    for column in [*COLUMNS, "p99_ms"]:
        if column not in minutes:
            out[column] = None
            continue
        valid = minutes[["minute", column]].dropna()
        if len(valid) < MIN_MINUTES:
            out[column] = None
            continue
        slope = np.polyfit(valid["minute"].to_numpy(float), valid[column].to_numpy(float), 1)[0]
        out[column] = round(float(slope), 4)
    return out


def settled(minutes: pd.DataFrame, share: float = SETTLED_SHARE) -> pd.DataFrame:
    """The last ``share`` of the minutes of ``minutes`` (from ``per_minute``, after the
    warm-up): what remains once the bounded structures have filled."""
    if minutes.empty:
        return minutes
    first, last = int(minutes["minute"].min()), int(minutes["minute"].max())
    start = last + 1 - math.ceil((last - first + 1) * share)
    return minutes[minutes["minute"] >= start]


def figures(minutes: pd.DataFrame, cache_bound: int) -> dict[str, float | None]:
    """What the soak records (``load.soak_*``): per column the slope over the settled half
    (``soak_<column>_per_min``, the gated figure) and over every minute after the warm-up
    (``soak_<column>_per_min_whole_run``, shown, not gated); how many minutes there were and
    the first settled one; and ``soak_cache_fill_at_half``, the fullest Redis layer's entries
    at the first settled minute over ``cache_bound`` (the settings' entries per layer)."""
    half = settled(minutes)
    out: dict[str, float | None] = {
        f"soak_{k}_per_min": v for k, v in slopes(half).items()}
    out.update({f"soak_{k}_per_min_whole_run": v for k, v in slopes(minutes).items()})
    out["soak_minutes"] = len(minutes)
    out["soak_settled_from_minute"] = float(half["minute"].min()) if len(half) else None
    fill = None
    if len(half) and "cache_entries" in half and cache_bound > 0:
        first = half.dropna(subset=["cache_entries"])
        if len(first):
            fill = round(float(first["cache_entries"].iloc[0]) / cache_bound, 4)
    out["soak_cache_fill_at_half"] = fill
    return out


def minutes_markdown(minutes: pd.DataFrame) -> str:
    """The per-minute table as markdown (the notebook's report)."""
    columns = list(minutes.columns)
    rows = ["| " + " | ".join(columns) + " |", "| " + " | ".join("---" for _ in columns) + " |"]
    for _, row in minutes.iterrows():
        rows.append("| " + " | ".join(f"{row[c]:.2f}" if isinstance(row[c], float) else
                                      str(row[c]) for c in columns) + " |")
    return "\n".join(rows)
