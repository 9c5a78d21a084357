"""Local servers: a free loopback port, and waiting until a server answers.

Every place that starts a process or a thread serving HTTP (embedded Redis, the mock and local
LLM servers, uvicorn in tests, the load-test orchestration) uses these, so that "ready" means
the same thing everywhere: a condition checked until a generous deadline, never a fixed sleep.
And how many CPUs a process may use, which sizes every thread pool it starts, and a private
runtime folder for a library that asks for one.
"""

from __future__ import annotations

import math
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path

POLL_S = 0.05


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, *,
               alive: Callable[[], bool] | None = None, poll_s: float = POLL_S) -> None:
    """Call ``check`` until it returns True; ``TimeoutError`` after ``timeout_s``, or
    ``RuntimeError`` as soon as ``alive`` says the process behind it is gone."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if alive is not None and not alive():
            raise RuntimeError(f"{what}: the process stopped before it was ready")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not ready after {timeout_s:.0f} s")
        time.sleep(poll_s)


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 200."""
    import httpx

    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_http(url: str, timeout_s: float, *, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    """Wait until ``GET url`` answers 200; with ``proc``, fail at once when it exits, showing
    the end of its ``log``."""
    try:
        wait_until(lambda: http_ok(url), timeout_s, url,
                   alive=(lambda: proc.poll() is None) if proc is not None else None,
                   poll_s=0.2)
    except (TimeoutError, RuntimeError) as exc:
        tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
        raise type(exc)(f"{exc}" + (f"; the end of {log}:\n{tail}" if tail else "")) from None


def stop_group(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM to the process group of ``proc`` (started with ``start_new_session``), SIGKILL
    after ``grace_s``."""
    if proc is None or proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _cgroup_quota_cpus(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The CPUs the cgroup quota allows (``cpu.max``: quota and period, v2; ``cpu.cfs_*``, v1),
    or None without a quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpu_share() -> float:
    """The cores this process may use, exactly: its affinity mask, capped by the cgroup's CPU
    quota (1.5 with a quota of one and a half cores); what ``process_cpu_cores`` exports."""
    try:
        count: float = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_quota_cpus()
    if quota is not None:
        count = min(count, quota)
    return max(count, 0.01)


def usable_cpus() -> int:
    """How many CPUs this process may run on at once: ``usable_cpu_share`` rounded up, never the
    host's core count alone. Thread pools sized past this only wait on each other."""
    return max(1, math.ceil(usable_cpu_share()))


def worker_cpus(environ: Mapping[str, str] | None = None) -> int:
    """The CPUs one server worker has to itself: :func:`usable_cpus` divided by the workers of
    the server (``WEB_CONCURRENCY``, which ``rag-core serve --workers`` sets, as uvicorn and
    gunicorn read it; 1 when unset or not a number), at least 1. Pools sized per worker past
    this make the workers' threads wait on each other."""
    env = os.environ if environ is None else environ
    try:
        workers = max(1, int(env.get("WEB_CONCURRENCY", "1")))
    except ValueError:
        workers = 1
    return max(1, usable_cpus() // workers)


def pool_threads(configured: int) -> int:
    """A thread pool's size: ``configured`` when set (above 0), else :func:`worker_cpus`."""
    return configured if configured > 0 else worker_cpus()


def private_runtime_dir() -> Path | None:
    """``<tmp>/runtime-<uid>``, created 0700; None when it exists but is not ours or not a
    private folder (then platformdirs decides, and says why)."""
    folder = Path(tempfile.gettempdir()) / f"runtime-{os.geteuid()}"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    private = stat.S_ISDIR(info.st_mode) and (info.st_mode & 0o777) == 0o700
    return folder if private and info.st_uid == os.geteuid() else None
