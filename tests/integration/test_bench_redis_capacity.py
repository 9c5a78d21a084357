"""``benchmarks/bench_redis_capacity.py`` on a small load: its worker processes write every
batch once, through the layers' write script (the bound holds across them) and the ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_bench(*flags: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_redis_capacity.py"),
                           "--users", "40", "--days", "1", "--new-share", "1.0",
                           "--workers", "2", *flags],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("flags", "held"), [((), 400), (("--max-entries", "150"), 150)])
def test_two_workers_write_every_question_once(flags: tuple[str, ...], held: int) -> None:
    result = run_bench(*flags)
    assert result["questions"] == 400
    assert result["entries"] == dict.fromkeys(("query", "stale", "semantic", "embedding"), held)
    assert result["cache_writes_refused"] == 0
    assert result["ledger_writes_refused"] == 0
    assert 0 < result["peak_used_memory_bytes"] < result["maxmemory_bytes"]


def test_the_worst_case_includes_free_answers_kept_within_their_byte_limit() -> None:
    result = run_bench("--worst-case")
    assert result["worst_case"] and result["free_share"] == 0.2
    # the last fifth of the day's questions are free: each keeps one L1 entry and no body
    assert result["entries"]["query"] == 400 and result["entries"]["stale"] == 320
    assert result["free_answer_rows"] >= 1  # the largest free answer kept lists rows
    assert result["cache_writes_refused"] == 0 and result["ledger_writes_refused"] == 0
    assert 0 < result["peak_used_memory_bytes"] < result["maxmemory_bytes"]
