"""How many cores the load generator took from the app during a load run.

``CpuSampler`` reads the CPU time (user + system, from /proc through psutil) of two groups of
processes every ``every_s``: the load generator (the Locust master and its workers) and the app
(the ``rag-core serve`` process and every process under it: uvicorn's workers). Each process
counts from the first time it is seen, so both groups are measured over the same window; a
process that exits loses at most its last interval. ``summary()`` gives CPU seconds and cores
(CPU seconds over the wall time of the window) per group; ``window(start, end)`` the cores of
each group between two epoch seconds (a spike's burst: issue 82), from the samples' timeline:
``cores_between``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import psutil

Timeline = list[tuple[float, dict[str, float]]]  # CpuSampler.timeline


def _cpu_s(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


class CpuSampler(threading.Thread):
    def __init__(self, groups: dict[str, Sequence[int]], every_s: float = 0.5) -> None:
        """``groups``: a name and the root pids of each group (their children count too)."""
        super().__init__(daemon=True, name="cpu-sampler")
        self.groups = {name: list(pids) for name, pids in groups.items()}
        self.every_s = every_s
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.member: dict[int, str] = {}
        self.done = threading.Event()
        self.started_at = self.ended_at = 0.0
        # (epoch second, CPU seconds of each group so far) at each sample
        self.timeline: Timeline = []

    def _sample(self) -> None:
        for name, roots in self.groups.items():
            for root in roots:
                try:
                    proc = psutil.Process(root)
                    procs = [proc, *proc.children(recursive=True)]
                except psutil.Error:
                    continue
                for p in procs:
                    try:
                        cpu = _cpu_s(p)
                    except psutil.Error:
                        continue
                    self.first.setdefault(p.pid, cpu)
                    self.last[p.pid] = cpu
                    self.member.setdefault(p.pid, name)
        used = dict.fromkeys(self.groups, 0.0)
        for pid, group in self.member.items():
            used[group] += self.last[pid] - self.first[pid]
        self.timeline.append((time.time(), used))

    def run(self) -> None:
        self.started_at = time.monotonic()
        while True:
            self._sample()
            self.ended_at = time.monotonic()
            if self.done.wait(self.every_s):
                return

    def stop(self) -> None:
        self.done.set()
        self.join(timeout=10)

    def summary(self) -> dict[str, object]:
        wall = max(1e-9, self.ended_at - self.started_at)
        out: dict[str, object] = {"cpu_window_s": round(wall, 1), "machine_cores": os.cpu_count()}
        for name in self.groups:
            pids = [pid for pid, group in self.member.items() if group == name]
            used = sum(self.last[pid] - self.first[pid] for pid in pids)
            out[f"{name}_cpu_s"] = round(used, 2)
            out[f"{name}_cores"] = round(used / wall, 3)
            out[f"{name}_processes"] = len(pids)
        return out


def cores_between(timeline: Timeline, start: float, end: float) -> dict[str, float | None]:
    """``<group>_cores`` between the first and last samples inside ``start``..``end`` (epoch
    seconds); None without two samples there."""
    inside = [(t, used) for t, used in timeline if start <= t <= end]
    groups = timeline[0][1] if timeline else {}
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return {f"{name}_cores": None for name in groups}
    (t0, first), (t1, last) = inside[0], inside[-1]
    return {f"{name}_cores": round((last[name] - first[name]) / (t1 - t0), 3) for name in groups}
