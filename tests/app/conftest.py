from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rag_core.config import Settings

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.fixture(scope="module")
def app_settings(pg_server_url: str, redis_server: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    name = f"a_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, query = pg_server_url.partition("?")
    url = base.rsplit("/", 1)[0] + f"/{name}" + (f"?{query}" if query else "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield Settings(profile="ci", state_dir=tmp_path_factory.mktemp("state"), database_url=url,
                   redis_url=redis_server.url,
                   jwt_secret="test-secret-for-the-app-tests-0123456789")
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def app_parts(app_settings: Settings) -> Iterator[Any]:
    from rag_core.ingest import ingest_path
    from rag_core.parts import build_parts

    parts = build_parts(app_settings)
    ingest_path(parts, "amara", GOLDEN / "notes" / "amara", progress=False)
    parts.embedder.load()
    yield parts
    parts.close()
