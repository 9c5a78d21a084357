"""Ingestion end to end: real notes on disk, the real embedding model, real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from rag_core.config import Retrieval, Settings
from rag_core.embedding import SentenceTransformerEmbedder
from rag_core.errors import InvalidNote
from rag_core.ingest.ingestion import IngestReport, ingest_notes, ingest_path, stored_hash
from rag_core.ingest.readers import load_notes
from rag_core.parts import Parts
from rag_core.store.pgvector import PgVectorStore, store_for
from rag_core.tokens import TokenCounter
from rag_core.types import Note

pytestmark = pytest.mark.integration

LEXICAL, DENSE, HYBRID = (Retrieval(retrieval_mode=m) for m in ("lexical", "dense", "hybrid"))


class CountingEmbedder(SentenceTransformerEmbedder):
    """The real embedder, counting the texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        return super().embed(texts, progress=progress)


NOTES = {
    "faith.md": """---
id: faith
title: Faith that waits
date: 2024-03-10
speaker: Ruth Okafor
series: Hebrews
scripture: Hebrews 11:1
---
Faith is the assurance of things hoped for. Abraham waited for years and still trusted the
promise. Waiting is not wasted when God is the one we wait on.

We talked about prayer in seasons of delay, and how patience grows in community.
""",
    "justice.md": """---
id: justice
title: What the Lord requires
speaker: Daniel Mensah
series: Prophets
tags: justice, mercy
---
God asks his people to act justly and to love mercy. Justice is not an abstract idea; it is
how we treat the neighbour in front of us.

The prophets kept calling Israel back to care for the widow, the orphan and the stranger.
""",
    "more.jsonl": "\n".join([
        '{"id": "mercy", "title": "Mercy over judgment", "speaker": "Daniel Mensah", '
        '"series": "Prophets", "body": "Mercy triumphs over judgment. We are asked to do '
        'justice, love kindness and walk humbly with our God. Kindness is a choice made many '
        'times a day."}',
        '{"id": "kindness", "title": "Loving kindness", "speaker": "Grace Adeyemi", '
        '"series": "Prophets", "body": "The Lord requires that we love kindness and seek what '
        'is right for the poor. Justice and mercy belong together in the life of faith."}',
        '{"id": "humble", "title": "Walking humbly", "speaker": "Daniel Mensah", "series": '
        '"Prophets", "body": "Humility is seeing yourself truthfully, neither more nor less. '
        'Pride isolates; humility makes room for others.\\n\\nJesus washed feet. Leaders who '
        'serve build trust that titles cannot."}',
        '{"id": "advocate", "title": "Speaking up", "speaker": "Grace Adeyemi", "series": '
        '"Prophets", "body": "Defend the cause of the oppressed. Doing justice means using our '
        'voice for those who have none."}',
        '{"id": "loaves", "title": "Loaves and fish", "speaker": "Ruth Okafor", "series": '
        '"Gospels", "body": "Five loaves and two fish fed a crowd. We counted 6 baskets in the '
        'sketch, then 8 children, then 12 baskets of leftovers. Scarcity thinking shrinks our '
        'generosity."}',
    ]) + "\n",
    # The reference and the name sit at the end of a long chunk about something else, so the
    # dense ranking puts this note low for "Micah 6:8" or "Tomasz".
    "sub/meals.md": """---
id: meals
title: Tables of welcome
speaker: Ruth Okafor
series: Everyday church
---
Our small group started sharing a meal every Thursday. Hospitality opens doors that arguments
never do. Someone brought soup, someone brought bread, and the conversation went late. The
kitchen was too small, so we borrowed folding tables from the school and set them up in the
hallway. Children ran between the chairs while the rice finished cooking. A new couple from the
apartment block came for the first time and stayed to wash dishes; they said nobody had invited
them to dinner since they moved to the city. Before we cleaned up, Tomasz read Micah 6:8 and we
sat quietly for a while.
""",
}


@pytest.fixture(scope="module")
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenCounter()


@pytest.fixture
def cfg(settings: Settings, database_url: str) -> Settings:
    return settings.with_overrides(database_url=database_url, embedding_batch_size=4)


@pytest.fixture
def store(cfg: Settings) -> Iterator[PgVectorStore]:
    st = store_for(cfg)
    st.ensure_schema()
    yield st
    st.close()


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    for name, text in NOTES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def parts_of(store: PgVectorStore, embedder: CountingEmbedder, counter: TokenCounter,
             cfg: Settings) -> Parts:
    """The ingestion's parts: the real store, the counting model, in-process caches."""
    from rag_core.parts import (
        build_caches,
        build_generator,
        build_judges,
        build_ledger,
        build_limiters,
    )
    from rag_core.store.user_limits import user_limits_for

    judges = build_judges(cfg, store)
    return Parts(settings=cfg, store=store, embedder=embedder,  # type: ignore[arg-type]
                 caches=build_caches(cfg, None, judges.semantic),
                 generator=build_generator(cfg, None),
                 ledger=build_ledger(cfg, None, store), counter=counter, judges=judges,
                 limiters=build_limiters(cfg, None, user_limits_for(store)))


def ingest(store: PgVectorStore, embedder: CountingEmbedder, counter: TokenCounter,
           cfg: Settings, root: Path, user: str = "ann", **kw: object) -> IngestReport:
    return ingest_path(parts_of(store, embedder, counter, cfg), user, root, progress=False,
                       **kw)  # type: ignore[arg-type]


def test_first_ingest_then_nothing_to_do(store: PgVectorStore, embedder: CountingEmbedder,
                                         counter: TokenCounter, cfg: Settings, library: Path
                                         ) -> None:
    embedder.texts.clear()
    first = ingest(store, embedder, counter, cfg, library)
    assert (first.notes_seen, first.inserted, first.updated, first.unchanged) == (8, 8, 0, 0)
    assert first.chunks_written == store.count_chunks("ann") >= 8
    assert len(embedder.texts) == first.chunks_written
    assert first.seconds > 0 and first.chunks_per_s > 0
    assert all(t.startswith("Title: ") for t in embedder.texts)  # the metadata header
    version = store.notes_version("ann")
    assert version == 8

    embedder.texts.clear()
    second = ingest(store, embedder, counter, cfg, library)
    assert (second.inserted, second.updated, second.unchanged, second.chunks_written) == \
        (0, 0, 8, 0)
    assert embedder.texts == []  # skipped before embedding
    assert store.notes_version("ann") == version

    stored = {c.text for c in store.search("ann", embedder.embed(["faith"])[0], 50)}
    assert not any(t.startswith("Title:") for t in stored)  # the text column is plain


def test_edit_replaces_chunks_and_bumps_version(store: PgVectorStore, embedder: CountingEmbedder,
                                               counter: TokenCounter, cfg: Settings,
                                               library: Path) -> None:
    ingest(store, embedder, counter, cfg, library)
    version = store.notes_version("ann")
    path = library / "faith.md"
    path.write_text(path.read_text().replace("Abraham waited for years",
                                             "Sarah laughed, then waited for years"))
    embedder.texts.clear()
    report = ingest(store, embedder, counter, cfg, library)
    assert (report.updated, report.unchanged, report.inserted) == (1, 7, 0)
    assert all("Faith that waits" in t for t in embedder.texts)  # only the edited note
    assert store.notes_version("ann") == version + 1
    texts = " ".join(c.text for c in store.search("ann", embedder.embed(["faith"])[0], 50))
    assert "Sarah laughed" in texts and "Abraham" not in texts
    assert store.search("ann", None, 5, query_text="Abraham", params=LEXICAL) == []
    hits = store.search("ann", None, 5, query_text="Sarah laughed", params=LEXICAL)
    assert hits and hits[0].note_id == "faith"


def test_prune_deletes_notes_gone_from_the_folder(store: PgVectorStore,
                                                  embedder: CountingEmbedder,
                                                  counter: TokenCounter, cfg: Settings,
                                                  library: Path) -> None:
    ingest(store, embedder, counter, cfg, library)
    version = store.notes_version("ann")
    (library / "sub" / "meals.md").unlink()
    kept = ingest(store, embedder, counter, cfg, library)
    assert kept.deleted == 0 and "meals" in {n["note_id"] for n in store.list_notes("ann")}
    pruned = ingest(store, embedder, counter, cfg, library, prune=True)
    assert (pruned.deleted, pruned.unchanged) == (1, 7)
    assert "meals" not in {n["note_id"] for n in store.list_notes("ann")}
    assert store.notes_version("ann") == version + 1
    assert store.search("ann", None, 5, query_text="Tomasz", params=LEXICAL) == []
    empty = library.parent / "empty"
    empty.mkdir()
    with pytest.raises(InvalidNote, match="refusing to prune"):
        ingest(store, embedder, counter, cfg, empty, prune=True)


def test_changed_chunk_settings_rebuild_notes(store: PgVectorStore, embedder: CountingEmbedder,
                                              counter: TokenCounter, cfg: Settings,
                                              library: Path) -> None:
    notes = load_notes(library)
    ingest_notes(parts_of(store, embedder, counter, cfg), "ann", notes, progress=False)
    smaller = cfg.with_overrides(chunk_tokens=48, chunk_overlap_tokens=8)
    assert stored_hash(notes[0], smaller) != stored_hash(notes[0], cfg)
    report = ingest_notes(parts_of(store, embedder, counter, smaller), "ann", notes,
                          progress=False)
    assert report.updated == 8
    assert store.count_chunks("ann") == report.chunks_written > 8
    assert all(counter.count(c.text) <= 48
               for c in store.search("ann", embedder.embed(["x"])[0], 50))


def test_duplicate_ids_are_refused(store: PgVectorStore, embedder: CountingEmbedder,
                                   counter: TokenCounter, cfg: Settings) -> None:
    notes = [Note(id="a", title="A", body="x"), Note(id="a", title="B", body="y")]
    with pytest.raises(InvalidNote, match="'a'"):
        ingest_notes(parts_of(store, embedder, counter, cfg), "ann", notes, progress=False)
    assert store.notes_version("ann") == 0


def test_progress_bar_runs(store: PgVectorStore, embedder: CountingEmbedder,
                           counter: TokenCounter, cfg: Settings, library: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    report = ingest_path(parts_of(store, embedder, counter, cfg), "ann", library,
                         progress=True)
    assert report.inserted == 8
    assert "chunk" in capsys.readouterr().err


def test_users_are_kept_apart(store: PgVectorStore, embedder: CountingEmbedder,
                              counter: TokenCounter, cfg: Settings, library: Path) -> None:
    ingest(store, embedder, counter, cfg, library, user="ann")
    ingest(store, embedder, counter, cfg, library, user="bob")
    assert store.users() == ["ann", "bob"]
    query = "What does Micah 6:8 teach?"
    vector = embedder.embed([query])[0]
    for mode in ("dense", "lexical", "hybrid"):
        got = store.search("bob", vector, 10, query_text=query,
                           params=Retrieval(retrieval_mode=mode))  # type: ignore[arg-type]
        assert got and all(c.user_id == "bob" for c in got)


@pytest.mark.parametrize("query", ["What does Micah 6:8 teach?", "Which passage did Tomasz read?"])
def test_hybrid_finds_what_dense_ranks_low(store: PgVectorStore, embedder: CountingEmbedder,
                                           counter: TokenCounter, cfg: Settings, library: Path,
                                           query: str) -> None:
    ingest(store, embedder, counter, cfg, library)
    vector = embedder.embed([query])[0]
    dense = store.search("ann", vector, 8, query_text=query, params=DENSE)
    dense_rank = next(c.dense_rank for c in dense if c.note_id == "meals")
    assert dense_rank is not None and dense_rank >= 4
    hybrid = store.search("ann", vector, 5, query_text=query, params=HYBRID)
    assert hybrid[0].note_id == "meals"
    assert hybrid[0].lexical_rank == 1 and hybrid[0].dense_rank == dense_rank
    assert hybrid[0].score == pytest.approx(
        next(c.score for c in dense if c.note_id == "meals"), abs=1e-5)


def test_metadata_is_searchable(store: PgVectorStore, embedder: CountingEmbedder,
                                counter: TokenCounter, cfg: Settings, library: Path) -> None:
    ingest(store, embedder, counter, cfg, library)
    # the speaker is only in the metadata, never in a body
    hits = store.search("ann", None, 10, query_text="Grace Adeyemi", params=LEXICAL)
    assert {c.note_id for c in hits[:2]} == {"kindness", "advocate"}
    assert store.search("ann", None, 1, query_text="Hebrews 11", params=LEXICAL)[0].note_id \
        == "faith"
    vector = embedder.embed(["sermons by Grace Adeyemi"])[0]
    dense = store.search("ann", vector, 3, params=DENSE)
    assert {"kindness", "advocate"} & {c.note_id for c in dense}
