"""The request limits a load run's app runs under (rag_core/limits), stated with its figures.

A load test measures throughput and latency, not the limits: its app runs with every limit off
(0) unless the run's ``settings`` set one (``RAG_RATE_LIMIT_PER_MINUTE`` ... as any other
setting, through ``LoadConfig.extra_env``). Whatever the profile of the machine, the values are
written into the app's environment, so the run's summary can say which limits it ran under
(``stated``), and refusals by a limit are counted as ``limited``, not as errors
(``loadtests.traffic``).
"""

from __future__ import annotations

from collections.abc import Mapping

# the Settings fields of the request limits (RAG_<FIELD>), each 0 (off) in a load run
LIMIT_FIELDS = ("rate_limit_per_minute", "rate_limit_per_hour", "rate_limit_per_day",
                "max_concurrent_queries", "max_queries_per_hour", "user_max_in_flight")


def env_name(field: str) -> str:
    return f"RAG_{field.upper()}"


def off_env() -> dict[str, str]:
    """Every request limit off, as the app's environment variables."""
    return {env_name(field): "0" for field in LIMIT_FIELDS}


def stated(env: Mapping[str, str]) -> dict[str, object]:
    """The limits of an app environment built as ``off_env`` then the run's own variables:
    ``limit_<field>`` for each (0: off), and ``limit_rate_tiers`` when tiers are set."""
    merged = {**off_env(), **{k: v for k, v in env.items() if k.startswith("RAG_")}}
    out: dict[str, object] = {f"limit_{f}": int(merged[env_name(f)]) for f in LIMIT_FIELDS}
    if merged.get("RAG_RATE_TIERS"):
        out["limit_rate_tiers"] = merged["RAG_RATE_TIERS"]
    return out


def describe(env: Mapping[str, str]) -> str:
    """One line for a report: the limits that were on, or that all were off."""
    on = {k.removeprefix("limit_"): v for k, v in stated(env).items() if v}
    if not on:
        return "request limits: all off (0)"
    return "request limits: " + ", ".join(f"{k}={v}" for k, v in on.items())
