"""``rag-core chat`` in a terminal (a pseudo-terminal from the standard library) and ``ask
--conversation``, on the real test PostgreSQL and Redis: one conversation across the lines
read, each answer printed with its citations, until end of input."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rag_core.cli import main as cli
from rag_core.conversations.store import ConversationStore
from rag_core.parts import build_redis

pytestmark = pytest.mark.integration
AMARA = Path(__file__).resolve().parents[2] / "golden" / "notes" / "amara"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(live_settings, monkeypatch):
    values = {"DATABASE_URL": live_settings.services.database_url,
              "REDIS_URL": live_settings.services.redis_url,
              "RAG_STATE_DIR": str(live_settings.services.state_dir), "RAG_PROFILE": "ci"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["ingest", str(AMARA), "--user", "amara", "--quiet"]) == 0
    return live_settings


def test_ask_continues_a_conversation_by_its_id(env, capsys):
    capsys.readouterr()
    assert cli.main(["ask", "Who rebuilt the wall of Jerusalem?", "--user", "amara",
                     "--conversation", "new", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["conversation_id"].startswith("c_") and first["conversation_saved"]
    assert cli.main(["ask", "How long did it take?", "--user", "amara", "--conversation",
                     first["conversation_id"], "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["conversation_id"] == first["conversation_id"]
    assert cli.main(["ask", "Who rebuilt the wall of Jerusalem?", "--user", "amara",
                     "--json"]) == 0
    assert "conversation_id" not in json.loads(capsys.readouterr().out)  # stateless as before
    store = ConversationStore(build_redis(env), env.conversations)
    turns = store.turns("amara", first["conversation_id"])
    assert [t.question for t in turns] == ["Who rebuilt the wall of Jerusalem?",
                                           "How long did it take?"]


def test_chat_holds_a_conversation_in_a_terminal(env):
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "rag_core", "chat", "--user", "amara",
                             "--local"], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    os.close(slave)
    seen = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end closed
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    os.write(master, b"Who rebuilt the wall of Jerusalem?\n")
    os.write(master, b"How long did it take?\n")
    os.write(master, b"\x04")  # end of input (Ctrl-D at a line's start)
    try:
        assert proc.wait(timeout=300) == 0, seen.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(timeout=10)
    os.close(master)
    text = seen.decode(errors="replace")
    assert text.count("> ") >= 3  # a prompt per line read, and one before end of input
    assert "[1] " in text  # the first answer's citations
    assert text.count("conversation c_") == 2
    ids = {line.split()[1].rstrip(":") for line in text.splitlines()
           if line.startswith("conversation c_")}
    assert len(ids) == 1  # both answers in one conversation
    summaries = ConversationStore(build_redis(env), env.conversations).summaries("amara")
    assert [(s.conversation_id, s.turns) for s in summaries] == [(ids.pop(), 2)]
