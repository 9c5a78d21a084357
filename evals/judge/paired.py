"""A per-question metric's change between two runs, with a paired bootstrap interval.

The questions both runs answered are paired; the interval is the 95 % percentile bootstrap of
the mean difference (``evals.metrics.bootstrap.interval``, seeded, so the same two runs give
the same interval). A change whose interval holds 0 is within the noise of the question sample;
a drop is beyond it when the whole interval lies on the worse side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from evals.judge.questions import METRICS, Question
from evals.metrics import bootstrap


@dataclass(frozen=True)
class MetricChange:
    name: str
    before: float
    after: float
    low: float  # 95 % interval of the mean difference (after - before)
    high: float
    n: int  # paired questions
    higher_is_better: bool = True

    @property
    def delta(self) -> float:
        return self.after - self.before

    @property
    def within_noise(self) -> bool:
        return self.low <= 0 <= self.high

    @property
    def worse(self) -> bool:
        """A drop beyond the noise: the whole interval on the worse side."""
        return self.high < 0 if self.higher_is_better else self.low > 0

    def text(self) -> str:
        mark = "within noise" if self.within_noise else (
            "WORSE beyond noise" if self.worse else "better beyond noise")
        return (f"{self.before:.4f} -> {self.after:.4f} ({self.delta:+.4f}, 95 % interval "
                f"{self.low:+.4f} to {self.high:+.4f}, {self.n} paired questions; {mark})")


def changes(before: Sequence[Question], after: Sequence[Question],
            metrics: Mapping[str, bool] = METRICS, *, seed: int = 7) -> list[MetricChange]:
    """Each metric measured for paired questions in both runs."""
    old = {q.id: q for q in before}
    out = []
    for name, higher in metrics.items():
        pairs = [(old[q.id].metrics.get(name), q.metrics.get(name)) for q in after
                 if q.id in old]
        kept = [(a, b) for a, b in pairs if a is not None and b is not None]
        if not kept:
            continue
        low, high = bootstrap.interval([b - a for a, b in kept], seed=seed)
        mean_a = sum(a for a, _ in kept) / len(kept)
        mean_b = sum(b for _, b in kept) / len(kept)
        out.append(MetricChange(name, mean_a, mean_b, float(low or 0.0), float(high or 0.0),
                                len(kept), higher))
    return out
