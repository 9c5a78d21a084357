"""``python -m evals``: run the harness, or list what it would run.

    python -m evals run --profile ci                      # every notebook of the profile
    python -m evals run --profile ci --only quality       # one notebook; other gates skipped
    python -m evals run --profile ci --param top_k=1      # override a notebook parameter
    python -m evals run --profile full --baseline path/to/summary.json
    python -m evals run --profile ci --only quality --param settings='{"context_token_budget": 600}'
    python -m evals run --profile dev --only quality      # an experiment: reports/dev/, never ci
    python -m evals run --profile tune --only quality --param settings='{"top_k": 8}'
                                                          # ci values without the slow extras
    python -m evals run --dataset path/to/mydata           # notebooks 01, 03-05 on your own
                                                          # data (02's synthetic corpus and public
                                                          # sets: add --only retrieval),
                                                          # reports/mydata/ (gates.toml beside it);
                                                          # judged against its baseline.json
    python -m evals run --dataset path/to/mydata --junit-xml build/evals.xml  # for CI
    python -m evals run --dataset path/to/mydata --env-file prod.env  # the team's settings
                                                          # (and the environment's RAG_*)
    python -m evals init-dataset path/to/mydata           # a small example dataset to start from
    python -m evals calibrate --dataset path/to/mydata     # the no-context floor and semantic
                                                          # cache chosen on it: reports/mydata/
    python -m evals generate --notes golden/notes --out data/gen   # a dataset made from notes
    python -m evals generate --notes golden/notes --out data/gen --writer llm  # by the model
                                                          # RAG_LLM=hf configures, checked
    python -m evals compare                               # previous against latest (any folder)
    python -m evals compare RUN_A RUN_B                  # run ids, run folders or summary.json
    python -m evals list                                  # profiles, notebooks, gates
    python -m evals refresh-refs notebooks/01_quality_eval.ipynb   # nbval references
    python -m evals prepare --profile smoke --out build/nbval  # the copies nbval is given
    python -m evals nbval --profile smoke                 # prepare them, run nbval, stop servers
    python -m evals spread --profile ci --only retrieval --repeats 3  # spread of the figures
    python -m evals spread --from reports/a/ci/summary.json reports/b/ci/summary.json
    python -m evals replay LOG --server URL --speed 10 --out DIR   # a query log at its own
                                                          # timing, open loop (evals/replay)

Exit codes: 0 all gates passed, 1 a gate or a notebook failed, 2 a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from evals import gates as gates_mod
from evals import profiles
from evals.paths import GATES_FILE, REPORTS_DIR


def parse_param(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` with VALUE read as YAML: ``1`` -> 1, ``false`` -> False, ``[1,3]``."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"cannot read the value of {name}: {exc}") from exc
    return name.strip(), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evals", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the notebooks of a profile and apply the gates")
    run.add_argument("--profile", choices=profiles.PROFILES, default="ci")
    run.add_argument("--only", action="append", default=[], metavar="NAME",
                     help="run only this notebook (results name or file stem); repeatable")
    run.add_argument("--param", action="append", default=[], type=parse_param,
                     metavar="NAME=VALUE", help="override a notebook parameter; repeatable")
    run.add_argument("--baseline", default="default", metavar="PATH",
                     help="a dataset's baseline.json or a summary.json to compare with "
                          "(default: a dataset's <reports-dir>/<name>/baseline.json, written "
                          "by its first run; reports/baseline/<profile>/summary.json for the "
                          "golden set)")
    run.add_argument("--no-baseline", action="store_true", help="do not compare")
    run.add_argument("--reports-dir", type=Path, default=REPORTS_DIR, metavar="DIR")
    run.add_argument("--gates", type=Path, default=GATES_FILE, metavar="TOML")
    run.add_argument("--list", action="store_true", help="show what would run, run nothing")
    run.add_argument("--dataset", metavar="PATH",
                     help="a dataset folder (notes/<user>/, qa.jsonl, ...) or hub id: run the "
                          "notebooks on it into reports/<its name>/")
    run.add_argument("--keep-services", action="store_true",
                     help="leave the embedded PostgreSQL/Redis this run started running "
                          "(faster repeated runs; the tune profile always does; stop them with "
                          "`rag-core services down`)")
    run.add_argument("--name", metavar="NAME",
                     help="the report folder reports/NAME/ (default: the dataset's name, "
                          "else the profile)")
    run.add_argument("--junit-xml", type=Path, metavar="PATH",
                     help="also write the gates and the failing questions as JUnit XML")
    run.add_argument("--env-file", type=Path, metavar="FILE",
                     help="the team's settings as NAME=VALUE lines (the file `evals calibrate` "
                          "writes); the environment wins over it, it wins over the dataset's "
                          "settings.env and the profile's values")
    run.add_argument("--external-services", action="store_true",
                     help="use an inherited DATABASE_URL / REDIS_URL (recorded in the report) "
                          "instead of refusing to run")
    compare = sub.add_parser("compare", help="two runs side by side: what changed in their "
                                              "parameters and Settings, gates, metrics")
    compare.add_argument("run_a", metavar="RUN_A", nargs="?", default="previous",
                         help="latest, previous, a run id, run folder, summary.json or a "
                              "dataset's baseline.json (default: previous)")
    compare.add_argument("run_b", metavar="RUN_B", nargs="?", default="latest",
                         help="as RUN_A (default: latest)")
    compare.add_argument("--reports-dir", type=Path, default=REPORTS_DIR, metavar="DIR")
    compare.add_argument("--all", action="store_true",
                         help="every metric, not only those that moved beyond their noise band")
    init = sub.add_parser("init-dataset", help="write a small example dataset (notes of two "
                                               "users, QA items, pairs, a query log, gates)")
    init.add_argument("folder", type=Path, metavar="DIR")
    from evals.decisions import calibrate_args

    calibrate_args.add_arguments(sub.add_parser(
        "calibrate", help=calibrate_args.HELP, description=calibrate_args.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter))
    gen = sub.add_parser("generate", help="make a dataset (questions, unanswerable questions, "
                                          "paraphrase and near-miss pairs) from notes, offline "
                                          "and deterministic")
    gen.add_argument("--notes", type=Path, required=True, metavar="DIR",
                     help="a folder with one folder of notes per user")
    gen.add_argument("--users", nargs="+", default=[], metavar="USER",
                     help="only these users' folders (default: every one)")
    gen.add_argument("--out", type=Path, required=True, metavar="DATASET")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--writer", choices=("rules", "llm"), default="rules",
                     help="who writes the questions: rules (offline, the default) or llm (the "
                          "model the service's generator is configured with, RAG_LLM=hf; the "
                          "same checks on what it writes)")
    from evals.replay import cli as replay_cli

    replay_cli.add_arguments(sub.add_parser(
        "replay", help=replay_cli.HELP, description=replay_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter))
    sub.add_parser("list", help="profiles, notebooks with their parameters, and gates")
    refs = sub.add_parser("refresh-refs", help="re-execute notebooks with their defaults and "
                                                "store only the nbval reference outputs")
    refs.add_argument("notebooks", nargs="+", type=Path)
    copies = {"prepare": "copy the notebooks of a profile with its parameters injected, "
                         "unexecuted, into DIR (what evals nbval gives nbval)",
              "nbval": "prepare the notebooks of a profile into DIR, run nbval on them (pytest "
                       "--nbval-lax) and stop the servers they started (make harness checks "
                       "the same cells)"}
    for name, text in copies.items():
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--profile", choices=profiles.PROFILES, default="smoke")
        cmd.add_argument("--only", action="append", default=[], metavar="NAME",
                         help="only this notebook (results name or file stem); repeatable")
        cmd.add_argument("--out", type=Path, default=Path("build/nbval"), metavar="DIR")
    sub.choices["nbval"].add_argument("pytest_args", nargs="*", metavar="PYTEST_ARG",
                                      help="more pytest options, after --")
    spread = sub.add_parser("spread", help="run notebooks N times (or read summary.json files) "
                                            "and write each figure's spread and each gate's "
                                            "margin to reports/spread/")
    spread.add_argument("--profile", choices=profiles.PROFILES, default="ci")
    spread.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="a notebook to repeat (results name or file stem); repeatable")
    spread.add_argument("--repeats", type=int, default=3, metavar="N")
    spread.add_argument("--param", action="append", default=[], type=parse_param,
                        metavar="NAME=VALUE", help="override a notebook parameter; repeatable")
    spread.add_argument("--from", dest="summaries", nargs="+", type=Path, default=[],
                        metavar="SUMMARY", help="summary.json files of runs made already")
    spread.add_argument("--out", type=Path, default=REPORTS_DIR / "spread", metavar="DIR")
    spread.add_argument("--gates", type=Path, default=GATES_FILE, metavar="TOML")
    return parser


def describe(profile: str | None = None, only: Sequence[str] = ()) -> str:
    lines: list[str] = []
    for name in [profile] if profile else list(profiles.PROFILES):
        lines.append(f"profile {name}:")
        for spec in profiles.notebooks_for(name, only):
            params = ", ".join(f"{k}={v}" for k, v in spec.profile_params(name).items())
            lines.append(f"  {spec.name:10} {spec.path}  {params}")
    lines.append("gates (evals/gates.toml):")
    for gate in gates_mod.load_gates(GATES_FILE):
        scope = f" [{', '.join(gate.profiles)}]" if gate.profiles else ""
        lines.append(f"  {gate.name} {gates_mod.OPS[gate.op][0]} {gate.threshold:g}{scope}")
    return "\n".join(lines)


def _run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from evals.runner import RunOptions, run

    command = "python -m evals " + " ".join(argv)
    if args.list:
        print(describe(args.profile, args.only))
        return 0
    options = RunOptions(
        profile=args.profile, only=args.only, overrides=dict(args.param),
        baseline=None if args.no_baseline else args.baseline,
        # absolute: the notebooks run with the checkout as their folder, not the caller's
        reports_dir=args.reports_dir.absolute(), gates_file=args.gates,
        external_services=args.external_services, dataset=args.dataset, name=args.name,
        keep_services=args.keep_services, junit_xml=args.junit_xml,
        command=command, env_file=args.env_file,
    )
    result = run(options)
    print()
    print(gates_mod.format_table(result.gates, with_notes=False))
    failing = [g for g in result.gates if g.status == "failed"]
    if failing:
        print(f"\n{len(failing)} gate(s) FAILED:\n")
        print(gates_mod.format_table(failing, with_notes=False))
        print()
        from evals.report.explain import explain_lines

        for gate in failing:
            print("\n".join(explain_lines(gate, result.summary, options.gates_file,
                                           counts=result.report.counts)))
    flipped = result.judged.console_lines()
    if flipped:
        print()
        print("\n".join(flipped))
    for outcome in result.notebooks:
        if not outcome.ok:
            print(f"\nnotebook {outcome.name} FAILED: {outcome.error}\n"
                  f"  see {outcome.executed}")
    print(f"\nreport: {result.paths['markdown']}")
    if "junit" in result.paths:
        print(f"junit: {result.paths['junit']}")
    return result.exit_code


def _spread(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from evals.report import spread
    from evals.report import summary as report
    from evals.report.run_report import RunSummary, SummaryError
    from evals.runner import UsageError

    summaries: list[RunSummary] = []
    failed: list[int] = []
    if args.summaries:
        try:
            summaries = [RunSummary.read(p) for p in args.summaries]
        except SummaryError as exc:
            raise UsageError(str(exc)) from None
        names = sorted({k.split(".", 1)[0] for s in summaries for k in s.metrics})
        profile = summaries[0].profile if summaries else args.profile
    else:
        from evals.runner import RunOptions, run

        if not args.only:
            raise UsageError("name the notebooks to repeat with --only (or give --from files)")
        if args.repeats < 2:
            raise UsageError("--repeats must be at least 2 to measure a spread")
        names, profile = list(args.only), args.profile
        for i in range(1, args.repeats + 1):
            print(f"evals spread: run {i} of {args.repeats}", file=sys.stderr, flush=True)
            result = run(RunOptions(profile=profile, only=names, overrides=dict(args.param),
                                    baseline=None, gates_file=args.gates,
                                    reports_dir=args.out / "runs" / f"{i}"))
            if all(o.ok for o in result.notebooks):
                summaries.append(result.summary)
            else:
                failed.append(i)
    spreads = spread.collect(summaries)
    checks = spread.check_gates(gates_mod.load_gates(args.gates, profile), spreads)
    meta = spread.meta_for(profile, names, len(summaries), report.git_commit(),
                           "python -m evals " + " ".join(argv), failed)
    stem = f"{profile}-{'-'.join(names) or 'none'}"
    paths = spread.write(args.out, stem, spreads, checks, meta)
    print(spread.to_markdown({}, checks, meta))
    print(f"spread: {paths['markdown']}")
    inside = [c for c in checks if c.verdict in ("inside the noise", "failed in a run")]
    return 1 if inside or failed or not summaries else 0


def main(argv: Sequence[str] | None = None) -> int:
    from evals.datasets import DatasetError
    from evals.runner import UsageError

    args = build_parser().parse_args(argv)
    try:
        if args.command == "list":
            print(describe())
            return 0
        if args.command == "refresh-refs":
            from evals.nbrefs import refresh

            for path in args.notebooks:
                print(f"refreshed {refresh(path)}")
            return 0
        if args.command == "prepare":
            from evals.nbrefs import prepare

            try:
                written = prepare(args.profile, args.out, args.only)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            print("\n".join(f"prepared {path}" for path in written))
            return 0
        if args.command == "nbval":
            from evals.nbrefs import check

            try:
                return check(args.profile, args.out, args.only, args.pytest_args)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
        if args.command == "compare":
            from evals.report.run_compare import compare_runs

            try:
                print(compare_runs(args.run_a, args.run_b, args.reports_dir,
                                   show_all=args.all))
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            return 0
        if args.command == "init-dataset":
            from evals.datasets.example import write_example

            folder = write_example(args.folder)
            print(f"wrote an example dataset to {folder}; run it with\n"
                  f"  python -m evals run --dataset {folder}")
            return 0
        if args.command == "replay":
            from evals.replay import cli as replay_cli

            return replay_cli.run(args)
        if args.command == "calibrate":
            from evals.decisions import calibrate

            return calibrate.run(args)
        if args.command == "generate":
            from evals.datasets.checks import check_notes
            from evals.generate import GenerateError
            from evals.generate.write import generate

            check_notes(args.notes)  # every file, as a run checks a dataset's
            try:
                made = generate(args.notes, args.out, args.users, args.seed,
                                writer=args.writer)
            except GenerateError as exc:
                raise UsageError(str(exc)) from None
            from evals.generate import report_file

            by = f" by {made.model}" if made.model else ""
            print(f"wrote {made.questions} questions{by} ({made.unanswerable} unanswerable; "
                  f"dev {made.splits['dev']}, test {made.splits['test']}) and {made.pairs} "
                  f"pairs to {made.folder}\n" + "\n".join(report_file.lines(made.report))
                  + f"\n(also in {made.folder / report_file.MD_NAME})"
                  + f"\nrun it with\n  python -m evals run --dataset {made.folder}")
            return 0
        if args.command == "spread":
            return _spread(args, sys.argv[1:] if argv is None else argv)
        return _run(args, sys.argv[1:] if argv is None else argv)
    except (UsageError, DatasetError) as exc:
        print(f"evals: error: {exc}", file=sys.stderr)
        return 2
