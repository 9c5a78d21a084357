"""``rag-core serve`` as a real process for tests (tests import it by name: tests/ has no
packages): its own log file (never the caller's pipes), a clean environment, and waits on
conditions with generous deadlines, never fixed sleeps."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from rag_core.procs import free_port

T = TypeVar("T")
__all__ = ["ServedApp", "clean_env", "free_port", "kill_group", "serve", "wait_for"]
DROPPED = ("DATABASE_URL", "REDIS_URL", "HF_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
           "PROMETHEUS_MULTIPROC_DIR")


def wait_for(what: str, probe: Callable[[], T | None], deadline_s: float = 120.0,
             every_s: float = 0.2, log: Path | None = None) -> T:
    """Call ``probe`` until it returns something other than None (or False); fail with
    ``what`` (and the tail of ``log``) after ``deadline_s``."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            value = probe()
        except (httpx.HTTPError, OSError):
            value = None
        if value is not None and value is not False:
            return value
        if time.monotonic() > end:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out after {deadline_s:.0f} s waiting for {what}\n{tail}")
        time.sleep(every_s)


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any RAG_* or service setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_") and k not in DROPPED}
    env.update({"TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@dataclass
class ServedApp:
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=30, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def serve(work: Path, env: dict[str, str], *, workers: int = 1,
          ready: Callable[[ServedApp], bool] | None = None,
          deadline_s: float = 180.0) -> Iterator[ServedApp]:
    """Run ``python -m rag_core serve`` in ``work`` with ``env``; yield once ``ready`` (default:
    ``/healthz`` answers 200) holds."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag_core", "serve", "--host", "127.0.0.1", "--port",
             str(port), "--workers", str(workers)],
            cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    served = ServedApp(f"http://127.0.0.1:{port}", port, proc, log_path)
    check = ready or (lambda s: s.get("/healthz").status_code == 200)

    def probe() -> bool | None:
        if proc.poll() is not None:
            raise AssertionError(f"rag-core serve exited with {proc.returncode}:\n{served.log()}")
        return check(served)

    try:
        wait_for("the app to start", probe, deadline_s, log=log_path)
        yield served
    finally:
        kill_group(proc)
