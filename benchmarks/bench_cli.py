"""What a user waits for at the command line: a first ingest in a new state folder, and a cold
``rag-core ask`` (a new process each time) on a miss and on an exact cache hit.

    python benchmarks/bench_cli.py [--repeats 5] [--notes 12]

In a new temporary state folder (the embedded PostgreSQL and Redis start with the first
command, the exported model comes from the machine's model cache when it is there): ``rag-core
ingest`` of the first ``--notes`` golden notes of one user, then ``--repeats`` rounds of a cold
``ask`` of a question not asked before (a miss: spaCy, the embedder, retrieval) and of the same
question again (an exact hit: no spaCy, no embedder). Wall seconds and CPU seconds (user +
system of the child) per command; medians with [min-max]. ``rag-core services down`` at the end.
The commands write bytecode as a user's Python does (the ingest writes it first).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ("What does Micah ask of us?", "Who preached on Nehemiah?",
             "What did the sermon say about forgiveness?", "What is said about patience?",
             "Which passage was read about the good shepherd?", "What did Ben write on grace?",
             "How should we treat a stranger?", "What was said about prayer?")


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the child, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stdout


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--notes", type=int, default=12)
    parser.add_argument("--user", default="ben")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_cli"))
    notes = work / "notes"
    notes.mkdir()
    for path in sorted((ROOT / "golden" / "notes" / args.user).iterdir())[:args.notes]:
        shutil.copy(path, notes)
    # as a user's Python runs: bytecode written once and read back (a machine that sets
    # PYTHONDONTWRITEBYTECODE compiles every module of the package again in every command)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           "RAG_STATE_DIR": str(work / "state"), "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    cli = [sys.executable, "-m", "rag_core"]
    rows: dict[str, dict[str, list[float]]] = {
        "ask miss": {"wall": [], "cpu": []}, "ask exact hit": {"wall": [], "cpu": []}}
    try:
        wall, cpu, _ = timed([*cli, "ingest", str(notes), "--user", args.user], env)
        ingest = {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1)}
        for i in range(args.repeats):
            question = f"{QUESTIONS[i % len(QUESTIONS)]} ({i})"
            ask = [*cli, "ask", question, "--user", args.user, "--json"]
            for name, expect in (("ask miss", "miss"), ("ask exact hit", "hit")):
                wall, cpu, out = timed(ask, env)
                got = json.loads(out)["cache"]["query"]
                if got != expect and not (expect == "miss" and got == "semantic_hit"):
                    raise SystemExit(f"{name}: the cache said {got!r}")
                rows[name]["wall"].append(wall)
                rows[name]["cpu"].append(cpu)
    finally:
        subprocess.run([*cli, "services", "down"], env=env, capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)
    print(f"first ingest of {args.notes} notes in a new state folder (servers' first start "
          f"included): {ingest['wall_s']} s wall, {ingest['cpu_s']} s CPU")
    print(f"{'cold command':16s} {'wall s':>20s} {'CPU s':>20s}  ({args.repeats} repeats)")
    for name, row in rows.items():
        print(f"{name:16s} {spread(row['wall']):>20s} {spread(row['cpu']):>20s}")
    print(json.dumps({"ingest": ingest, **{k: {m: round(statistics.median(v), 2)
                                               for m, v in r.items()} for k, r in rows.items()}}))


if __name__ == "__main__":
    main()
