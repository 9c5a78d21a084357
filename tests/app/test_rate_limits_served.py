"""The request limits in a real ``rag-core serve`` of two uvicorn workers on this module's
PostgreSQL and Redis: ``rag-core ask --server`` is limited like any question (the worker that
answers does not matter: the count is in Redis), prints ``error RATE_LIMITED`` and exits 2; the
refusals are counted in ``rate_limit_rejections_total{limit}``; ``rag-core limits set`` reaches
the running server without a restart."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from served_app import ServedApp, clean_env, serve

from rag_core.cli import main as cli
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUESTION = "Who rebuilt the wall of Jerusalem?"
METRICS_TOKEN = "limits-metrics-token-0123456789"


@pytest.fixture(scope="module")
def served(app_parts: Any, app_settings: Settings, short_tmp: Path) -> Iterator[ServedApp]:
    work = short_tmp / f"lim{uuid.uuid4().hex[:6]}"
    env = clean_env(DATABASE_URL=str(app_settings.services.database_url),
                    REDIS_URL=str(app_settings.services.redis_url), RAG_PROFILE="ci",
                    RAG_STATE_DIR=str(app_settings.services.state_dir),
                    RAG_JWT_SECRET=app_settings.auth.jwt_secret.get_secret_value(),
                    RAG_METRICS_TOKEN=METRICS_TOKEN, RAG_RATE_LIMIT_PER_MINUTE="3")
    with serve(work, env, workers=2) as app:
        yield app


@pytest.fixture
def env(app_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in (("DATABASE_URL", app_settings.services.database_url),
                        ("REDIS_URL", app_settings.services.redis_url), ("RAG_PROFILE", "ci"),
                        ("RAG_STATE_DIR", app_settings.services.state_dir),
                        ("RAG_JWT_SECRET", app_settings.auth.jwt_secret.get_secret_value())):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("RAG_SERVER_URL", raising=False)
    monkeypatch.delenv("RAG_SERVER_TOKEN", raising=False)
    return app_settings


def rejections(served: ServedApp, limit: str) -> float:
    text = served.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    found = re.search(rf'^rate_limit_rejections_total{{limit="{limit}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_ask_through_the_server_is_limited_and_says_which_limit(
        served: ServedApp, env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    # a user of this test alone: the windows are counted in the session's Redis, which other
    # servers of the same tests count amara's questions in too (the prod profile's limits)
    user = f"lim-{uuid.uuid4().hex[:8]}"
    codes, errors = [], []
    for _ in range(5):
        codes.append(cli.main(["ask", QUESTION, "--user", user, "--server", served.url]))
        errors.append(capsys.readouterr().err)
    assert codes == [0, 0, 0, 2, 2], errors
    assert errors[3].startswith("error RATE_LIMITED:") and "minute" in errors[3]
    assert "retry after" in errors[3]
    assert rejections(served, "minute") == 2


def test_own_limits_reach_the_running_server_without_a_restart(
        served: ServedApp, env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    # a user with no notes, never seen by the running server: their own limit of 1 a minute
    # (below the server's 3) is read from PostgreSQL on their first question
    assert cli.main(["limits", "set", "cara", "--per-minute", "1"]) == 0
    capsys.readouterr()
    codes = [cli.main(["ask", QUESTION, "--user", "cara", "--server", served.url])
             for _ in range(2)]
    assert codes == [0, 2] and "RATE_LIMITED" in capsys.readouterr().err
    assert cli.main(["limits", "clear", "cara"]) == 0
