"""``evals.replay`` through the app in process (httpx.ASGITransport) on the real pipeline,
PostgreSQL and Redis: a log's questions are answered as the mapped users, a repeat is a hit,
``no_cache`` makes the run cold, and a server that refuses the tokens is a clear error."""

from __future__ import annotations

import csv
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from evals.replay.run import ReplayError, Setup, replay_log
from rag_core.app import create_app
from rag_core.config import Settings

pytestmark = pytest.mark.integration
NOTES = Path(__file__).resolve().parents[2] / "golden" / "notes" / "amara"
QUESTION = "What story did Pastor Miriam Okafor tell about her grandmother?"
OTHER = "What did Pastor Okafor say about the marathon?"


@pytest.fixture(scope="module")
def dataset(app_parts: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of one user of its own (amara's notes), so no other test's answers meet it."""
    from rag_core.ingest.ingestion import ingest_path

    name = f"rp-{uuid.uuid4().hex[:10]}"
    ingest_path(app_parts, name, NOTES, progress=False)
    folder = tmp_path_factory.mktemp("replay-dataset")
    (folder / "notes" / name).mkdir(parents=True)
    return folder


def transport(settings: Settings, parts: Any) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=create_app(settings, parts=parts))


def log_of(path: Path, rows: list[tuple[float, str, str]]) -> Path:
    path.write_text("".join(json.dumps({"ts": ts, "user_id": u, "question": q}) + "\n"
                            for ts, u, q in rows), encoding="utf-8")
    return path


def test_a_log_replays_through_the_app_with_its_repeats_hit(
        app_settings: Settings, app_parts: Any, dataset: Path, tmp_path: Path) -> None:
    first = log_of(tmp_path / "first.jsonl", [(0.0, "prod-1", QUESTION)])
    asked = replay_log(first, "http://app", 1.0, None, Setup(dataset=dataset), app_settings,
                       transport(app_settings, app_parts))
    assert [s.outcome for s in asked.sent] == ["miss"]
    # the same question from another log user: the same mapped user, a hit
    log = log_of(tmp_path / "log.jsonl", [(0.0, "prod-3", QUESTION), (0.5, "prod-2", OTHER),
                                          (0.6, "prod-1", "")])
    run = replay_log(log, "http://app", 10.0, tmp_path / "out", Setup(dataset=dataset),
                     app_settings, transport(app_settings, app_parts))
    outcomes = [s.outcome for s in sorted(run.sent, key=lambda s: s.send_s)]
    assert outcomes[0] == "hit" and outcomes[1] in ("miss", "no-context")
    assert run.report.problems == {"no_question": 1} and run.report.sent == 2
    assert run.report.hit_rate == 0.5
    with run.paths["requests"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["cache_layer"] for r in rows] == ["query", ""]
    assert all(float(r["first_byte_s"]) <= float(r["last_byte_s"]) for r in rows)

    cold = replay_log(log, "http://app", 10.0, None, Setup(dataset=dataset, no_cache=True),
                      app_settings, transport(app_settings, app_parts))
    assert "hit" not in {s.outcome for s in cold.sent} and cold.report.cold


def test_a_server_refusing_the_tokens_is_a_clear_error(
        app_settings: Settings, app_parts: Any, dataset: Path, tmp_path: Path) -> None:
    log = log_of(tmp_path / "log.jsonl", [(0.0, "prod-1", QUESTION)])
    other = app_settings.with_overrides(jwt_secret=SecretStr("another-secret-" + "9" * 40))
    with pytest.raises(ReplayError) as refused:
        replay_log(log, "http://app", 1.0, None, Setup(dataset=dataset), other,
                   transport(app_settings, app_parts))
    assert refused.value.code == "TOKEN_REFUSED" and refused.value.exit == 2
