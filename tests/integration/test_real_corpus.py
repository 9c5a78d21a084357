"""The committed corpus of real documents (``tests/corpus/``, issue 81) through ingestion and
retrieval on the real PostgreSQL and embedding model: every document stored with the title it
must have, and each of its facts found in the top 3 chunks of its question."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rag_core.ingest.ingestion import ingest_path
from rag_core.pipeline import Pipeline

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_every_document_is_stored_titled_and_its_facts_found_in_the_top_3(
        live_parts: Any) -> None:
    report = ingest_path(live_parts, "corpus", CORPUS / "debian", progress=False)
    assert report.inserted == len(EXPECTED)
    titles = {n["note_id"]: n["title"] for n in live_parts.store.list_notes("corpus")}
    pipeline = Pipeline(live_parts)
    missed: list[str] = []
    for rel, want in EXPECTED.items():
        note_id = Path(rel).stem.lower()
        assert titles[note_id] == want["title"]
        for fact in want["facts"]:
            top = pipeline.search("corpus", fact["question"], top_k=3)
            found = [c for c in top if c.note_id == note_id
                     and all(w in c.text for w in fact["words"])]
            if not found:
                missed.append(f"{rel}: {fact['question']} -> {[c.note_id for c in top]}")
    assert missed == []
