"""Benchmark of the safety checks' CPU per question (figures, not a test): the question
sanitiser on the load test's novel questions and the leak filter on the golden reference
answers and on answers made as the mock model makes them from the golden notes, with the
literal prefilter (``rag_core.safety.prefilter``) on and off in the same run.

    python benchmarks/bench_safety_cpu.py [--questions 300] [--repeats 5] [--seed 5]

"Off" gives every family an empty requirement list (always searched), which is how the checks
ran before the prefilter. Memoisation is cleared before every pass, so each question is new to
the sanitiser as a novel question is. Every pass checks that both variants flag the same
families. Prints medians over the repeats (variants interleaved) and the median of the
per-repeat ratios on / off.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from loadtests import traffic
from rag_core.llm.prompt import leaks_system_prompt
from rag_core.safety import leak, sanitiser
from rag_core.safety.prefilter import Prefilter

PREFILTERS: tuple[Prefilter, ...] = (sanitiser._PREFILTER, leak._CONCEPTS, leak._FOREIGN)
NOTES = Path(__file__).resolve().parents[1] / "golden" / "notes.jsonl"
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")


@contextmanager
def prefilter(enabled: bool) -> Any:
    saved = [dict(p.literals) for p in PREFILTERS]
    if not enabled:
        for p in PREFILTERS:
            p.literals = dict.fromkeys(p.literals)
    try:
        yield
    finally:
        for p, literals in zip(PREFILTERS, saved, strict=True):
            p.literals = literals


def timed(check: Callable[[str], Any], texts: list[str]) -> tuple[float, list[Any]]:
    sanitiser.scan_question.cache_clear()
    start = time.perf_counter()
    out = [check(t) for t in texts]
    return (time.perf_counter() - start) / len(texts), out


def mock_answers(rng: random.Random, count: int) -> dict[str, list[str]]:
    """Answers as the mock model writes them on a miss (the first sentence of each of eight
    passages of the golden notes, cited [n]; a few hundred characters), each with its
    passages, which the leak filter is given as the answer's sources."""
    bodies = [" ".join(str(json.loads(line)["body"]).split())
              for line in NOTES.read_text(encoding="utf-8").splitlines() if line.strip()]
    out: dict[str, list[str]] = {}
    for _ in range(count):
        passages = [b[(k := rng.randrange(max(1, len(b) - 600))):k + 800]
                    for b in rng.sample(bodies, 8)]
        pieces = [f"{m.group(0).strip()} [{i}]" for i, p in enumerate(passages, 1)
                  if (m := _SENTENCE.search(p))]
        out["According to your notes: " + " ".join(pieces)] = passages
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    items = traffic.load_items()
    bank = traffic.QuestionBank.from_items(items)
    rng = random.Random(args.seed)
    users = sorted(bank.answerable)
    questions = [traffic.novel_question(bank, rng.choice(users), rng)
                 for _ in range(args.questions)]
    answers = [str(i["reference_answer"]) for i in items if i.get("reference_answer")]
    made = mock_answers(rng, args.questions)
    checks: dict[str, tuple[Callable[[str], Any], list[str]]] = {
        "sanitiser (novel question)": (sanitiser.scan_question, questions),
        "leak filter (golden answer)": (leaks_system_prompt, answers),
        "leak filter (mock's answer)": (lambda text: leaks_system_prompt(text, made[text]),
                                        list(made)),
    }
    times: dict[tuple[str, bool], list[float]] = {}
    for _ in range(args.repeats):
        for name, (check, texts) in checks.items():
            results = {}
            for enabled in (False, True):
                with prefilter(enabled):
                    seconds, results[enabled] = timed(check, texts)
                times.setdefault((name, enabled), []).append(seconds)
            if results[True] != results[False]:
                raise SystemExit(f"{name}: the prefilter changed a result")
    print(f"{len(questions)} questions, {len(answers)} answers; medians of {args.repeats}")
    print(f"{'':30} {'off ms':>8} {'on ms':>8} {'on/off':>7}")
    for name in checks:
        off, on = times[(name, False)], times[(name, True)]
        ratio = statistics.median(a / b for a, b in zip(on, off, strict=True))
        print(f"{name:30} {statistics.median(off) * 1000:8.2f} "
              f"{statistics.median(on) * 1000:8.2f} {ratio:7.2f}")


if __name__ == "__main__":
    main()
