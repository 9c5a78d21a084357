"""Filters read from the question narrow the pipeline's search on the real PostgreSQL: a speaker
or year the question names searches the notes whose front matter has it plus the notes whose
text names it; a name no front matter holds narrows nothing; the caller's filter wins for its
field. The hash embedder stands in for the model (what is searched is the point here)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rag_core.config import Settings
from rag_core.ingest.ingestion import ingest_notes
from rag_core.pipeline import Pipeline
from rag_core.store.filters import Filters
from rag_core.types import Note

pytestmark = pytest.mark.integration

OKAFOR, BRANNIGAN = "Pastor Miriam Okafor", "Rev. Daniel Brannigan"
NOTES = [
    Note("okafor-storm", "Storm", "Mercy in the storm: the disciples woke Jesus in the boat.",
         date="2024-03-10", speaker=OKAFOR),
    Note("okafor-table", "Table", "Mercy at the table, where the prodigal was welcomed home.",
         date="2023-05-07", speaker=OKAFOR),
    # names her and the year in its text, though another speaker's and dated 2023
    Note("brannigan-recalls", "Recalls", "Rev. Brannigan recalled the mercy Pastor Miriam "
         "Okafor preached after the floods of 2024.", date="2023-11-05", speaker=BRANNIGAN),
    Note("brannigan-storm", "Again", "Mercy in the storm, told again by a fisherman.",
         date="2022-01-09", speaker=BRANNIGAN),
    Note("undated", "For all", "Mercy for all of us, in every storm."),
]
EVERY = {n.id for n in NOTES}
ASK = {"top_k": 20}  # more than the chunks: whatever may be searched comes back


@pytest.fixture
def pipe(settings: Settings, database_url: str) -> Iterator[Pipeline]:
    from fakes import HashEmbedder

    from rag_core.parts import (
        Parts,
        build_caches,
        build_generator,
        build_judges,
        build_ledger,
        build_limiters,
    )
    from rag_core.store.pgvector import store_for
    from rag_core.store.user_limits import user_limits_for
    from rag_core.tokens import default_counter

    settings = settings.with_overrides(database_url=database_url)
    store = store_for(settings)
    store.ensure_schema()
    judges = build_judges(settings, store)
    parts = Parts(settings=settings, store=store,
                  embedder=HashEmbedder(settings.embedding.embedding_dim),
                  caches=build_caches(settings, None, judges.semantic),
                  generator=build_generator(settings, None),
                  ledger=build_ledger(settings, None, store), counter=default_counter(),
                  judges=judges, limiters=build_limiters(settings, None, user_limits_for(store)))
    ingest_notes(parts, "ann", NOTES, progress=False)
    ingest_notes(parts, "bob", [Note("bob-1", "Bob", f"{OKAFOR} on mercy in 2024.",
                                     date="2024-01-01", speaker=OKAFOR)], progress=False)
    yield Pipeline(parts)
    store.close()


def searched(pipe: Pipeline, question: str, **extra: Any) -> set[str]:
    return {c.note_id for c in pipe.search("ann", question, **{**ASK, **extra})}


def test_a_question_naming_a_speaker_searches_hers_and_the_notes_naming_her(
        pipe: Pipeline) -> None:
    assert searched(pipe, "What was said about mercy?") == EVERY
    assert searched(pipe, "What did pastor miriam okafor say about mercy?") == {
        "okafor-storm", "okafor-table", "brannigan-recalls"}
    answer = pipe.ask("ann", "What did Pastor Miriam Okafor say about mercy?", top_k=20)
    assert {r.note_id for r in answer.retrieved} == {
        "okafor-storm", "okafor-table", "brannigan-recalls"}
    assert answer.decisions.narrowed.to_dict() == {
        "speaker": [OKAFOR], "speaker_words": ["miriam", "okafor", "pastor"],
        "described": f"speaker {OKAFOR!r} (or a note whose text names it)"}


def test_a_year_keeps_a_note_whose_text_holds_it_though_dated_otherwise(pipe: Pipeline) -> None:
    assert searched(pipe, "What was preached about mercy in 2024?") == {
        "okafor-storm", "brannigan-recalls"}
    assert searched(pipe, "What did Pastor Miriam Okafor say about mercy in 2023?") == {
        "okafor-table", "brannigan-recalls"}  # her notes of 2023, and one that names her
    assert searched(pipe, "What was said about mercy in 1987?") == EVERY  # no note's year


def test_a_name_no_front_matter_holds_narrows_nothing(pipe: Pipeline) -> None:
    for question in ("What did Pastor Zebulon Arkwright say about mercy?",
                     "What did Okafor say about mercy?"):  # a part of a speaker's name
        assert searched(pipe, question) == EVERY, question
        answer = pipe.ask("ann", question, top_k=20)
        assert answer.decisions.narrowed is None


def test_the_caller_s_filter_wins_for_its_field(pipe: Pipeline) -> None:
    question = "What did Pastor Miriam Okafor say about mercy in 2024?"
    assert searched(pipe, question) == {"okafor-storm", "brannigan-recalls"}
    assert searched(pipe, question, filters=Filters(speaker=BRANNIGAN)) == {"brannigan-recalls"}
    assert searched(pipe, question, filters=Filters(date_to="2023")) == {
        "okafor-table", "brannigan-recalls"}


def test_a_new_note_s_front_matter_narrows_the_next_question(pipe: Pipeline) -> None:
    """The values are read per notes version (the version every cache key names): a speaker
    no note had narrows nothing, then, once a note of theirs is written, narrows."""
    question = "What did Dr. Lucia Castellanos say about mercy?"
    assert searched(pipe, question) == EVERY
    ingest_notes(pipe.parts, "ann", [Note("castellanos", "Mercy", "Mercy, said she.",
                                          speaker="Dr. Lucia Castellanos")], progress=False)
    assert searched(pipe, question) == {"castellanos"}
