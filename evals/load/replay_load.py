"""The replay of a query log in notebook 04 (``shape="replay"``, or ``replay_log`` beside the
Locust run): on the load test's stack (app, mock LLM, embedded services), each speed after the
dataset users' answer caches are emptied, so every speed starts from the same cold caches and
its hit rate is the log's own mix. The figures are ``evals.replay``'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.load.limits import describe
from evals.load.loadtest import LoadRun, run_loads
from evals.load.stack import LoadConfig, Stack, clear_user_caches, running_stack
from evals.paths import REPO_ROOT
from evals.replay.logs import dataset_users
from evals.replay.report import ReplayReport, Slo
from evals.replay.run import Setup, highest_holding, replay_log
from rag_core.config import Settings


@dataclass
class ReplayLoad:
    log: str
    reports: list[ReplayReport] = field(default_factory=list)
    best_speed: float | None = None  # the highest speed with goodput >= target
    target: float = 0.99

    def figures(self) -> dict[str, object]:
        """The recorded figures: those of the first speed, and the sweep's best speed."""
        first = self.reports[0]
        by = {o.outcome: o for o in first.outcomes}
        return {
            "replay_goodput": first.goodput, "replay_hit_rate": first.hit_rate,
            "replay_p99_ms": first.p99_ms, "replay_offered_rps": first.offered_rps,
            "replay_answered_rps": first.answered_rps, "replay_requests": first.sent,
            "replay_peak_offered": first.peak_offered,
            "replay_answered_share": round(first.answered / first.sent, 4) if first.sent else 0.0,
            "replay_usd_per_1k": first.dollars_per_1000,
            "replay_send_lag_p99_ms": first.send_lag_p99_ms,
            "replay_hit_p99_ms": by["hit"].p99_ms if "hit" in by else None,
            "replay_miss_p99_ms": by["miss"].p99_ms if "miss" in by else None,
            "replay_limited": by["limited"].count if "limited" in by else 0,
            "replay_best_speed": self.best_speed,
        }


def resolve_log(log: str) -> Path:
    """A log path as given, else relative to the repository (the profiles name them so)."""
    path = Path(log)
    return path if path.is_file() or path.is_absolute() else REPO_ROOT / log


def replay_on_stack(stack: Stack, config: LoadConfig, log: str, speeds: Sequence[float],
                    out: Path, *, cold: bool = False, slo: Slo = Slo(),
                    target: float = 0.99) -> ReplayLoad:
    """Replay ``log`` at each of ``speeds`` against the running ``stack``."""
    from pydantic import SecretStr

    from rag_core.devservers.mock_server import configure_mock, reset_mock

    env = stack["env"]
    settings = Settings(jwt_secret=SecretStr(env["RAG_JWT_SECRET"]))
    users = dataset_users(config.dataset or None)
    state = Path(env["RAG_STATE_DIR"])
    setup = Setup(dataset=config.dataset or None, no_cache=cold, slo=slo,
                  limits=describe(env))
    path = resolve_log(log)
    done = ReplayLoad(str(log), target=target)
    for speed in speeds:
        configure_mock(stack["mock_url"], latency_ms=config.mock_latency_ms,
                       latency_jitter_ms=config.mock_jitter_ms, tokens_per_s=0.0)
        reset_mock(stack["mock_url"])
        clear_user_caches(state, users)
        run = replay_log(path, stack["app_url"], float(speed), out / f"replay_{speed:g}x",
                         setup, settings)
        done.reports.append(run.report)
    done.best_speed = highest_holding(done.reports, target)
    return done


def run_replay_load(config: LoadConfig, log: str, speeds: Sequence[float], *,
                    cold: bool = False, slo: Slo = Slo(), target: float = 0.99) -> ReplayLoad:
    """The stack of ``config`` up, the replays, the stack down (``shape="replay"``)."""
    out = Path(config.output_dir) if config.output_dir else REPO_ROOT / "reports" / "dev" / \
        config.label
    out.mkdir(parents=True, exist_ok=True)
    with running_stack(config, out) as stack:
        return replay_on_stack(stack, config, log, speeds, out, cold=cold, slo=slo,
                               target=target)


def load_and_replay(configs: Sequence[LoadConfig], config: LoadConfig, log: str,
                    speeds: Sequence[float], *, cold: bool = False, slo: Slo = Slo(),
                    target: float = 0.99) -> tuple[list[LoadRun], ReplayLoad | None]:
    """Notebook 04's runs: the Locust ``configs`` on one stack, then (with a ``log``) the
    replay at ``speeds`` on the same stack; without Locust runs (``shape="replay"``), the
    replay alone on a stack of ``config``."""
    if not log or not speeds:
        return run_loads(configs), None
    if not configs:
        return [], run_replay_load(config, log, speeds, cold=cold, slo=slo, target=target)
    out = Path(config.output_dir) if config.output_dir else REPO_ROOT / "reports" / "dev" / \
        config.label
    done: list[ReplayLoad] = []
    runs = run_loads(configs, then=lambda stack: done.append(replay_on_stack(
        stack, config, log, speeds, out, cold=cold, slo=slo, target=target)))
    return runs, done[0]


def replay_table(done: ReplayLoad) -> str:
    """Each speed's figures as a markdown table (the notebook's report)."""
    rows = ["| speed | offered/s | answered/s | goodput | hit rate | p99 ms | hit p99 ms | "
            "miss p99 ms | $ per 1k |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in done.reports:
        by = {o.outcome: o.p99_ms for o in r.outcomes}
        rows.append(f"| {r.speed:g}x | {r.offered_rps:.2f} | {r.answered_rps:.2f} | "
                    f"{r.goodput:.3f} | {r.hit_rate:.3f} | {r.p99_ms:.0f} | "
                    f"{by.get('hit', float('nan')):.0f} | {by.get('miss', float('nan')):.0f} | "
                    f"{r.dollars_per_1000:.4f} |")
    return "\n".join(rows)
