"""The dataset folder ``generate`` writes: the notes copied to ``notes/<user>/``, the questions
to ``qa.jsonl`` and the pairs to ``semantic_pairs.jsonl``, in the shape
``evals.datasets.loader`` reads."""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from evals.generate import items
from evals.generate.facts import Library, absent_year

PER_NOTE = 2  # sentence questions per note
PER_KIND = 2  # unanswerable questions of each kind, and pairs of each kind, per user


class GenerateError(ValueError):
    """Notes that cannot make a dataset (exit 2 with the message)."""


@dataclass
class Generated:
    folder: Path
    questions: int
    unanswerable: int
    pairs: int


def _libraries(notes_dir: Path, users: Sequence[str]) -> list[Library]:
    from rag_core.ingest.notes import load_notes

    if not notes_dir.is_dir():
        raise GenerateError(f"{notes_dir}: no such folder (one folder per user of notes)")
    found = sorted(p.name for p in notes_dir.iterdir() if p.is_dir()
                   and not p.name.startswith("."))
    unknown = sorted(set(users) - set(found))
    if unknown:
        raise GenerateError(f"no notes folder for user(s) {unknown} under {notes_dir}")
    chosen = list(users) or found
    if not chosen:
        raise GenerateError(f"{notes_dir} holds no user folders")
    try:
        return [Library(u, load_notes(notes_dir / u)) for u in chosen]
    except ValueError as exc:
        raise GenerateError(str(exc)) from None


def generate(notes_dir: Path, out: Path, users: Sequence[str] = (), seed: int = 7
             ) -> Generated:
    """Write a dataset made from ``notes_dir``'s notes to ``out`` (new or empty)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenerateError(f"{out} exists and is not an empty folder")
    libraries = _libraries(notes_dir, users)
    year = absent_year(libraries)
    qa: list[items.Item] = []
    pairs: list[dict[str, object]] = []
    for lib in libraries:
        rng = random.Random(f"{seed}:{lib.user}")
        others = [o for o in libraries if o is not lib]
        qa += items.metadata_items(lib) + items.sentence_items(lib, rng, PER_NOTE)
        qa += items.unanswerable_items(lib, others, year, rng, PER_KIND)
        pairs += items.pairs(lib, rng, PER_KIND)
    for i, item in enumerate(qa, 1):
        item["id"] = f"gen-{i:04d}"
    for i, pair in enumerate(pairs, 1):
        pair["id"] = f"gen-pair-{i:04d}"
    for lib in libraries:
        shutil.copytree(notes_dir / lib.user, out / "notes" / lib.user,
                        ignore=shutil.ignore_patterns(".*"))
    lines = [json.dumps({"id": i.pop("id"), **i}, ensure_ascii=False) for i in qa]
    (out / "qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines = [json.dumps({"id": p.pop("id"), **p}, ensure_ascii=False) for p in pairs]
    (out / "semantic_pairs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    refused = sum(bool(i["expect_no_context"]) for i in qa)
    return Generated(out, len(qa), refused, len(pairs))
