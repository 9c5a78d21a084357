from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rag_core.config import Settings

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


@pytest.fixture(scope="module")
def app_settings(module_database_url: str, redis_server: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(profile="ci", state_dir=tmp_path_factory.mktemp("state"),
                    database_url=module_database_url, redis_url=redis_server.url,
                    jwt_secret="test-secret-for-the-app-tests-0123456789")


@pytest.fixture(scope="module")
def app_parts(app_settings: Settings) -> Iterator[Any]:
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    parts = build_parts(app_settings)
    ingest_path(parts, "amara", GOLDEN / "notes" / "amara", progress=False)
    parts.embedder.load()
    yield parts
    parts.close()
