"""The speed sweep's figure: goodput and p99 against the offered rate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.replay.report import ReplayReport


def sweep_figure(reports: Sequence[ReplayReport], out: Path, target: float = 0.99) -> Path:
    """Goodput (left axis) and p99 (right axis) at each speed's offered rate, with the goodput
    target drawn; written as a PNG to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(reports, key=lambda r: r.offered_rps)
    rates = [r.offered_rps for r in rows]
    fig, left = plt.subplots(figsize=(7, 4))
    left.plot(rates, [r.goodput for r in rows], "o-", color="tab:green", label="goodput")
    left.axhline(target, color="tab:green", linestyle=":", linewidth=1)
    left.set_xlabel("offered rate (requests/s)")
    left.set_ylabel("goodput (share within SLO)")
    left.set_ylim(0, 1.05)
    right = left.twinx()
    right.plot(rates, [r.p99_ms / 1000 for r in rows], "s--", color="tab:red", label="p99")
    right.set_ylabel("p99 (s)")
    for r in rows:
        left.annotate(f"{r.speed:g}x", (r.offered_rps, r.goodput), textcoords="offset points",
                      xytext=(0, 6), ha="center", fontsize=8)
    left.set_title("Replay speed sweep: goodput and p99 against the offered rate")
    fig.legend(loc="lower left", bbox_to_anchor=(0.12, 0.15))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
