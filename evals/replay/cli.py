"""``python -m evals replay LOG --server URL --speed N --out DIR``: replay a query log through
a running server at its own timing (open loop), and write the report and ``requests.csv``.

    python -m evals replay evals/replay/data/synthetic_log.jsonl --server http://127.0.0.1:8000 \\
        --speed 10 --out reports/replay                  # RAG_JWT_SECRET: the server's
    python -m evals replay LOG --server URL --out DIR --sweep 1,5,10,20   # goodput per speed
    python -m evals replay LOG --server URL --out DIR --no-cache          # a cold run

Exit codes: 0 done, 1 the goodput is under --goodput-gate (when given), 2 a caller's mistake
(no log, no secret, every token refused), 3 the server did not answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "replay a query log through a running server at its own timing (open loop)"


def _speeds(text: str) -> list[float]:
    try:
        speeds = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected speeds such as 1,5,10, got {text!r}"
                                         ) from None
    if not speeds or any(s <= 0 for s in speeds):
        raise argparse.ArgumentTypeError("every speed must be a positive number")
    return speeds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, metavar="LOG",
                        help="JSON lines: `rag-core querylog export`'s, or ts/user_id/question")
    parser.add_argument("--server", required=True, metavar="URL", help="the app's base URL")
    parser.add_argument("--speed", type=float, default=1.0, metavar="N",
                        help="send each question at its offset / N (default 1)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where report.md, report.json, requests.csv go")
    parser.add_argument("--dataset", metavar="DIR",
                        help="map the log's users onto this dataset's users (notes/<user>/); "
                             "default: the golden dataset")
    parser.add_argument("--keep-users", action="store_true",
                        help="send the log's users as they are (users not in the dataset "
                             "are skipped and counted)")
    cold = parser.add_mutually_exclusive_group()
    cold.add_argument("--no-cache", action="store_true",
                      help="cold: send every question with cache.no_cache")
    cold.add_argument("--warm", action="store_true", help="warm: use the caches (default)")
    parser.add_argument("--sweep", type=_speeds, metavar="S1,S2,...",
                        help="replay at each speed (instead of --speed), find the highest with "
                             "goodput >= --target, plot goodput and p99 against the rate")
    parser.add_argument("--target", type=float, default=0.99, help="the goodput target")
    parser.add_argument("--miss-slo-s", type=float, default=5.0,
                        help="SLO of an answer the pipeline makes (default 5)")
    parser.add_argument("--cached-slo-s", type=float, default=1.0,
                        help="SLO of a cached answer (default 1)")
    parser.add_argument("--max-requests", type=int, default=0, metavar="N",
                        help="stop after N questions (0: the whole log)")
    parser.add_argument("--limits", metavar="TEXT",
                        help="the request limits the server runs under, as reported (default: "
                             "read from RAG_RATE_LIMIT_* of this environment)")
    parser.add_argument("--goodput-gate", type=float, metavar="G",
                        help="exit 1 when the goodput (the last speed's) is under G")


def run(args: argparse.Namespace) -> int:
    from evals.replay.report import Slo
    from evals.replay.run import ReplayError, Setup, replay_log, sweep_speeds

    setup = Setup(dataset=args.dataset, keep_users=args.keep_users, no_cache=args.no_cache,
                  slo=Slo(args.miss_slo_s, args.cached_slo_s), limits=args.limits,
                  max_requests=args.max_requests)
    try:
        if args.sweep:
            from evals.replay.plots import sweep_figure

            reports, best = sweep_speeds(args.log, args.server, args.sweep, args.out, setup,
                                         target=args.target)
            figure = sweep_figure(reports, args.out / "sweep.png", args.target)
            for r in reports:
                print(f"{r.speed:g}x: offered {r.offered_rps:.2f}/s, goodput {r.goodput:.1%}, "
                      f"p99 {r.p99_ms:.0f} ms, hit rate {r.hit_rate:.1%}")
            print(f"highest speed with goodput >= {args.target:g}: "
                  f"{'none' if best is None else f'{best:g}x'}; figure {figure}")
            last = reports[-1]
        else:
            done = replay_log(args.log, args.server, args.speed, args.out, setup)
            last = done.report
            print(done.paths["markdown"].read_text(encoding="utf-8"))
            print(f"requests: {done.paths['requests']}")
    except ReplayError as exc:
        print(f"error {exc.code}: {exc}", file=sys.stderr)
        return exc.exit
    if args.goodput_gate is not None and last.goodput < args.goodput_gate:
        print(f"goodput {last.goodput:.1%} is under {args.goodput_gate:.1%}", file=sys.stderr)
        return 1
    return 0
