"""Real servers that a test owns (imported by name: tests/ has no packages)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from rag_core.procs import free_port


class RedisProcess:
    """A redis-server of one test, which the test may stop and start again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        from rag_core.services import spawn_redis

        self.proc = spawn_redis(self.data_dir, self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None
