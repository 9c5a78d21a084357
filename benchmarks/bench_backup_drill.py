"""A backup-and-restore drill: the state folder is lost, the backup brings the service back.

Real parts: the embedded PostgreSQL + pgvector and Redis under a state folder of its own, the
real embedding model, the extractive generator. The steps:

1. ingest the golden notes (every user of ``golden/notes``), plus ``--chunks`` synthetic
   chunks (random vectors, one user of their own) to measure a larger database;
2. ask every golden question once (answers cached, records kept), spend money in the ledger
   for each (the extractive generator bills nothing: a commit of ``--cost`` dollars per
   question stands for a model's bill), and delete one note;
3. ``rag-core backup FILE`` (the command, in a process of its own, while the servers run);
4. ``rag-core users erase`` one user after the backup, with the erasure log
   (``RAG_ERASURE_LOG``) kept beside the backup, outside the state folder;
5. stop the servers and delete the state folder (the lost volume);
6. start empty servers in the same folder and ``rag-core restore FILE``, which replays the
   erasure;
7. check: the same chunks retrieved for every question of the other users, the same spend for
   the day (the erased user's under the anonymous key), the deleted note still gone, the
   erased user in no table and none of their questions answered from their notes, one
   erasure replayed, no key of the service in Redis before the first question (caches cold)
   and that question not a cache hit.

The last line is JSON: rows and chunks, the backup's size, the times of the backup and the
restore (each command's own figure and the wall time of its process), and the checks.

    python benchmarks/bench_backup_drill.py [--chunks 0] [--cost 0.002] [--per-user N]
                                            [--json out.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

from rag_core.config import Settings, fixed
from rag_core.costs import reporting
from rag_core.ingest.ingestion import delete_note, ingest_path
from rag_core.parts import Parts, build_parts
from rag_core.pipeline import Pipeline
from rag_core.services import resolve, stop_all
from rag_core.store.base import ChunkDraft, NoteWrite
from rag_core.types import Note, TokenUsage

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "golden"
DELETED = ("amara", "amara-001")
ANONYMOUS = "~erased"  # rag_core.store.sql.erasure.ANONYMOUS_USER


def questions() -> list[tuple[str, str]]:
    rows = []
    for path in sorted((GOLDEN / "qa").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                item = json.loads(line)
                rows.append((str(item["user_id"]), str(item["question"])))
    return rows


def synthetic(parts: Parts, n: int, per_note: int = 50) -> None:
    """``n`` chunks of random unit vectors for the user ``bulk``, ``per_note`` to a note."""
    rng = np.random.default_rng(7)
    dim = parts.settings.embedding.embedding_dim
    for start in range(0, n, 2_000):
        writes = []
        for k in range(start, min(n, start + 2_000), per_note):
            size = min(per_note, n - k)
            texts = [f"Synthetic sermon line {k + i} on grace, harvest and covenant."
                     for i in range(size)]
            vectors = rng.normal(size=(size, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            drafts = [ChunkDraft(i, t, hashlib.sha1(t.encode()).hexdigest())
                      for i, t in enumerate(texts)]
            note = Note(id=f"bulk-{k}", title=f"Bulk {k}", body=" ".join(texts))
            writes.append(NoteWrite(note, hashlib.sha1(note.body.encode()).hexdigest(),
                                    drafts, vectors))
        parts.store.upsert_notes("bulk", writes)


def command(state: Path, log: Path, *args: str) -> tuple[dict[str, Any], float]:
    """A ``rag-core`` command in its own process (the erasure log ``log``); its JSON report
    and the wall time."""
    env = {**os.environ, "RAG_STATE_DIR": str(state), "RAG_PROFILE": "ci",
           "RAG_ERASURE_LOG": str(log),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rag_core", *args, "--json"], env=env,
                          capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"rag-core {' '.join(args)} failed: {done.stderr.strip()}")
    return json.loads(done.stdout), wall


def retrieved(parts: Parts, asked: list[tuple[str, str]]) -> list[list[str]]:
    pipe = Pipeline(parts)
    return [[c.chunk_id for c in pipe.search(user, q, 5)] for user, q in asked]


def rows_of(parts: Parts, user: str) -> int:
    """Rows of ``user`` in every table with a ``user_id`` column."""
    import psycopg
    from psycopg import sql

    from rag_core.store import sql as q

    with psycopg.connect(str(parts.settings.services.database_url)) as conn:
        tables = [str(r[0]) for r in conn.execute(q.USER_TABLES)]
        count = sql.SQL("SELECT count(*) FROM {} WHERE user_id = %s")
        rows = [conn.execute(count.format(sql.Identifier(t)), (user,)).fetchone()
                for t in tables]
    return sum(int(r[0]) for r in rows if r)


def spends(parts: Parts) -> dict[str, float]:
    """The day's spend per user as PostgreSQL records it (``rag-core costs report``)."""
    return {r["user_id"]: round(r["cost_usd"], 9)
            for r in reporting.report(parts.ledger, top=10_000)["top"]}


def same_spend(before: dict[str, float], after: dict[str, float], erased: str) -> bool:
    """Every other user's spend as before, the erased user's now under the anonymous key."""
    moved = {u: v for u, v in before.items() if u != erased}
    if erased in before:
        moved[ANONYMOUS] = round(moved.get(ANONYMOUS, 0.0) + before[erased], 9)
    return after == moved


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=0, help="synthetic chunks to add")
    ap.add_argument("--cost", type=float, default=0.002, help="dollars billed per question")
    ap.add_argument("--per-user", type=int, default=0,
                    help="ask at most this many golden questions of each user (0: all)")
    ap.add_argument("--json", help="also write the result here")
    args = ap.parse_args()
    # a `timeout` (SIGTERM) still stops the servers this drill started (the finally below)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.chunks:
        fixed.DB_STATEMENT_TIMEOUT_MS = 0  # a bulk load is long (before the pool connects)
    root = Path(tempfile.mkdtemp(prefix="rag-drill-"))
    state = root / "state"
    base = Settings(profile="ci", state_dir=state, llm="extractive")
    asked = questions()
    if args.per_user:
        asked = [(u, q) for i, (u, q) in enumerate(asked)
                 if sum(1 for v, _ in asked[:i] if v == u) < args.per_user]
    users = sorted({u for u, _ in asked})
    erased = next(u for u in reversed(users) if u != DELETED[0])
    kept = [(u, q) for u, q in asked if u != erased]
    log = root / "erasure.log"  # beside the backup: the state folder is the lost volume
    try:
        parts = build_parts(resolve(base))
        for folder in sorted(p for p in (GOLDEN / "notes").iterdir() if p.is_dir()):
            ingest_path(parts, folder.name, folder, progress=False)
        if args.chunks:
            synthetic(parts, args.chunks)
        pipe = Pipeline(parts)
        for user, q in asked:
            pipe.ask(user, q)
            held = parts.ledger.reserve(user, args.cost)
            parts.ledger.commit(held, args.cost, TokenUsage(input_tokens=500, output_tokens=80))
        assert delete_note(parts, *DELETED)
        parts.ledger.close()
        before, spent = retrieved(parts, kept), spends(parts)
        chunks = parts.store.count_chunks()
        parts.close()

        file = root / "drill.rcb"
        made, backup_wall = command(state, log, "backup", str(file))
        command(state, log, "users", "erase", erased)  # after the backup
        stop_all(base)
        shutil.rmtree(state)  # the lost volume
        restored, restore_wall = command(state, log, "restore", str(file))

        settings = resolve(base)
        client = redis.Redis.from_url(str(settings.services.redis_url))
        cold = not list(client.scan_iter(match="rag:*", count=1000))
        parts = build_parts(settings)
        after, spent_after = retrieved(parts, kept), spends(parts)
        first = Pipeline(parts).ask(*kept[0])
        gone = parts.store.get_note(*DELETED) is None
        erased_rows = rows_of(parts, erased)
        own = [Pipeline(parts).ask(u, q) for u, q in asked if u == erased]
        unanswered = all(not a.citations for a in own)
        parts.close()
    finally:
        stop_all(base)
        shutil.rmtree(root, ignore_errors=True)
    result = {
        "questions": len(asked), "users": len(users), "chunks": chunks,
        "rows": sum(made["manifest"]["tables"].values()),
        "backup_bytes": made["bytes"], "dump_bytes": made["manifest"]["dump_bytes"],
        "backup_s": round(made["seconds"], 2), "backup_wall_s": round(backup_wall, 2),
        "restore_s": round(restored["seconds"], 2), "restore_wall_s": round(restore_wall, 2),
        "same_retrieval": after == before,
        "same_spend": same_spend(spent, spent_after, erased),
        "spend_usd": round(sum(spent.values()), 6), "deleted_note_gone": gone,
        "erased_user_rows": erased_rows, "erased_questions": len(own),
        "erasures_replayed": restored["erasures_replayed"],
        "erased_user_gone": erased_rows == 0 and unanswered
        and restored["erasures_replayed"] == 1,
        "caches_cold": cold and first.cache.get("query") != "hit",
    }
    line = json.dumps(result)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    ok = all(result[k] for k in ("same_retrieval", "same_spend", "deleted_note_gone",
                                 "erased_user_gone", "caches_cold"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
