"""The embedded servers as the ``rag-core`` command starts them: they never hold the caller's
output (``rag-core ask ... | tail`` ends), and the embedded Redis keeps the day's spend across a
crash (append-only file, finding 5 of issue 14)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from servers import wait_aof_written

from rag_core import services
from rag_core.config import Settings
from rag_core.costs import reporting
from rag_core.costs.ledger import ledger_for
from rag_core.types import TokenUsage

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAG_") and k not in ("DATABASE_URL", "REDIS_URL", "HF_TOKEN")}
    return {**env, "RAG_STATE_DIR": str(state), "RAG_PROFILE": "ci"}


def test_rag_core_ask_through_a_pipe_ends(short_tmp: Path) -> None:
    """The command starts embedded PostgreSQL and Redis itself; the pipe must still close when
    it exits (before the fix, Redis kept it open and ``tail`` waited forever)."""
    state = short_tmp / "pipe-state"
    rag_core = str(Path(sys.executable).with_name("rag-core"))
    try:
        out = subprocess.run(
            ["bash", "-o", "pipefail", "-c",
             f"'{rag_core}' ask 'What is faith?' --user amara | tail -n 3"],
            env=_env(state), cwd=short_tmp, capture_output=True, text=True, timeout=600,
            stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr[-2000:]
        assert "cache:" in out.stdout and "request" in out.stdout
        settings = Settings(profile="ci", state_dir=state)
        assert services.status(settings)["redis"]["running"]
        names = [Path(f"/proc/{pid}/comm").read_text().strip()
                 for pid in services.server_pids(settings.services)]
        assert names == ["postgres", "redis-server"]  # the postmaster, then Redis
        services.stop_all(settings)
        assert services.server_pids(settings.services) == []
    finally:
        services.stop_all(Settings(profile="ci", state_dir=state))


def test_embedded_redis_keeps_the_spend_of_the_day_after_a_crash(short_tmp: Path) -> None:
    settings = Settings(profile="ci", state_dir=short_tmp / "aof-state")
    url = services.start_redis(settings)
    try:
        client = redis.Redis.from_url(url)
        ledger = ledger_for(client, settings)
        reservation = ledger.reserve("amara", 0.25)
        ledger.commit(reservation, 0.2, TokenUsage(100, 50))
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
        wait_aof_written(client)  # in the file: what a crash cannot take back
        pid = int(str(services.read_registry(settings.services)["redis"]["pid"]))
        os.kill(pid, signal.SIGKILL)  # a crash, not a clean shutdown
        with contextlib.suppress(ChildProcessError):  # (already reaped: already gone)
            os.waitpid(pid, 0)
        client.close()
        url = services.start_redis(settings)  # a new server on the same data folder
        again = ledger_for(redis.Redis.from_url(url), settings)
        assert reporting.spend(again, "amara") == pytest.approx(0.2)
        assert reporting.global_spend(again) == pytest.approx(0.2)
    finally:
        services.stop_redis(settings)


def test_embedding_model_loads_offline_without_the_global_switch(tmp_path: Path) -> None:
    """No HF_HUB_OFFLINE in the process (it would also refuse the LLM's router): the model
    loads from its folder and asks the hub nothing (HF_ENDPOINT points at a recorder)."""
    import http.server
    import threading

    asked: list[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        do_HEAD = do_GET

        def log_message(self, *args: object) -> None:
            pass

    hub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=hub.serve_forever, daemon=True).start()
    env = {k: v for k, v in _env(tmp_path).items()
           if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = f"http://127.0.0.1:{hub.server_port}"
    code = ("import os; from huggingface_hub import constants as c; "
            "from rag_core.embedding import SentenceTransformerEmbedder as E; "
            "v = E().embed(['faith']); "
            "print(v.shape, c.HF_HUB_OFFLINE, os.environ.get('HF_HUB_OFFLINE'))")
    try:
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=600, stdin=subprocess.DEVNULL)
    finally:
        hub.shutdown()
        hub.server_close()
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[0] == "(1, 384) False None"
    assert asked == []
