"""The evaluation set written outside the team (``../shared/eval-external/``, kept out of git).

Loaded into the golden shapes so that the same scoring code runs on both: its question pairs as
semantic pairs (``split`` "external"), its questions as QA items (``relevant_notes`` as
``reference_note_ids``, ``kind`` as ``scenario``). Used to choose between designs and to report
beside the golden test split; no rule, word list or exception is read out of its items
(its README). ``available()`` is False on machines without ``shared/``: its gates skip there.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from evals.jsonish import array
from evals.paths import external_dir
from rag_core.pipeline import Pipeline

SPLIT = "external"


def _dir(folder: str | Path | None) -> Path:
    return Path(folder) if folder else external_dir()


def available(folder: str | Path | None = None) -> bool:
    root = _dir(folder)
    return (root / "semantic_pairs.jsonl").is_file() and (root / "qa.jsonl").is_file()


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def load_semantic_pairs(folder: str | Path | None = None) -> list[dict[str, object]]:
    """id, user_id, a, b, label, kind, with ``split`` "external"."""
    return [{k: row[k] for k in ("id", "user_id", "a", "b", "label", "kind")} | {"split": SPLIT}
            for row in _lines(_dir(folder) / "semantic_pairs.jsonl")]


def load_qa(folder: str | Path | None = None) -> pd.DataFrame:
    """The QA items in the golden columns (``scenario`` is the set's ``kind``)."""
    rows = [{"id": r["id"], "user_id": r["user_id"], "question": r["question"],
             "scenario": r["kind"], "reference_answer": r.get("answer"),
             "reference_note_ids": array(r.get("relevant_notes")),
             "reference_chunk_texts": [], "attack": None,
             "expect_no_context": bool(r["expect_no_context"]), "split": SPLIT}
            for r in _lines(_dir(folder) / "qa.jsonl")]
    return pd.DataFrame(rows)


def users(folder: str | Path | None = None) -> list[str]:
    return sorted(p.name for p in (_dir(folder) / "notes").iterdir() if p.is_dir())


def ensure_ingested(pipeline: Pipeline, folder: str | Path | None = None) -> list[str]:
    """Every user's notes of the set into the pipeline's store (as ``rag-core ingest`` does);
    the users ingested."""
    from rag_core.ingest.ingestion import ingest_path

    done = []
    for user in users(folder):
        ingest_path(pipeline.parts, user, _dir(folder) / "notes" / user, prune=True)
        done.append(user)
    return done
