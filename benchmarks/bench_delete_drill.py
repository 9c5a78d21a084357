"""A delete-consistency drill: deletes while Redis is frozen, killed and restarted, with
concurrent asks. The figure is the number of answers that cite a deleted note although they
were asked after its DELETE returned (it must be 0).

Real parts: the embedded PostgreSQL + pgvector, a ``redis-server`` with its append-only file
(as the embedded Redis runs), the real embedding model, the extractive generator (it quotes
the chunks it cites, so a citation of a deleted note is plain to see). Each note has one
sentence found nowhere else, and one question that retrieves it. Every note's answer is cached
first; then the notes are deleted one by one (``delete_note``: what ``DELETE
/v1/notes/{id}`` runs), each in one of these states of Redis, in turn:

- answering;
- frozen (SIGSTOP) during the delete, then thawed (SIGCONT);
- frozen during the delete, then killed (SIGKILL) and restarted from its append-only file;
- killed right after the delete and restarted from its append-only file.

Meanwhile ``--askers`` threads ask the questions of random notes, deleted or not, and the
deleter asks the deleted note's question once more after each delete. The last line is JSON:
``deletes``, ``asks``, ``asks_after_delete`` (asks of a deleted note's question started after
its DELETE returned), ``stale_citations`` (the figure), ``errors`` (asks that failed), and the
Redis states met.

    python benchmarks/bench_delete_drill.py [--deletes 200] [--askers 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from rag_core.config import Settings
from rag_core.ingest.ingestion import delete_note, ingest_notes
from rag_core.parts import Parts, build_parts
from rag_core.pipeline import Pipeline
from rag_core.procs import free_port, wait_until
from rag_core.services import new_password, password_url, resolve, spawn_redis, stop_postgres
from rag_core.types import Note

USERS = ("amara", "ben", "chioma", "dawit")
STATES = ("answering", "frozen", "frozen_then_killed", "killed_after")
NAMES = ["Ezekiel", "Marlowe", "Tabitha", "Obadiah", "Priscilla", "Lydia", "Barnabas", "Junia",
         "Silas", "Phoebe", "Apollos", "Dorcas", "Rhoda", "Titus", "Zacchaeus", "Eunice"]
THINGS = ["rye bread", "lentil soup", "wool blankets", "apple cake", "honey jars", "oat loaves",
          "candles", "hymn books", "winter coats", "rice sacks", "tea urns", "lamp oil"]


def note_of(k: int) -> tuple[Note, str, str]:
    """Note ``k``: its one sentence found nowhere else, and a question that retrieves it."""
    name = f"{NAMES[k % len(NAMES)]} {NAMES[(k // len(NAMES)) % len(NAMES)]}-{k}"
    thing = f"{THINGS[k % len(THINGS)]} batch {k}"
    marker = f"Deacon {name} brought the {thing} to the shelter."
    body = (f"{marker} The sermon that week was about generosity, and the deacon said the "
            f"{thing} was his way of preaching without words.")
    return (Note(id=f"note-{k}", title=f"Shelter gift {k}", body=body), marker,
            f"Who brought the {thing} to the shelter?")


class RedisUnderTest:
    def __init__(self, root: Path) -> None:
        self.dir = root / "redis"
        self.port = free_port()
        self.password = new_password()  # on TCP: closed to other accounts by a password
        self.url = password_url(self.port, self.password)
        self.proc: subprocess.Popen[bytes] | None = None
        self.events: Counter[str] = Counter()

    def start(self) -> None:
        self.proc = spawn_redis(self.dir, self.port, persist=True, password=self.password)
        wait_until(self._loaded, 60, "redis loaded its append-only file")

    def _loaded(self) -> bool:
        try:
            return int(redis.Redis.from_url(self.url).info("persistence")["loading"]) == 0
        except redis.RedisError:
            return False

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.events["frozen"] += 1

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill_and_restart(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self.events["restarted_from_aof"] += 1
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(30)


class Drill:
    def __init__(self, parts: Parts, notes: list[tuple[str, str, str, str]]) -> None:
        self.pipe = Pipeline(parts)
        self.notes = notes  # (user, note id, marker, question)
        self.deleted_at: dict[str, float] = {}  # note id -> when its DELETE returned
        self.lock = threading.Lock()
        self.asks = 0
        self.after_delete = 0
        self.stale: list[dict[str, Any]] = []
        self.errors: Counter[str] = Counter()
        self.done = threading.Event()

    def ask(self, user: str, note_id: str, marker: str, question: str) -> None:
        started = time.monotonic()
        with self.lock:
            deleted = self.deleted_at.get(note_id)
        try:
            answer = self.pipe.ask(user, question)
        except Exception as exc:  # counted, not fatal: the figure is about what was served
            self.errors[type(exc).__name__] += 1
            return
        cites = (note_id in {c.note_id for c in answer.citations}
                 or marker[:40] in answer.answer)
        with self.lock:
            self.asks += 1
            if deleted is not None and started > deleted:
                self.after_delete += 1
                if cites:
                    self.stale.append({"note": note_id, "cache": answer.cache})

    def asker(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.done.is_set():
            self.ask(*rng.choice(self.notes))


def run(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="ddrill-"))
    server = RedisUnderTest(root)
    server.start()
    settings = resolve(Settings(profile="ci", state_dir=root / "state", redis_url=server.url,
                                llm="extractive"), redis=False)
    parts = build_parts(settings)
    try:
        return _drill(args, parts, server)
    finally:
        parts.close()
        server.stop()
        stop_postgres(settings)
        shutil.rmtree(root, ignore_errors=True)


def _drill(args: argparse.Namespace, parts: Parts, server: RedisUnderTest) -> dict[str, Any]:
    notes: list[tuple[str, str, str, str]] = []
    by_user: dict[str, list[Note]] = {u: [] for u in USERS}
    for k in range(args.deletes):
        note, marker, question = note_of(k)
        user = USERS[k % len(USERS)]
        by_user[user].append(note)
        notes.append((user, note.id, marker, question))
    for user, own in by_user.items():
        ingest_notes(parts, user, own, progress=False)
    drill = Drill(parts, notes)
    for entry in notes:  # every answer cached under the version before its delete
        drill.ask(*entry)
    askers = [threading.Thread(target=drill.asker, args=(s,), daemon=True)
              for s in range(args.askers)]
    for t in askers:
        t.start()
    started = time.perf_counter()
    for k, (user, note_id, marker, question) in enumerate(notes):
        state = STATES[k % len(STATES)]
        if state.startswith("frozen"):
            server.freeze()
        try:
            assert delete_note(parts, user, note_id)
        finally:
            with drill.lock:
                drill.deleted_at[note_id] = time.monotonic()
            if state == "frozen":
                server.thaw()
            elif state == "frozen_then_killed":
                server.kill_and_restart()
        if state == "killed_after":
            server.kill_and_restart()
        drill.ask(user, note_id, marker, question)
        if (k + 1) % 25 == 0:
            print(f"{k + 1} deletes, {drill.asks} asks, {len(drill.stale)} stale, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    drill.done.set()
    for t in askers:
        t.join(60)
    return {"deletes": len(notes), "asks": drill.asks, "asks_after_delete": drill.after_delete,
            "stale_citations": len(drill.stale), "stale_examples": drill.stale[:5],
            "errors": dict(drill.errors), "redis_events": dict(server.events),
            "states": list(STATES), "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deletes", type=int, default=200)
    ap.add_argument("--askers", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
