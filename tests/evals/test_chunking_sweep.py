"""The chunking sweep of notebook 02 on the real store (PostgreSQL, the real embedding model):
each method's chunks and retrieval figures by note, its summary metrics and its plot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from evals.retrieval import chunking
from rag_core.types import Note

pytestmark = pytest.mark.integration

SECTION = ("The deacons reported on the food bank and the winter shelter. They counted the "
           "volunteers and the hours given. ")
LIBRARY = {
    "ann": [
        Note(id="minutes", title="Minutes", body=f"## Food bank\n\n{SECTION * 4}\n\n"
             "## Roof\n\nThe roof fund of Saint Brendan reached 4,200 dollars in May."),
        Note(id="choir", title="Choir", body="The choir rehearses on Wednesday evenings."),
    ],
}
QUESTIONS = [chunking.Question("ann", "How much did the roof fund reach?", ("minutes",)),
             chunking.Question("ann", "When does the choir rehearse?", ("choir",))]


@pytest.mark.parametrize("method", ["heading", "sentences", "window"])
def test_each_method_is_ingested_and_scored_by_note(live_parts: Any, method: str) -> None:
    parts = replace(live_parts, settings=live_parts.settings.with_overrides(
        chunking=method, chunk_tokens=48, chunk_overlap_tokens=8))
    row = chunking.notes_run(method, parts, LIBRARY, QUESTIONS, name=f"t-{method}")
    assert (row.method, row.notes, row.queries) == (method, 2, 2)
    assert row.chunks > 2 and row.chunks_per_note == row.chunks / 2
    assert 0 < row.tokens_per_chunk <= 48
    assert row.recall_at_5 == 1.0 and row.ndcg_at_10 is not None and row.ndcg_at_10 > 0.5
    texts = [t for _, t, _ in parts.store.user_texts(f"t-{method}-ann")]
    if method == "heading":
        assert any(t.startswith("## Roof") for t in texts)
        assert not any("## Food bank" in t and "## Roof" in t for t in texts)


def test_the_table_gives_metrics_and_a_plot(tmp_path: Path) -> None:
    table = pd.DataFrame([
        {"method": m, "set": s, "notes": 2, "chunks": c, "chunks_per_note": c / 2,
         "tokens_per_chunk": 40.0, "queries": 2, "recall_at_5": r, "ndcg_at_10": r,
         "seconds": 1.0}
        for m, c, r in (("sentences", 6, 1.0), ("window", 8, 0.5)) for s in ("golden", "cisi")],
        columns=chunking.COLUMNS)
    figures = chunking.metrics(table)
    assert figures["window"]["cisi"]["ndcg_at_10"] == 0.5
    assert figures["sentences"]["golden"]["chunks_per_note"] == 3.0
    png = chunking.plot(table, tmp_path / "chunking.png")
    assert png is not None and png.stat().st_size > 1000
    assert chunking.plot(table.iloc[0:0], tmp_path / "none.png") is None


def test_methods_that_cut_every_note_alike_share_one_digest() -> None:
    """The sweep measures a method once per distinct cut of the notes: ``heading`` on notes
    without a heading line is ``sentences``; a heading line, or windows, is another cut."""
    from rag_core.config import Settings

    settings = Settings(chunk_tokens=48, chunk_overlap_tokens=8)
    plain = [[Note(id="minutes", title="Minutes", body=f"{SECTION * 4}\n\nThe roof fund."),
              LIBRARY["ann"][1]]]
    texts = chunking._Texts(settings, plain, [], "test", 0, 0, 0)
    assert texts.digest("heading") == texts.digest("sentences") != texts.digest("window")
    headed = chunking._Texts(settings, [LIBRARY["ann"]], [], "test", 0, 0, 0)
    assert headed.digest("heading") != headed.digest("sentences")
    assert texts.digest("sentences") != headed.digest("sentences")  # other notes
