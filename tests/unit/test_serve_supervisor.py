"""`rag-core serve` hands uvicorn's supervisor the worker health-check timeout of Settings:
uvicorn's own 5 s kills a worker that is busy embedding on a loaded machine, and with it every
request the worker holds."""

from __future__ import annotations

from typing import Any

import pytest

from rag_core import services
from rag_core.cli import main as cli


@pytest.fixture
def served_with(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: seen.update(kwargs, app=app))
    monkeypatch.setattr(services, "ensure_services", lambda settings: settings)
    monkeypatch.setenv("RAG_PROFILE", "dev")
    return seen


def test_serve_passes_the_worker_healthcheck_timeout(served_with: dict[str, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert served_with["timeout_worker_healthcheck"] == 60  # the default, not uvicorn's 5
    monkeypatch.setenv("RAG_WORKER_HEALTHCHECK_S", "240")
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert served_with["timeout_worker_healthcheck"] == 240
    assert served_with["app"] == "rag_core.app:app" and served_with["port"] == 8123


def test_a_healthcheck_timeout_below_one_second_is_refused(
        served_with: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RAG_WORKER_HEALTHCHECK_S", "0")
    assert cli.main(["serve", "--port", "8123"]) != 0
    assert "worker_healthcheck_s" in capsys.readouterr().err
    assert served_with == {}


def test_serve_tells_its_workers_how_many_share_the_cpus(served_with: dict[str, Any],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.setenv("WEB_CONCURRENCY", "9")  # restored after the test
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert os.environ["WEB_CONCURRENCY"] == "1"  # the workers' pools and work slots read it
