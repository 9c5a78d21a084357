"""``benchmarks/bench_tracing_instructions``: callgrind's dumps read back by their names, each
batch's requests in the order they were asked, and the figures of a mode (the flush counted in
the mean, the tail over single requests)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_tracing_instructions import counts, each, figures  # noqa: E402 (benchmarks/)


def dump(folder: Path, part: int, name: str, total: int) -> None:
    """A dump as callgrind writes one on a client request (its header; costs elided)."""
    (folder / f"cg.out.77.{part}").write_text(
        "# callgrind format\nversion: 1\ncreator: callgrind-3.19.0\npid: 77\n"
        f"cmd:  python bench.py --child\npart: {part}\n\n\n"
        f"desc: Trigger: Client Request: {name}\n\npositions: line\nevents: Ir\n"
        f"summary: {total}\n\n\nfn=(1) main\n0 {total}\n\ntotals: {total}\n")


def test_dumps_are_read_by_name_and_removed(tmp_path: Path) -> None:
    dump(tmp_path, 1, "gap-off-hit-1", 9_000_000_000)
    dump(tmp_path, 2, "off-hit-1-0", 4_100_000)
    (tmp_path / "cg.out.77").write_text("desc: Trigger: Program termination\nsummary: 5\n")
    found = counts(tmp_path)
    assert found == {"gap-off-hit-1": 9_000_000_000, "off-hit-1-0": 4_100_000}
    assert [p.name for p in tmp_path.iterdir()] == ["cg.out.77"]  # not a request's: left


def test_a_batch_is_in_asked_order_and_rep_1_is_not_rep_10() -> None:
    found = {f"on-hit-1-{n}": 1000 + n for n in range(12)}
    found |= {"on-hit-10-0": 5, "on-miss-1-0": 7, "flush-on-hit-1": 3, "gap-on-hit-1": 9}
    assert each(found, "on", "hit", 1) == [1000 + n for n in range(12)]
    assert each(found, "on", "hit", 10) == [5]
    assert each(found, "off", "hit", 1) == []


def test_figures_count_the_flush_in_the_mean_and_not_in_a_request() -> None:
    found = {f"off-hit-1-{n}": 100 for n in range(99)} | {"off-hit-1-99": 1100,
                                                          "flush-off-hit-1": 1000}
    found |= {f"off-hit-2-{n}": 200 for n in range(100)} | {"flush-off-hit-2": 0}
    found |= {f"off-hit-0-{n}": 10**9 for n in range(100)}  # rep 0 warms: not asked for
    got = figures(found, "off", "hit", range(1, 3))
    assert got["per_rep"] == [pytest.approx((99 * 100 + 1100 + 1000) / 100), 200.0]
    assert got["mean"] == pytest.approx((120.0 + 200.0) / 2)
    assert got["flush"] == pytest.approx(5.0)
    assert got["n"] == 200
    assert got["tail"] == [200, 200, 200, 1100]  # p50, p90, p99 (one in 200 above), largest


def test_figures_of_a_mode_never_counted_are_empty() -> None:
    got = figures({"on-hit-1-0": 5}, "off", "hit", range(1, 3))
    assert got["n"] == 0 and got["tail"] == [] and got["per_rep"] == []
