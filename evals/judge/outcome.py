"""A run's questions judged, and against a baseline when there is one: what the runner adds to
the gates, prints, writes into ``summary.md`` and into the JUnit file."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from evals.gates import GateResult
from evals.judge import baseline as own
from evals.judge import junit, turns
from evals.judge import questions as qs


@dataclass
class Judged:
    questions: list[qs.Question]
    verdict: own.Verdict | None = None

    def gates(self) -> list[GateResult]:
        return self.verdict.gates() if self.verdict else []

    def console_lines(self) -> list[str]:
        if self.verdict is None:
            return []
        lines = own.flip_lines(self.verdict.newly_failing, self.verdict.newly_passing)
        lines += own.change_lines(self.verdict.compared, self.questions)
        worse = [c for c in self.verdict.metrics if c.worse and c.n >= own.MIN_PAIRED]
        lines += [f"metric worse beyond its noise: {c.name} {c.text()}" for c in worse]
        return lines

    def markdown_lines(self) -> list[str]:
        """The questions' section of ``summary.md``: pass counts, then the flips against the
        baseline and each metric's change with its interval."""
        if not self.questions:
            return []
        passed = sum(q.passed for q in self.questions)
        later = [q for q in self.questions if q.conversation]
        lines = ["## Questions", "",
                 f"- passed every check: {qs.rate_text(passed, len(self.questions))}"]
        if later:
            lines.append(f"  - of which later turns of conversations: "
                         f"{qs.rate_text(sum(q.passed for q in later), len(later))}")
        lines += [f"- `{name}`: {qs.rate_text(k, n)}"
                  for name, (k, n) in sorted(qs.check_counts(self.questions).items())]
        lines += ["", "One row per question (question, expected, retrieved, answer, metrics, "
                  "checks): `questions.jsonl` in the run's folder.", ""]
        if self.verdict is None:
            return lines
        lines += own.flip_markdown(self.verdict.newly_failing, self.verdict.newly_passing,
                                   f"the baseline `{self.verdict.baseline.path.name}` (run "
                                   f"`{self.verdict.baseline.origin.id}`)")
        lines += own.change_markdown(self.verdict.compared, self.questions)
        lines += ["Per-question metrics against the baseline (paired bootstrap, 95 %):", ""]
        lines += [f"- `{c.name}`: {c.text()}" for c in self.verdict.metrics] or ["- none"]
        return lines + [""]

    def write_junit(self, path: Path, gates: Iterable[GateResult]) -> Path:
        listed = [q for q in self.questions if not q.passed or q.known_failure]
        return junit.write(path, list(gates), listed,
                           self.verdict.compared if self.verdict is not None else None)


def judge_run(run_dir: Path, items: Iterable[Mapping[str, object]],
              baseline: own.Baseline | None) -> Judged:
    """The questions of ``run_dir``'s quality rows (``items``: the QA items, for the expected
    answers and assertions) and the later turns of its conversations (``evals.judge.turns``),
    written to ``questions.jsonl``, against ``baseline``."""
    by_id = {str(i.get("id")): {**i, "assert": i.get("assert")
                                if isinstance(i.get("assert"), list) else None}
             for i in items}
    questions = [*qs.judge(qs.read_rows(run_dir), by_id),
                 *turns.judge(turns.read_rows(run_dir))]
    if not questions:
        return Judged([])
    qs.write(run_dir / qs.QUESTIONS_FILE, questions)
    verdict = own.judge(questions, baseline) if baseline is not None else None
    return Judged(questions, verdict)
