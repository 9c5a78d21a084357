"""Where the embedded servers of a state folder are written down: ``services.json`` (which
PostgreSQL, which Redis port and pid, which other long-lived processes), read and written under
a file lock (``services.lock``) so that processes arriving at once start one server."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag_core.config import Services
from rag_core.errors import DependencyError


class ServiceStartFailed(DependencyError):
    code = "SERVICE_START_FAILED"
    default_message = "An embedded service could not be started."


@dataclass(frozen=True)
class Endpoints:
    database_url: str
    redis_url: str
    postgres: str  # "embedded" or "external"
    redis: str


def state_folder(section: Services) -> Path:
    path = Path(section.state_dir).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def registry_path(section: Services) -> Path:
    return state_folder(section) / "services.json"


def read_registry(section: Services) -> dict[str, dict[str, object]]:
    path = registry_path(section)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_registry(section: Services, data: dict[str, dict[str, object]]) -> None:
    path = registry_path(section)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
