"""``rag-core serve --workers N`` starts its workers with two glibc malloc arenas each
(``MALLOC_ARENA_MAX``), unless the operator set the variable (docs/deploy.md, "The app's memory
over time")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag_core import services
from rag_core.cli import main as cli
from rag_core.telemetry.metrics import MULTIPROC_ENV


@pytest.fixture
def arenas_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str | None]:
    """``MALLOC_ARENA_MAX`` as uvicorn would pass it to the workers it starts."""
    import uvicorn

    seen: list[str | None] = []
    monkeypatch.setattr(uvicorn, "run",
                        lambda app, **kwargs: seen.append(os.environ.get("MALLOC_ARENA_MAX")))
    monkeypatch.setattr(services, "ensure_services", lambda settings: settings)
    monkeypatch.setenv("RAG_PROFILE", "dev")
    monkeypatch.setenv("RAG_STATE_DIR", str(tmp_path))
    for name in (MULTIPROC_ENV, "MALLOC_ARENA_MAX"):  # serve sets both in os.environ:
        monkeypatch.setenv(name, "")  # recorded first, so that the test's end takes them out
        monkeypatch.delenv(name)  # (a delenv of an unset name records nothing to undo)
    monkeypatch.setenv("WEB_CONCURRENCY", "1")  # serve sets it: restored after the test
    return seen


def test_the_workers_get_two_arenas_by_default(arenas_at_start: list[str | None]) -> None:
    assert cli.main(["serve", "--port", "8123", "--workers", "2"]) == 0
    assert arenas_at_start == ["2"]


def test_an_operators_own_value_is_kept(arenas_at_start: list[str | None],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cli.main(["serve", "--port", "8123", "--workers", "2"]) == 0
    assert arenas_at_start == ["4"]


def test_one_worker_runs_in_the_process_already_started(
        arenas_at_start: list[str | None]) -> None:
    # glibc read its environment when this process started: setting it now would change
    # nothing, and serve leaves it alone (docs/deploy.md: set it yourself)
    assert cli.main(["serve", "--port", "8123"]) == 0
    assert arenas_at_start == [None]
