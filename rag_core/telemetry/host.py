"""The machine under the process, watched: the free space of the folders it writes, its memory
against the cgroup's limit, and the cores it may use (beside ``process_cpu_seconds_total``, which
``prometheus_client``'s process collector exports).

- ``filesystem_avail_bytes{folder}`` and ``filesystem_size_bytes{folder}``: the space an
  unprivileged writer has left, and the whole, of the filesystem under each folder the process
  writes (``state``: the state folder; ``postgres``: the embedded PostgreSQL's data, where it is
  embedded; with ``DATABASE_URL`` the database's disk is the operator's exporter's), as
  node_exporter's ``node_filesystem_avail_bytes`` counts it (``statvfs``: ``f_bavail``).
- ``cgroup_memory_working_set_bytes`` and ``cgroup_memory_max_bytes``: the memory of the
  nearest cgroup (the process's own, or the first above it) that has a limit, and that limit;
  the working set is the usage less the inactive file cache the kernel reclaims before it kills
  (cAdvisor's ``container_memory_working_set_bytes``). Without a limit both are 0 (as
  ``redis_memory_max_bytes`` says "no cap"): there is nothing to be near.
- ``process_cpu_cores``: the cores the process may use (its affinity mask capped by the cgroup's
  CPU quota, ``procs.usable_cpu_share``); ``rate(process_cpu_seconds_total)`` over it is the
  share of them in use.

cgroup v2 (``memory.max``, ``memory.current``, ``memory.stat``'s ``inactive_file``) and v1
(``memory.limit_in_bytes``, ``memory.usage_in_bytes``, ``total_inactive_file``) are both read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rag_core.procs import usable_cpu_share
from rag_core.telemetry import metrics

CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 1 << 60  # v1 writes "no limit" as a huge number (PAGE_COUNTER_MAX pages)



@dataclass(frozen=True)
class CgroupMemory:
    working_set: int
    limit: int


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max": no limit


def _stat(path: Path, *names: str) -> int:
    """The first of ``names`` in a ``memory.stat`` file (0 when none is there)."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return 0
    found = dict(line.split(maxsplit=1) for line in lines if " " in line)
    for name in names:
        if name in found and found[name].strip().isdigit():
            return int(found[name])
    return 0


def _cgroup_paths(proc_cgroup: Path) -> tuple[str | None, str | None]:
    """The process's cgroup path in the v2 hierarchy and in v1's memory controller."""
    unified = memory = None
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        number, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if number == "0" and controllers == "":
            unified = path
        elif "memory" in controllers.split(","):
            memory = path
    return unified, memory


def _upwards(base: Path, path: str) -> list[Path]:
    """The folder of ``path`` under ``base``, then each one above it up to ``base``."""
    folder = base / path.strip("/") if path.strip("/") else base
    chain = [folder]
    while folder != base and base in folder.parents:
        folder = folder.parent
        chain.append(folder)
    return chain


def cgroup_memory(root: Path = CGROUP_ROOT,
                  proc_cgroup: Path = Path("/proc/self/cgroup")) -> CgroupMemory | None:
    """The working set and limit of the nearest cgroup with a memory limit; None without one."""
    unified, memory = _cgroup_paths(proc_cgroup)
    if unified is not None:
        for folder in _upwards(root, unified):
            limit = _read_int(folder / "memory.max")
            current = _read_int(folder / "memory.current")
            if limit is not None and current is not None:
                inactive = _stat(folder / "memory.stat", "inactive_file")
                return CgroupMemory(max(0, current - inactive), limit)
    if memory is not None:
        for folder in _upwards(root / "memory", memory):
            limit = _read_int(folder / "memory.limit_in_bytes")
            usage = _read_int(folder / "memory.usage_in_bytes")
            if limit is not None and usage is not None and limit < UNLIMITED:
                inactive = _stat(folder / "memory.stat", "total_inactive_file", "inactive_file")
                return CgroupMemory(max(0, usage - inactive), limit)
    return None


def folder_space(folder: Path) -> tuple[int, int] | None:
    """(available, size) bytes of the filesystem under ``folder`` (None: not there)."""
    try:
        found = os.statvfs(folder)
    except OSError:
        return None
    return found.f_bavail * found.f_frsize, found.f_blocks * found.f_frsize


def refresh(folders: Mapping[str, Path], *, root: Path = CGROUP_ROOT,
            proc_cgroup: Path = Path("/proc/self/cgroup")) -> None:
    """Read the host's figures once and set the gauges (never raises on a missing file)."""
    for name, folder in folders.items():
        space = folder_space(folder)
        if space is None:  # not made yet: nothing written there
            continue
        metrics.FILESYSTEM_AVAIL.labels(folder=name).set(space[0])
        metrics.FILESYSTEM_SIZE.labels(folder=name).set(space[1])
    memory = cgroup_memory(root, proc_cgroup) or CgroupMemory(0, 0)
    metrics.CGROUP_MEMORY_MAX.set(memory.limit)
    metrics.CGROUP_MEMORY_WORKING_SET.set(memory.working_set)
    metrics.CPU_CORES.set(usable_cpu_share())


__all__ = ["CgroupMemory", "cgroup_memory", "folder_space", "refresh"]
