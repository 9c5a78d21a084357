"""The spike's shedding run alone (issue 82), without the rest of notebook 04: the ci profile's
ordinary load run (20 users, 30 s) and its replay of the synthetic log at 15x on one stack (the
rate the machine sustains at p99 <= 4 s, and ``replay_answered_share``: ordinary load must not
be shed), then the spike on a stack of its own (``spike_users`` for the middle fifth of
``spike_duration_s``) and its shedding figures (``evals.load.shed``), with the cores the load
generator and the app took during the burst (``spike_loadgen_cores``, ``spike_app_cores``), the
spike stack's ``requests_shed_total`` by reason over its whole run (``spike_shed_by_reason``) and
the machine's load average before and after. The figures as one JSON object on stdout and in
``OUT/shed_run.json``:

    python -m evals.load.shed_run --out reports/dev/shed [--spike-users 200] [--spike-s 40]
        [--edge-lag-ms 250]   # RAG_EDGE_SHED_LAG_MS of both stacks (0: no shedding at the edge)
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path

from evals.load import loadtest, replay_load
from evals.load import shed as load_shed
from evals.load.cpu import cores_between
from evals.replay.report import Slo
from loadtests.traffic import SPIKE_WINDOW

LOG = "evals/replay/data/synthetic_log.jsonl"


def ordinary(out: Path, env: Mapping[str, str] | None = None
             ) -> tuple[dict[str, object], float | None]:
    """The ci load run and the replay at 15x on one stack: their figures and the sustained
    rate (the load run's steady rate when its p99 held 4 s)."""
    config = loadtest.LoadConfig(users=20, spawn_rate=10.0, duration_s=30, mix="mixed",
                                 shape="sustained", workers=2, mock_latency_ms=300.0, seed=7,
                                 warmup_s=3.0, warm_up_requests=20, output_dir=str(out),
                                 label="load", extra_env=dict(env or {}))
    runs, replayed = replay_load.load_and_replay([config], config, LOG, [15.0],
                                                 slo=Slo(5.0, 1.0))
    summary = runs[0].summary()
    figures: dict[str, object] = {k: summary.get(k) for k in (
        "rps_after_warmup", "p99_ms", "error_rate", "limited_rate")}
    if replayed is not None:
        figures.update({k: v for k, v in replayed.figures().items() if k in (
            "replay_answered_share", "replay_goodput", "replay_limited", "replay_p99_ms")})
    sustained = load_shed.sustained_rate([(_number(summary.get("rps_after_warmup")),
                                           _number(summary.get("p99_ms")))])
    return figures, sustained


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def spiked(out: Path, users: int, seconds: int, sustained: float | None,
           env: Mapping[str, str] | None = None, locust_workers: int = 0) -> dict[str, object]:
    """The spike run on its own stack, its shedding figures and the burst's cores."""
    run = loadtest.run_load(loadtest.LoadConfig(
        users=users, spawn_rate=float(users), duration_s=seconds, mix="mixed", shape="spike",
        workers=2, mock_latency_ms=300.0, seed=7, warmup_s=3.0, warm_up_requests=20,
        output_dir=str(out), label="spike", extra_env=dict(env or {}),
        locust_workers=locust_workers))
    start, end = (run.origin + seconds * share for share in SPIKE_WINDOW)
    cores = cores_between(run.cpu_timeline, start, end)
    return {**load_shed.shed_figures(run.events, seconds, run.origin, sustained),
            **{f"spike_{k}": v for k, v in cores.items()},
            "spike_shed_by_reason": run.shed_by_reason}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/dev/shed")
    parser.add_argument("--spike-users", type=int, default=200)
    parser.add_argument("--spike-s", type=int, default=40)
    parser.add_argument("--skip-ordinary", action="store_true",
                        help="the spike alone (no sustained rate: no height)")
    parser.add_argument("--edge-lag-ms", type=int, default=None,
                        help="RAG_EDGE_SHED_LAG_MS of the stacks (default: the setting's)")
    parser.add_argument("--locust-workers", type=int, default=0,
                        help="the spike's Locust worker processes (0: Locust in one process)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {} if args.edge_lag_ms is None else {"RAG_EDGE_SHED_LAG_MS": str(args.edge_lag_ms)}
    figures: dict[str, object] = {"load_average_before": _load_average(),
                                  "edge_shed_lag_ms": args.edge_lag_ms}
    sustained = None
    if not args.skip_ordinary:
        ran, sustained = ordinary(out, env)
        figures.update(ran)
    figures["spike_locust_workers"] = args.locust_workers
    figures.update(spiked(out, args.spike_users, args.spike_s, sustained, env,
                          args.locust_workers))
    figures["load_average_after"] = _load_average()
    text = json.dumps(figures, indent=1, default=str)
    (out / "shed_run.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
