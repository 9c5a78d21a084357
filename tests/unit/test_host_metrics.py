"""The host's figures as the app exports them: the memory of the nearest cgroup with a limit
(v2 and v1 trees written here), the free space of the folders the process writes, and the cores
it may use; with no limit anywhere both memory gauges are 0 (nothing to be near)."""

from __future__ import annotations

import os
from pathlib import Path

from rag_core.config import Settings
from rag_core.procs import usable_cpu_share, usable_cpus
from rag_core.telemetry import host, metrics
from rag_core.telemetry.watch import watched_folders

MIB = 1 << 20


def _write(folder: Path, **files: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name.replace("_", ".", 1)).write_text(text)


def _proc(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "proc_cgroup"
    path.write_text(text)
    return path


def test_v2_the_nearest_cgroup_with_a_limit_less_its_inactive_file_cache(
        tmp_path: Path) -> None:
    root = tmp_path / "cg"
    _write(root / "system.slice", memory_max=str(512 * MIB), memory_current=str(300 * MIB),
           memory_stat=f"anon 1\ninactive_file {100 * MIB}\nactive_file 5\n")
    _write(root / "system.slice" / "app.service", memory_max="max",
           memory_current=str(200 * MIB))
    found = host.cgroup_memory(root, _proc(tmp_path, "0::/system.slice/app.service\n"))
    assert found == host.CgroupMemory(200 * MIB, 512 * MIB)  # the parent's limit holds it
    _write(root / "system.slice" / "app.service", memory_max=str(256 * MIB))
    found = host.cgroup_memory(root, _proc(tmp_path, "0::/system.slice/app.service\n"))
    assert found == host.CgroupMemory(200 * MIB, 256 * MIB)


def test_v1_reads_the_memory_controller_and_a_huge_limit_is_none(tmp_path: Path) -> None:
    root = tmp_path / "cg"
    folder = root / "memory" / "docker" / "abc"
    _write(folder, memory_limit_in_bytes=str(1 << 30), memory_usage_in_bytes=str(600 * MIB),
           memory_stat=f"cache 9\ntotal_inactive_file {50 * MIB}\n")
    proc = _proc(tmp_path, "12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    assert host.cgroup_memory(root, proc) == host.CgroupMemory(550 * MIB, 1 << 30)
    _write(folder, memory_limit_in_bytes="9223372036854771712")
    assert host.cgroup_memory(root, proc) is None


def test_without_a_limit_the_gauges_say_0_and_the_folders_their_space(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    host.refresh({"state": state, "postgres": state / "pgdata"}, root=tmp_path / "none",
                 proc_cgroup=tmp_path / "none")
    def value(name: str, **labels: str) -> float:
        found = metrics.REGISTRY.get_sample_value(name, labels)
        assert found is not None, name
        return found

    assert value("cgroup_memory_max_bytes") == 0 and value(
        "cgroup_memory_working_set_bytes") == 0
    found = os.statvfs(state)
    size = value("filesystem_size_bytes", folder="state")
    assert size == found.f_blocks * found.f_frsize
    assert 0 < value("filesystem_avail_bytes", folder="state") <= size
    assert value("process_cpu_cores") == usable_cpu_share()
    assert usable_cpus() - 1 < usable_cpu_share() <= usable_cpus()


def test_the_folders_watched_are_the_state_and_the_embedded_databases() -> None:
    embedded = Settings(profile="ci", state_dir="/srv/rag")
    assert watched_folders(embedded.services) == {"state": Path("/srv/rag"),
                                         "postgres": Path("/srv/rag/pgdata")}
    external = Settings(profile="ci", state_dir="/srv/rag", database_url="postgresql://db/x")
    assert watched_folders(external.services) == {"state": Path("/srv/rag")}
