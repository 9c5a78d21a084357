"""The embedded servers of a harness run: those it started are stopped when it ends.

The notebooks start embedded PostgreSQL and Redis on demand in the harness's state folder
(``$RAG_STATE_DIR`` or ``.rag_state``) and the load tests in its ``loadtest/`` folder. The runner
takes a snapshot of what was running before the first notebook and, at the end, stops every
embedded server that runs now and did not then; servers that were up already (a developer's
``rag-core services up``) are left alone. A ``tune`` run (or ``--keep-services``) leaves what
it started running for the next run of the loop; ``rag-core services down`` stops it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

Snapshot = dict[Path, frozenset[str]]
# profiles whose runs leave the servers they started running (a tuning loop's next run finds
# them up; ``rag-core services down`` stops them), as ``--keep-services`` does for any profile
KEPT_BY = ("tune",)
SERVERS = ("postgres", "redis")  # the registry's other processes (a warm kernel) are not ours


def state_dirs(base: Path, extra: Iterable[str | Path] = ()) -> list[Path]:
    """The state folders a run may start servers in."""
    dirs = [base, base / "loadtest", *(Path(p) for p in extra if p)]
    return list(dict.fromkeys(d.resolve() for d in dirs))


def _settings(state_dir: Path) -> object:
    from rag_core.config import Settings

    # an embedded-only view of the folder: inherited service URLs are never stopped
    return Settings(profile="ci", state_dir=state_dir, database_url=None, redis_url=None)


def running(dirs: Iterable[Path]) -> Snapshot:
    """Which embedded servers (``postgres``, ``redis``) run in each folder."""
    from rag_core import services

    out: Snapshot = {}
    for folder in dirs:
        if not folder.is_dir():
            out[folder] = frozenset()
            continue
        status = services.status(_settings(folder))  # type: ignore[arg-type]
        out[folder] = frozenset(name for name, row in status.items()
                                if name in SERVERS and row.get("running"))
    return out


def started(before: Mapping[Path, frozenset[str]], dirs: Iterable[Path]) -> list[str]:
    """What runs now in ``dirs`` and did not in ``before`` (``postgres of /path``)."""
    return [f"{name} of {folder}" for folder, names in running(dirs).items()
            for name in sorted(names - before.get(folder, frozenset()))]


def stop_started(before: Mapping[Path, frozenset[str]], dirs: Iterable[Path]
                 ) -> list[str]:
    """Stop what runs now in ``dirs`` and did not in ``before``; returns what was stopped."""
    from rag_core import services

    stopped: list[str] = []
    for folder, names in running(dirs).items():
        settings = _settings(folder)
        for name in sorted(names - before.get(folder, frozenset())):
            stop = services.stop_postgres if name == "postgres" else services.stop_redis
            if stop(settings):  # type: ignore[arg-type]
                stopped.append(f"{name} of {folder}")
    return stopped
