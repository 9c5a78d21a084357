"""The embedding runtime falls back for real: ``rag-core ingest`` and ``rag-core serve`` run as
processes in which the ``openvino`` package fails to import (an import hook set up before
anything else, as on a host its wheel does not support), with OpenVINO configured. Both go on
with the next runtime (ONNX Runtime): the notes are ingested, the service starts and answers,
``/readyz`` names the runtime in use, ``/metrics`` counts the fallback once; and the pool, disk
and CPU series are on ``/metrics``."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from served_app import ServedApp, clean_env, serve, wait_for

from rag_core.api.auth import issue_token
from rag_core.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
METRICS_TOKEN = "fallback-metrics-token-0123456789"
OPERATOR = {"Authorization": f"Bearer {METRICS_TOKEN}"}
SECRET = "fallback-test-secret-0123456789abcdef"
# run by every Python process started with this folder first on PYTHONPATH
BLOCKER = """import sys
sys.modules["openvino"] = None  # `import openvino` now raises ImportError
"""


@pytest.fixture(scope="module")
def env(module_database_url: str, redis_server: Any, short_tmp: Path) -> dict[str, str]:
    blocker = short_tmp / "no_openvino"
    blocker.mkdir(exist_ok=True)
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(blocker), str(ROOT),
                                       os.environ.get("PYTHONPATH", "")) if p)
    return clean_env(RAG_PROFILE="ci", RAG_STATE_DIR=str(short_tmp / "fb-state"),
                     DATABASE_URL=module_database_url, REDIS_URL=redis_server.url,
                     RAG_EMBEDDING_BACKEND="openvino", RAG_JWT_SECRET=SECRET,
                     RAG_METRICS_TOKEN=METRICS_TOKEN, PYTHONPATH=path)


@pytest.fixture(scope="module")
def served(env: dict[str, str], short_tmp: Path) -> Iterator[ServedApp]:
    work = short_tmp / "fb"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3):
        shutil.copy(ROOT / "golden" / "notes" / "amara" / f"amara-00{i}.md", notes)
    blocked = subprocess.run([sys.executable, "-c", "import openvino"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert blocked.returncode != 0 and "import of openvino halted" in blocked.stderr
    ingest = subprocess.run([sys.executable, "-m", "rag_core", "ingest", str(notes), "--user",
                             "amara"], cwd=work, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL, timeout=600)
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    assert "embedding runtime openvino failed; onnx computes the vectors" in ingest.stderr
    with serve(work, env, ready=lambda s: s.get("/readyz", headers=OPERATOR).json()
               ["checks"]["model_loaded"]) as app:
        yield app


def test_the_service_starts_and_answers_on_the_next_runtime(served: ServedApp) -> None:
    ready = served.get("/readyz", headers=OPERATOR)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["embedding_runtime"] == "onnx"
    settings = Settings(profile="ci", jwt_secret=SECRET)
    token = {"Authorization": f"Bearer {issue_token(settings, 'amara')}"}
    r = served.post("/v1/query", json={"query": "What did Pastor Okafor say about faith?"},
                    headers=token)
    assert r.status_code == 200, r.text
    assert r.json()["citations"], r.json()  # the ingested notes were found
    log = served.log()
    assert log.count("embedding runtime openvino failed") == 1  # logged once


def test_the_fallback_and_the_pool_disk_and_cpu_series_are_on_metrics(
        served: ServedApp) -> None:
    def scrape() -> str:
        return httpx.get(f"{served.url}/metrics", headers=OPERATOR, timeout=30).text

    # the pool opens with the first question; the watch reads it every 15 s (INTERVAL_S)
    text = wait_for("the pool's figures after its first use", lambda: (
        t := scrape()) and re.search(r"^db_pool_max_size [1-9]", t, re.M) and t, 60)

    def sample(name: str, labels: str = "") -> float:
        found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
        assert found, f"{name}{labels} not on /metrics"
        return float(found.group(1))

    assert sample("embedding_runtime_fallbacks_total", '{from="openvino",to="onnx"}') == 1
    assert sample("db_pool_max_size") >= 1 and sample("db_pool_size") >= 1
    assert sample("db_pool_requests_total") >= 1
    for name in ("db_pool_in_use", "db_pool_waiting", "db_pool_wait_seconds_total"):
        sample(name)
    assert sample('filesystem_avail_bytes', '{folder="state"}') > 0
    assert sample("process_cpu_cores") > 0 and sample("process_cpu_seconds_total") > 0
    sample("cgroup_memory_max_bytes")
    sample("redis_connected_clients")
