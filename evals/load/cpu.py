"""How many cores the load generator took from the app during a load run.

``CpuSampler`` reads the CPU time (user + system, from /proc through psutil) of two groups of
processes every ``every_s``: the load generator (the Locust master and its workers) and the app
(the ``rag-core serve`` process and every process under it: uvicorn's workers). Each process
counts from the first time it is seen, so both groups are measured over the same window; a
process that exits loses at most its last interval. ``summary()`` gives CPU seconds and cores
(CPU seconds over the wall time of the window) per group.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence

import psutil


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
