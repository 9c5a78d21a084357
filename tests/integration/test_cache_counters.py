"""Cache counts live in one Redis hash shared by every process: hits served by one process
(the server) show in ``rag-core cache stats`` run as another, on the real Redis."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from rag_core.cache.counters import SharedCounters
from rag_core.config import Settings
from rag_core.procs import wait_until
from rag_core.redis_kv.keys import cache_counters_key

ROOT = Path(__file__).resolve().parents[2]


def cache_stats(tmp_path: Path, redis_url: str) -> dict[str, Any]:
    from served_app import clean_env

    out = subprocess.run([sys.executable, "-m", "rag_core", "cache", "stats"], cwd=tmp_path,
                         env=clean_env(REDIS_URL=redis_url, RAG_PROFILE="ci",
                                       RAG_STATE_DIR=str(tmp_path / "cli-state")),
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def test_hits_of_one_process_show_in_cache_stats_of_another(
        live_parts: Any, live_settings: Settings, redis_url: str, tmp_path: Path) -> None:
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.pipeline import Pipeline

    notes = tmp_path / "notes"
    notes.mkdir()
    shutil.copy(ROOT / "golden" / "notes" / "ben" / "ben-002.md", notes)
    ingest_path(live_parts, "ben", notes, progress=False)
    pipe = Pipeline(live_parts)
    question = "What does Micah ask of us?"
    outcomes = [pipe.ask("ben", question).cache["query"] for _ in range(3)]
    assert outcomes == ["miss", "hit", "hit"]

    # this process stays open, as a server does: its counts reach Redis on their own
    client = redis.Redis.from_url(redis_url)
    wait_until(lambda: client.hget(cache_counters_key(), "query.hits") == b"2", 30,
               "the server's hits in Redis")
    client.close()
    stats = cache_stats(tmp_path, redis_url)
    assert stats["query"]["hits"] == 2 and stats["query"]["misses"] == 1
    assert stats["query"]["hit_rate"] == round(2 / 3, 4)
    assert stats["embedding"]["misses"] >= 1  # the first question was embedded
    assert set(stats) == {"query", "embedding", "context", "semantic", "stale"}
    # what Redis holds: the answer's body (in stale), its pointer, the question's vector
    assert stats["stale"]["bytes"] > len(pipe.ask("ben", question).answer.encode())
    assert stats["query"]["bytes"] > 0 and stats["embedding"]["bytes"] > 384 * 4


def test_counts_wait_for_a_redis_that_is_down(redis_factory: Any) -> None:
    server = redis_factory()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    counters = SharedCounters(client, cache_counters_key(), flush_s=3600)  # flushed by hand
    counters.add("query", "hits")
    counters.add("query", "hits")
    server.stop()
    counters.add("query", "misses")
    assert counters.flush() is False  # kept, not lost
    assert counters.read() == {"query": {"hits": 2, "misses": 1}}  # this process's own
    server.start()
    wait_until(counters.flush, 30, "the kept counts sent to the restarted Redis")
    other = SharedCounters(redis.Redis.from_url(server.url), cache_counters_key())
    assert other.read() == {"query": {"hits": 2, "misses": 1}}
    counters.close()
    client.close()


def test_cache_clear_removes_one_users_entries_or_every_entry(
        live_parts: Any, live_settings: Settings, redis_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``rag-core cache clear --user U`` removes that user's entries only (the next question of
    U is a miss, another user's is still a hit); without ``--user`` every entry goes; a user id
    that is a pattern is refused before Redis is touched."""
    from rag_core.cli import main as cli
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.pipeline import Pipeline

    notes = tmp_path / "notes"
    notes.mkdir()
    shutil.copy(ROOT / "golden" / "notes" / "ben" / "ben-002.md", notes)
    for user in ("ben", "kim"):
        ingest_path(live_parts, user, notes, progress=False)
    pipe = Pipeline(live_parts)
    question = "What does Micah ask of us?"
    for user in ("ben", "kim"):
        pipe.ask(user, question)
    for name, value in {"REDIS_URL": redis_url, "RAG_PROFILE": "ci",
                        "RAG_STATE_DIR": str(live_settings.services.state_dir)}.items():
        monkeypatch.setenv(name, value)
    client = redis.Redis.from_url(redis_url)
    keys = len(list(client.scan_iter("*")))
    assert cli.main(["cache", "clear", "--user", "*"]) == 2
    assert "INVALID_USER" in capsys.readouterr().err
    assert len(list(client.scan_iter("*"))) == keys  # nothing touched

    capsys.readouterr()
    assert cli.main(["cache", "clear", "--user", "ben"]) == 0
    removed = int(capsys.readouterr().out.split()[1])
    assert removed >= 2  # at least the answer and the question's vector
    assert pipe.ask("ben", question).cache["query"] == "miss"
    assert pipe.ask("kim", question).cache["query"] == "hit"

    assert cli.main(["cache", "clear"]) == 0
    assert int(capsys.readouterr().out.split()[1]) >= 2
    assert pipe.ask("kim", question).cache["query"] == "miss"
    client.close()
