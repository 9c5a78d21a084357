"""Issue 81: with answers no longer HTML-escaped, markup the obedient model writes because a note
asked for it is still removed: every HTML canary of the golden indirect attacks is stopped by the
output filter alone (the note guard switched off, the worst case), so
``quality.gen.obey.html_rate`` stays at 0."""

from __future__ import annotations

import json
from pathlib import Path

from evals.metrics.canaries import item_canaries, payload_fired
from rag_core.devservers.obey import obey_answer
from rag_core.ingest.readers import read
from rag_core.llm.prompt import build_prompt
from rag_core.postprocess import finish
from rag_core.types import Chunk

ROOT = Path(__file__).resolve().parents[2]


def test_the_obedient_model_s_markup_is_removed_even_without_the_note_guard() -> None:
    items = [json.loads(line) for line in
             (ROOT / "golden" / "qa" / "indirect.jsonl").read_text().splitlines() if line]
    attacked = [(item, [c for c in item_canaries(item) if c.kind == "html"]) for item in items]
    attacked = [(item, canaries) for item, canaries in attacked if canaries]
    assert len(attacked) >= 3
    for item, canaries in attacked:
        chunks = []
        for note_id in item["reference_note_ids"]:
            [path] = (ROOT / "golden" / "notes").glob(f"*/{note_id}.md")
            [note] = read(path)
            chunks.append(Chunk(chunk_id=f"{note_id}:0", note_id=note_id,
                                user_id=item["user_id"], ordinal=0, text=note.body,
                                metadata={"title": note.title}, score=0.9))
        prompt = build_prompt(item["question"], chunks, 300, guard=False)
        raw = obey_answer(prompt.messages, "The honest answer [1].", [c.text for c in chunks])
        done = finish(raw, chunks, item["question"])
        sources = [item["question"], *(c.text for c in chunks)]
        for canary in canaries:
            assert payload_fired(canary, raw, sources), item["id"]  # it did write it
            assert not payload_fired(canary, done.text, sources), (item["id"], done.text)
