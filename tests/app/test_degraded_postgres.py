"""PostgreSQL down, Redis up, through a real ``rag-core serve``: cached answers keep being served
(the notes version lives in Redis, so an L1 hit reads no database), ``/readyz`` says
``degraded`` and names PostgreSQL (the instance stays in rotation), new questions get a coded
503, and all is well again once PostgreSQL is back."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from served_app import clean_env, serve, wait_for
from servers import OwnPostgres

from rag_core.api.auth import issue_token
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
SECRET = "degraded-postgres-test-secret-03a6771b982e4c56caa313f1eb972f9611ac52c588cf206f"
QUESTION = "How old was Abraham when he left Haran?"


def test_cached_answers_while_postgres_is_down(own_postgres: OwnPostgres, redis_factory: Any,
                                               short_tmp: Path) -> None:
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    redis_server = redis_factory()
    work = short_tmp / "degraded"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3):
        shutil.copy(ROOT / "golden" / "notes" / "amara" / f"amara-00{i}.md", notes)
    settings = Settings(profile="ci", state_dir=work / "state", database_url=own_postgres.url,
                        redis_url=redis_server.url)
    parts = build_parts(settings)
    ingest_path(parts, "amara", notes, progress=False)
    parts.close()
    env = clean_env(RAG_PROFILE="ci", RAG_STATE_DIR=str(work / "state"),
                    DATABASE_URL=own_postgres.url, REDIS_URL=redis_server.url,
                    RAG_JWT_SECRET=SECRET, RAG_DB_CONNECT_TIMEOUT_S="1",
                    RAG_DB_POOL_TIMEOUT_S="1")
    token = issue_token(settings.with_overrides(jwt_secret=SECRET), "amara")
    auth = {"Authorization": f"Bearer {token}"}
    with serve(work, env, ready=lambda s: s.get("/readyz").status_code == 200) as app:
        first = app.post("/v1/query", json={"query": QUESTION}, headers=auth)
        assert first.status_code == 200 and first.json()["cache"]["query"] == "miss"
        assert not first.json()["no_context"]  # generated, so cached
        own_postgres.stop()
        try:
            ready = wait_for("/readyz to say degraded",
                             lambda: (r := app.get("/readyz")).json()["status"] == "degraded"
                             and r, deadline_s=60)
            assert ready.status_code == 200 and ready.json()["failing"] == ["postgres"]
            again = app.post("/v1/query", json={"query": QUESTION}, headers=auth)
            assert again.status_code == 200, again.text
            assert again.json()["cache"]["query"] == "hit"
            assert again.json()["answer"] == first.json()["answer"]
            new = app.post("/v1/query", json={"query": "What did Okafor say about rest?"},
                           headers=auth)
            assert new.status_code == 503
            assert new.json()["error"]["code"] == "VECTOR_SEARCH_FAILED"
            assert new.headers["retry-after"]
        finally:
            own_postgres.start()
        wait_for("/readyz to be ready again",
                 lambda: app.get("/readyz").json()["status"] == "ready", deadline_s=90)
        r = httpx.post(f"{app.url}/v1/query", json={"query": "What did Okafor say about rest?"},
                       headers=auth, timeout=60)
        assert r.status_code == 200
