"""Thread pools are sized to the CPUs a process may use: its affinity and its cgroup's quota,
never the host's core count alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_core import procs
from rag_core.embedding.runtimes import MAX_BATCH_TOKENS, token_batches


def _cgroup(tmp_path: Path, cpu_max: str) -> Path:
    (tmp_path / "cpu.max").write_text(cpu_max + "\n")
    return tmp_path


def test_a_cgroup_quota_is_read_as_cpus(tmp_path: Path) -> None:
    assert procs._cgroup_quota_cpus(_cgroup(tmp_path, "150000 100000")) == 1.5
    assert procs._cgroup_quota_cpus(_cgroup(tmp_path, "max 100000")) is None
    assert procs._cgroup_quota_cpus(tmp_path / "none") is None


def test_a_cgroup_v1_quota_is_read_too(tmp_path: Path) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert procs._cgroup_quota_cpus(tmp_path) == 0.5
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert procs._cgroup_quota_cpus(tmp_path) is None


def test_usable_cpus_follow_the_affinity_mask() -> None:
    assert procs.usable_cpus() <= len(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})
        assert procs.usable_cpus() == 1
        assert procs.pool_threads(0) == 1
    finally:
        os.sched_setaffinity(0, before)


def test_usable_cpus_are_capped_by_the_quota_rounded_up(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    monkeypatch.setattr(procs, "_cgroup_quota_cpus", lambda: 0.5)
    assert procs.usable_cpus() == 1
    monkeypatch.setattr(procs, "_cgroup_quota_cpus", lambda: 1000.0)
    assert procs.usable_cpus() == len(os.sched_getaffinity(0))


def test_a_configured_pool_size_wins() -> None:
    assert procs.pool_threads(7) == 7


def test_each_server_worker_sizes_its_pools_to_its_share_of_the_cpus(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(procs, "usable_cpus", lambda: 8)
    monkeypatch.setenv("WEB_CONCURRENCY", "4")  # rag-core serve --workers 4
    assert procs.pool_threads(0) == 2
    monkeypatch.setenv("WEB_CONCURRENCY", "16")
    assert procs.pool_threads(0) == 1  # never below one
    monkeypatch.delenv("WEB_CONCURRENCY")
    assert procs.pool_threads(0) == 8  # one process: all its CPUs


def test_batches_hold_at_most_the_token_bound_and_every_text_once() -> None:
    lengths = sorted([512, 300, 256, 256, 200, 40, 12, 12, 3] + [8] * 100, reverse=True)
    batches = token_batches(lengths, batch_size=64)
    covered = [i for start, stop in batches for i in range(start, stop)]
    assert covered == list(range(len(lengths)))
    for start, stop in batches:
        assert stop - start <= 64
        assert (stop - start) * lengths[start] <= MAX_BATCH_TOKENS or stop - start == 1
    assert token_batches([MAX_BATCH_TOKENS * 2], batch_size=64) == [(0, 1)]  # never empty
    assert token_batches([], batch_size=64) == []
