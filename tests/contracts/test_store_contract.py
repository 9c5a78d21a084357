"""The Store contract, run by every implementation: the in-process MemoryStore (the fast
lane's store) and PgVectorStore on the real PostgreSQL. PostgreSQL-only behaviour (schema
migrations, HNSW settings, outages) stays in tests/integration/test_store.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import numpy as np
import pytest

from rag_core.config import Retrieval, Settings
from rag_core.store.base import ChunkDraft, NoteWrite, Store
from rag_core.store.costs import DayState
from rag_core.store.filters import NO_FILTERS, Filters, Narrowing
from rag_core.store.memory import MemoryStore
from rag_core.types import Note

DIM = 384


def vectors(*seeds: int) -> np.ndarray:
    out = np.stack([np.random.default_rng(s).normal(size=DIM) for s in seeds]).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def drafts(*texts: str) -> list[ChunkDraft]:
    return [ChunkDraft(i, t, hashlib.sha256(t.encode()).hexdigest()) for i, t in enumerate(texts)]


def note(note_id: str, title: str = "A note") -> Note:
    return Note(id=note_id, title=title, body="unused by the store", speaker="Pastor Okafor")


def write(note_id: str, texts: list[str], digest: str = "v1", seed: int = 0) -> NoteWrite:
    return NoteWrite(note(note_id), digest, drafts(*texts),
                     vectors(*range(seed, seed + len(texts))))


class StoreContract:
    """Subclasses provide a fixture ``store`` with an empty store."""

    def test_upsert_is_idempotent_and_bumps_the_version(self, store: Store) -> None:
        assert store.notes_version("ann") == 0 and store.note_hash("ann", "a") is None
        first = store.upsert_note("ann", note("a"), "h1", drafts("Grace upon grace."),
                                  vectors(1))
        assert (first.status, first.chunks_written) == ("inserted", 1)
        assert store.note_hash("ann", "a") == "h1" and store.notes_version("ann") == 1
        same = store.upsert_note("ann", note("a"), "h1", drafts("Grace upon grace."),
                                 vectors(1))
        assert (same.status, same.chunks_written) == ("unchanged", 0)
        assert store.notes_version("ann") == 1
        changed = store.upsert_note("ann", note("a"), "h2", drafts("One.", "Two."),
                                    vectors(2, 3))
        assert (changed.status, changed.chunks_written) == ("updated", 2)
        assert store.notes_version("ann") == 2
        texts = {c.text for c in store.search("ann", vectors(2)[0], 10)}
        assert texts == {"One.", "Two."}  # the old chunk is gone

    def test_delete_and_list(self, store: Store) -> None:
        store.upsert_note("ann", note("a", "First"), "h", drafts("x"), vectors(1))
        store.upsert_note("ann", note("b", "Second"), "h", drafts("y"), vectors(2))
        listed = store.list_notes("ann")
        assert [r["note_id"] for r in listed] == ["a", "b"]
        assert {r["title"] for r in listed} == {"First", "Second"}
        assert all({"content_hash", "updated_at"} <= set(r) for r in listed)
        assert store.delete_note("ann", "a") is True and store.delete_note("ann", "a") is False
        assert [r["note_id"] for r in store.list_notes("ann")] == ["b"]
        assert store.notes_version("ann") == 3

    def test_user_texts_are_every_chunk_of_the_user_with_its_front_matter(self, store: Store
                                                                          ) -> None:
        store.upsert_note("ann", note("b", "Second"), "h", drafts("Two.", "Three."),
                          vectors(1, 2))
        store.upsert_note("ann", note("a", "First"), "h", drafts("One."), vectors(3))
        store.upsert_note("bob", note("c"), "h", drafts("Not Ann's."), vectors(4))
        rows = store.user_texts("ann")
        assert [(n, t) for n, t, _ in rows] == [("a", "One."), ("b", "Two."), ("b", "Three.")]
        assert [m["title"] for _, _, m in rows] == ["First", "Second", "Second"]
        assert all(m["speaker"] == "Pastor Okafor" for _, _, m in rows)
        assert store.user_texts("nobody") == []

    @pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
    def test_search_is_scoped_to_the_user(self, store: Store, mode: str) -> None:
        store.upsert_note("ann", note("a"), "h", drafts("Mercy in the storm."), vectors(1))
        store.upsert_note("bob", note("b"), "h", drafts("Mercy in the storm."), vectors(1))
        got = store.search("ann", vectors(1)[0], 5, query_text="mercy storm",
                           params=Retrieval(retrieval_mode=mode))  # type: ignore[arg-type]
        assert got and {c.user_id for c in got} == {"ann"}
        assert store.search("carol", vectors(1)[0], 5, query_text="mercy",
                            params=Retrieval(retrieval_mode=mode)) == []  # type: ignore[arg-type]

    def test_dense_search_is_best_first_with_cosine_scores(self, store: Store) -> None:
        vecs = vectors(1, 2, 3, 4)
        store.upsert_note("ann", note("a"), "h", drafts("w", "x", "y", "z"), vecs)
        got = store.search("ann", vecs[2], 3, params=Retrieval(retrieval_mode="dense"))
        assert len(got) == 3 and got[0].text == "y"
        assert got[0].score == pytest.approx(1.0, abs=1e-4)
        scores = [c.score for c in got]
        assert scores == sorted(scores, reverse=True)
        assert got[0].metadata["title"] == "A note"

    def test_hybrid_reports_both_ranks(self, store: Store) -> None:
        vecs = vectors(1, 2)
        store.upsert_note("ann", note("a"), "h", drafts("Zacchaeus climbed a tree.",
                                                        "Unrelated words."), vecs)
        got = store.search("ann", vecs[0], 2, query_text="Zacchaeus",
                           params=Retrieval(retrieval_mode="hybrid"))
        top = got[0]
        assert top.text.startswith("Zacchaeus")
        assert top.dense_rank == 1 and top.lexical_rank == 1 and top.fused_score

    def test_a_bulk_write_reports_each_note_in_order(self, store: Store) -> None:
        first = store.upsert_notes("ann", [write("a", ["one", "two"]), write("b", ["three"])])
        assert [(r.note_id, r.status, r.chunks_written) for r in first] == [
            ("a", "inserted", 2), ("b", "inserted", 1)]
        assert store.notes_version("ann") == 2  # one bump per note changed
        again = store.upsert_notes("ann", [write("a", ["one", "two"]),
                                           write("b", ["four"], "v2", seed=5),
                                           write("c", ["five", "six"], seed=7)])
        assert [(r.status, r.chunks_written) for r in again] == [
            ("unchanged", 0), ("updated", 1), ("inserted", 2)]
        assert store.notes_version("ann") == 4
        texts = {c.text for c in store.search("ann", vectors(5)[0], 10)}
        assert texts == {"one", "two", "four", "five", "six"}  # "three" was replaced
        assert store.upsert_notes("ann", []) == []

    def test_note_hashes_names_only_the_users_known_notes(self, store: Store) -> None:
        store.upsert_notes("ann", [write("a", ["x"]), write("b", ["y"], "v2")])
        store.upsert_notes("bob", [write("c", ["z"], "v3")])
        assert store.note_hashes("ann", ["a", "b", "c", "zzz"]) == {"a": "v1", "b": "v2"}
        assert store.note_hashes("bob", ["a", "c"]) == {"c": "v3"}
        assert store.note_hashes("ann", []) == {}

    def test_a_bad_bulk_write_keeps_nothing(self, store: Store) -> None:
        with pytest.raises(ValueError, match="twice"):
            store.upsert_notes("ann", [write("a", ["one"]), write("a", ["two"])])
        bad = write("b", ["x", "y"])
        with pytest.raises(ValueError, match="shape"):
            store.upsert_notes("ann", [write("a", ["one"]),
                                       NoteWrite(bad.note, "v1", bad.chunks, bad.embeddings[:1])])
        assert store.notes_version("ann") == 0 and store.list_notes("ann") == []

    def test_hybrid_explains_each_hit(self, store: Store) -> None:
        vecs = vectors(1, 2)
        store.upsert_note("ann", note("a"), "h", drafts("Zacchaeus climbed a tree.",
                                                        "Unrelated words."), vecs)
        got = store.search("ann", vecs[1], 2, query_text="Zacchaeus tree",
                           params=Retrieval(retrieval_mode="hybrid"))
        by_text = {c.text: c for c in got}
        lexical = by_text["Zacchaeus climbed a tree."]
        assert lexical.lexical_rank == 1 and lexical.lexical_score and lexical.matched_terms
        assert by_text["Unrelated words."].lexical_rank is None
        assert by_text["Unrelated words."].dense_rank == 1
        assert [c.fused_score for c in got] == sorted((c.fused_score or 0.0 for c in got),
                                                      reverse=True)

    @pytest.mark.parametrize("path", ["own_rows", "shared_index", "own_rows ts_rank_cd",
                                      "shared_index ts_rank_cd"])
    @pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid", "hybrid_prf", "auto"])
    def test_filters_narrow_the_search_itself(self, store: Store, mode: str,
                                              path: str) -> None:
        """Only the notes that pass the filters are searched: the one note that passes is
        found at top_k 1 although two others are closer (a filter applied to the results
        would find nothing), in every mode, on the user's rows and through the shared
        indexes, with either lexical ranker (PostgreSQL; the in-memory store has one path)."""
        near = vectors(1)
        store.upsert_notes("ann", [
            NoteWrite(Note("a", "Walks", "-", date="2024-03-10", speaker="Pastor Miriam Okafor",
                           series="Hebrews", tags=("faith", "trust")), "h",
                      drafts("Mercy in the storm, and faith that walks."), vectors(9)),
            NoteWrite(Note("b", "Again", "-", date="2023-11-05", speaker="Rev. Daniel Brannigan",
                           series="Stories", tags=("mercy",)), "h",
                      drafts("Mercy in the storm, told again."), near),
            NoteWrite(Note("c", "Undated", "-"), "h", drafts("Mercy in the storm for all."),
                      near)])
        store.upsert_notes("bob", [NoteWrite(Note("z", "Bob's", "-", date="2024-03-10",
                                                  speaker="Pastor Miriam Okafor"), "h",
                                             drafts("Mercy in the storm."), near)])
        params = Retrieval(retrieval_mode=mode)  # type: ignore[arg-type]
        if path.startswith("shared_index"):
            params = params.with_(user_scan_max_chunks=0, user_scan_scale=0.0)
        if path.endswith("ts_rank_cd"):
            params = params.with_(lexical_ranker="ts_rank_cd")
        cases = [
            (Filters(speaker="pastor miriam OKAFOR"), {"a"}),
            (Filters(series="STORIES"), {"b"}),
            (Filters(tags=("none", "Faith")), {"a"}),
            (Filters(date_from="2024"), {"a"}),
            (Filters(date_to="2023-11"), {"b"}),
            (Filters(date_from="2023-11-05", date_to="2023-11-05"), {"b"}),
            (Filters(speaker="Pastor Miriam Okafor", date_to="2023"), set()),
            (Filters(speaker="Nobody"), set()),
        ]
        for filters, expected in cases:
            got = store.search("ann", near[0], 1, query_text="mercy storm", params=params,
                               filters=filters)
            assert {c.note_id for c in got} == expected, filters
            assert {c.user_id for c in got} <= {"ann"}
            assert store.count_matching("ann", filters) == len(expected), filters
        every = store.search("ann", near[0], 5, query_text="mercy storm", params=params,
                             filters=NO_FILTERS)
        assert {c.note_id for c in every} == {"a", "b", "c"}
        assert store.count_matching("ann", NO_FILTERS) == 3

    @pytest.mark.parametrize("path", ["own_rows", "shared_index", "shared_index ts_rank_cd"])
    @pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid", "hybrid_prf"])
    def test_the_question_s_filters_keep_the_notes_whose_text_names_the_value(
            self, store: Store, mode: str, path: str) -> None:
        """A filter read from the question (``Narrowing``) keeps the notes whose front matter
        has the value and those whose text names it (whole words, any case, in any chunk of
        the note), inside the search; the caller's filters still apply beside it."""
        near = vectors(1)
        store.upsert_notes("ann", [
            NoteWrite(Note("a", "Walks", "-", date="2024-03-10", speaker="Pastor Miriam Okafor",
                           series="Hebrews"), "h", drafts("Mercy in the storm."), vectors(9)),
            NoteWrite(Note("b", "Again", "-", date="2023-11-05", speaker="Rev. Daniel Brannigan",
                           series="Stories"), "h",
                      drafts("Mercy in the storm, told again.",
                             "As PASTOR MIRIAM\nokafor said at Easter 2024."), vectors(2, 3)),
            NoteWrite(Note("c", "Undated", "-", speaker="Rev. Daniel Brannigan"), "h",
                      drafts("Mercy in the storm for all: pastor miriam okafors, 20245."),
                      near)])
        store.upsert_notes("bob", [NoteWrite(Note("z", "Bob's", "-", date="2022-01-01"), "h",
                                             drafts("Pastor Miriam Okafor, 2024, mercy."),
                                             near)])
        params = Retrieval(retrieval_mode=mode)  # type: ignore[arg-type]
        if path.startswith("shared_index"):
            params = params.with_(user_scan_max_chunks=0, user_scan_scale=0.0)
        if path.endswith("ts_rank_cd"):
            params = params.with_(lexical_ranker="ts_rank_cd")
        okafor = ("Pastor Miriam Okafor",)
        cases = [
            (Filters().narrowed(Narrowing(speaker=okafor)), {"a", "b"}),
            (Filters().narrowed(Narrowing(year="2024")), {"a", "b"}),
            (Filters().narrowed(Narrowing(series=("Stories",))), {"b"}),
            (Filters().narrowed(Narrowing(speaker=("Pastor Miriam Okafor",
                                                   "Rev. Daniel Brannigan"))), {"a", "b", "c"}),
            (Filters(speaker="Rev. Daniel Brannigan").narrowed(Narrowing(year="2024")), {"b"}),
            (Filters().narrowed(Narrowing(speaker=okafor, series=("Hebrews",))), {"a"}),
            (Filters().narrowed(Narrowing(year="2022")), set()),
        ]
        for filters, expected in cases:
            got = store.search("ann", near[0], 10, query_text="mercy storm", params=params,
                               filters=filters)
            if mode != "lexical":  # lexical finds only chunks with the words
                assert {c.note_id for c in got} == expected, filters
            assert {c.note_id for c in got} <= expected and {c.user_id for c in got} <= {"ann"}
            assert store.count_matching("ann", filters) == len(expected), filters

    def test_cost_rows_add_up_per_user_and_day(self, store: Store) -> None:
        store.costs.add_cost("2026-11-22", "ann", 0.25, 100, 10)
        store.costs.add_cost("2026-11-22", "ann", 0.5, 50, 5)
        store.costs.add_cost("2026-11-22", "bob", 0.1, 1, 1)
        store.costs.add_cost("2026-11-21", "ann", 9.0, 1, 1)
        rows = {r["user_id"]: r for r in store.costs.costs_for_day("2026-11-22")}
        assert rows["ann"]["cost_usd"] == pytest.approx(0.75)
        assert rows["ann"]["requests"] == 2 and rows["ann"]["input_tokens"] == 150
        assert [r["user_id"] for r in store.costs.costs_for_day("2026-11-22")] == ["ann", "bob"]

    def test_a_reservation_counts_until_its_cost_row_closes_it(self, store: Store) -> None:
        day = "2026-11-22"
        store.costs.reserve("r1", day, "ann", 0.3)
        store.costs.reserve("r2", day, "bob", 0.2)
        store.costs.add_cost(day, "ann", 0.1, 10, 1)
        assert store.costs.day_state(day, "ann", 600) == DayState((0.1, 0.1), (0.3, 0.5))
        store.costs.add_cost(day, "ann", 0.25, 10, 1, reservation_id="r1")
        store.costs.release("r2")
        state = store.costs.day_state(day, "ann", 600)
        assert state.spent == pytest.approx((0.35, 0.35)) and state.held == (0.0, 0.0)

    def test_ping(self, store: Store) -> None:
        assert store.ping() is True


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Store:
        return MemoryStore(DIM)


class Teststore_for(StoreContract):
    @pytest.fixture
    def store(self, settings: Settings, database_url: str) -> Iterator[Store]:
        from rag_core.store.pgvector import store_for

        st = store_for(settings.with_overrides(database_url=database_url))
        st.ensure_schema()
        yield st
        st.close()
