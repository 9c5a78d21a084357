"""``rag-core sync`` of a folder of many notes after its first run, one file changed (issue 65).

A folder of ``--notes`` Markdown notes (about 120 words each, four sentences drawn in turn) is
synced once for a new user: every note added and embedded. Then each of ``--repeats`` rounds
changes one file and syncs again, twice: in this process (the parts and the model already
loaded: what a long-lived caller pays) and as a fresh ``rag-core sync`` process (what a person
at a shell waits for: start-up, settings, the model loaded for the one changed note), and the
command once more with nothing changed (no model to load). Each
round checks that the sync found exactly one changed note and nothing else. Figures are
medians with the spread (min-max); the services are the embedded PostgreSQL and Redis of a
temporary state folder, the ci profile.

    python benchmarks/bench_sync.py [--notes 1000] [--repeats 3] [--json out.json]

The goal of the issue: under 5 s after the first run for 1,000 notes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rag_core.config import Settings
from rag_core.parts import parts_for

ROOT = Path(__file__).resolve().parents[1]
USER = "bench-sync"
SENTENCES = ["Nehemiah prayed before he spoke to the king about the broken wall.",
             "The people of Jerusalem rebuilt the gates in fifty-two days of work.",
             "Grace meets us in the ruins of our plans and calls us to build again.",
             "Abraham left Haran without knowing where the road would take him."]


def note_text(i: int, version: int = 0) -> str:
    lines = [SENTENCES[(i + k) % len(SENTENCES)] for k in range(8)]
    return (f"---\ntitle: Note {i} of the sync benchmark\ndate: 2024-01-01\n---\n"
            f"{' '.join(lines)} (note {i}, version {version})\n")


def write_folder(root: Path, n: int) -> None:
    for i in range(n):
        sub = root / f"series-{i % 10}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"note-{i:05d}.md").write_text(note_text(i), encoding="utf-8")


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s [{min(values):.2f}-{max(values):.2f}]"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from rag_core.ingest.sync import sync_folder

    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        state, folder = Path(tmp) / "state", Path(tmp) / "notes"
        write_folder(folder, args.notes)
        settings = Settings(profile="ci", state_dir=state)
        parts = parts_for(settings)
        env = {**os.environ, "RAG_PROFILE": "ci", "RAG_STATE_DIR": str(state),
               "PYTHONPATH": str(ROOT)}
        try:
            start = time.perf_counter()
            first = sync_folder(parts, USER, folder)
            first_s = time.perf_counter() - start
            assert len(first.added) == args.notes, first.summary()
            print(f"first sync: {args.notes} notes added in {first_s:.1f} s", flush=True)
            in_process: list[float] = []
            command: list[float] = []
            unchanged: list[float] = []  # a `rag-core sync` that finds nothing to do
            for r in range(args.repeats):
                i = r * 7 + 3
                changed = folder / f"series-{i % 10}" / f"note-{i:05d}.md"
                changed.write_text(note_text(i, version=2 * r + 1), encoding="utf-8")
                report = sync_folder(parts, USER, folder)
                assert (len(report.changed), report.added, report.removed) == (1, [], []), \
                    (report.summary(), report.added, report.changed)
                in_process.append(report.seconds)
                changed.write_text(note_text(i, version=2 * r + 2), encoding="utf-8")
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "rag_core", "sync", str(folder),
                                       "--user", USER, "--quiet"], env=env, capture_output=True,
                                      text=True, timeout=600, stdin=subprocess.DEVNULL)
                command.append(time.perf_counter() - start)
                assert done.returncode == 0 and "changed=1 " in done.stdout, done.stderr[-2000:]
                start = time.perf_counter()
                same = subprocess.run([sys.executable, "-m", "rag_core", "sync", str(folder),
                                       "--user", USER, "--quiet"], env=env, capture_output=True,
                                      text=True, timeout=600, stdin=subprocess.DEVNULL)
                unchanged.append(time.perf_counter() - start)
                assert same.returncode == 0 and "changed=0 " in same.stdout, same.stderr[-2000:]
                print(f"round {r + 1}: in process {in_process[-1]:.2f} s, "
                      f"`rag-core sync` {command[-1]:.2f} s, nothing changed "
                      f"{unchanged[-1]:.2f} s", flush=True)
        finally:
            parts.close()
            from rag_core import services

            services.stop_all(settings)
    result = {"notes": args.notes, "first_sync_s": round(first_s, 2),
              "one_changed_in_process_s": [round(x, 3) for x in in_process],
              "one_changed_command_s": [round(x, 3) for x in command],
              "nothing_changed_command_s": [round(x, 3) for x in unchanged]}
    print(f"one file changed of {args.notes}: in process {spread(in_process)}; "
          f"`rag-core sync` command {spread(command)}; the command with nothing changed "
          f"{spread(unchanged)}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
