"""The spike's shedding run alone (issue 82), without the rest of notebook 04: the ci profile's
ordinary load run (20 users, 30 s) and its replay of the synthetic log at 15x on one stack (the
rate the machine sustains at p99 <= 4 s, and ``replay_answered_share``: ordinary load must not
be shed), then the spike on a stack of its own (``spike_users`` for the middle fifth of
``spike_duration_s``) and its shedding figures (``evals.load.shed``). The figures as one JSON
object on stdout and in ``OUT/shed_run.json``:

    python -m evals.load.shed_run --out reports/dev/shed [--spike-users 200] [--spike-s 40]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from evals.load import loadtest, replay_load
from evals.load import shed as load_shed
from evals.replay.report import Slo

LOG = "evals/replay/data/synthetic_log.jsonl"


def ordinary(out: Path) -> tuple[dict[str, object], float | None]:
    """The ci load run and the replay at 15x on one stack: their figures and the sustained
    rate (the load run's steady rate when its p99 held 4 s)."""
    config = loadtest.LoadConfig(users=20, spawn_rate=10.0, duration_s=30, mix="mixed",
                                 shape="sustained", workers=2, mock_latency_ms=300.0, seed=7,
                                 warmup_s=3.0, warm_up_requests=20, output_dir=str(out),
                                 label="load")
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


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def spiked(out: Path, users: int, seconds: int, sustained: float | None) -> dict[str, object]:
    """The spike run on its own stack and its shedding figures."""
    run = loadtest.run_load(loadtest.LoadConfig(
        users=users, spawn_rate=float(users), duration_s=seconds, mix="mixed", shape="spike",
        workers=2, mock_latency_ms=300.0, seed=7, warmup_s=3.0, warm_up_requests=20,
        output_dir=str(out), label="spike"))
    return dict(load_shed.shed_figures(run.events, seconds, run.origin, sustained))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="reports/dev/shed")
    parser.add_argument("--spike-users", type=int, default=200)
    parser.add_argument("--spike-s", type=int, default=40)
    parser.add_argument("--skip-ordinary", action="store_true",
                        help="the spike alone (no sustained rate: no height)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures, sustained = ({}, None) if args.skip_ordinary else ordinary(out)
    figures.update(spiked(out, args.spike_users, args.spike_s, sustained))
    text = json.dumps(figures, indent=1, default=str)
    (out / "shed_run.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
