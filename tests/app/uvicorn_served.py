"""The app as operators run it, for tests/app/test_uvicorn.py: ``rag-core serve --workers 2``
(real uvicorn, two processes) on a loopback port, wired by environment to a PostgreSQL database
and a Redis of its own, with the ``hf`` generator talking to the repo's mock LLM so that answers
cost money."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from served_app import kill_group
from servers import RedisProcess

from rag_core.api.auth import issue_token
from rag_core.config import Settings
from rag_core.procs import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
NOTES = ROOT / "golden" / "notes" / "amara"
SECRET = "uvicorn-test-secret-8195958b80816c4cc6fe27bf806784d2af6182323f6c1fc8"
USER = "amara"
TOPICS = ["faith that moves before it sees", "Abraham leaving Haran", "Mama Ngozi's mango trees",
          "running with endurance", "the great cloud of witnesses", "Hebrews 12:1-3",
          "a high priest who understands", "approaching the throne of grace", "Hebrews 4:14-16",
          "Noah building under a clear sky", "faith that waits", "laying aside every weight",
          "Jesus interceding for us", "Hebrews 11:1-8", "steps of obedience", "perseverance",
          "prayer and comfort", "fixing our eyes on Jesus", "sympathy in weakness",
          "the promises greeted from far away"]


@dataclass
class Served:
    url: str
    redis: RedisProcess
    mock_url: str
    mock_app: Any
    settings: Settings
    log_path: Path

    def token(self, user: str = USER) -> str:
        return issue_token(self.settings, user)

    def auth(self, user: str = USER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user)}"}

    def ask(self, question: str, **extra: Any) -> httpx.Response:
        """One request on a fresh connection (so that either worker may take it)."""
        return httpx.post(f"{self.url}/v1/query", json={"query": question, **extra},
                          headers=self.auth(), timeout=30)


@contextmanager
def serve_app(module_database_url: str, short_tmp: Path) -> Iterator[Served]:
    """``rag-core serve --workers 2`` wired to this database, its own Redis and the mock LLM;
    stopped when the block ends."""
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    db_url = module_database_url
    work = short_tmp / f"uv{uuid.uuid4().hex[:6]}"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3):  # a couple of notes, through the package
        shutil.copy(NOTES / f"amara-00{i}.md", notes)
    rd = RedisProcess(work / "redis").start()
    mock_url, stop_mock, mock_app = start_mock()
    settings = Settings(profile="ci", state_dir=work / "state", database_url=db_url,
                        redis_url=rd.url, jwt_secret=SECRET, semantic_cache_enabled=False)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAG_") and k not in ("DATABASE_URL", "REDIS_URL", "HF_TOKEN")}
    env.update({
        "DATABASE_URL": db_url, "REDIS_URL": rd.url,
        "RAG_PROFILE": "dev",  # X-Worker-PID tells the workers apart (a dev-only header)
        "RAG_STATE_DIR": str(work / "state"), "RAG_JWT_SECRET": SECRET,
        "RAG_SEMANTIC_CACHE_ENABLED": "false",  # exact L1 hits only, for a clear test
        "RAG_LLM": "hf", "RAG_LLM_BASE_URL": f"{mock_url}/v1", "RAG_LLM_MAX_RETRIES": "0",
        "RAG_BREAKER_FAIL_MAX": "1", "RAG_BREAKER_RESET_TIMEOUT_S": "60",
        # the breaker's refusals are what is tested: 503s, not answers made from the notes
        "RAG_LLM_FALLBACK": "none",
        "RAG_DB_POOL_MAX_SIZE": "2", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
    })
    log_path = work / "serve.log"
    log = open(log_path, "wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag_core", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "2"],
        cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        # ingest while the workers start (their startup is the slow part of this module)
        parts = build_parts(settings)
        ingest_path(parts, USER, notes, progress=False)
        parts.close()
        wait_http(f"{url}/readyz", 150, proc=proc, log=log_path)  # slow on a loaded machine
        yield Served(url, rd, mock_url, mock_app, settings, log_path)
    finally:
        kill_group(proc)
        log.close()
        stop_mock()
        rd.stop()


def until_both_workers(call: Callable[[], httpx.Response], tries: int = 80
                       ) -> list[httpx.Response]:
    """Repeat ``call`` (fresh connections) until responses came from two worker pids."""
    out: list[httpx.Response] = []
    for _ in range(tries):
        out.append(call())
        if len({r.headers["x-worker-pid"] for r in out}) >= 2:
            return out
    pytest.fail(f"all {tries} requests went to one worker: {out[0].headers['x-worker-pid']}")


def question_stream() -> Iterator[str]:
    for round_ in range(10):
        for topic in TOPICS:
            # a letter, not a number: a number is a fact the notes would have to give
            yield f"What did Pastor Okafor say about {topic}?" + (
                f" ({'abcdefghij'[round_]})" if round_ else "")
