"""A deep search (``rag-core search --top-k`` up to 1000) returns top_k distinct chunks in every
mode, on a real PostgreSQL + pgvector, through the shared HNSW and GIN indexes: each candidate
list and ``hnsw.ef_search`` rise to at least top_k, whatever the configured depths."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

from rag_core.cli import main as cli
from rag_core.config import Retrieval
from rag_core.store import ChunkDraft, NoteWrite
from rag_core.store.pgvector import PgVectorStore
from rag_core.store.searching import statement
from rag_core.types import Note

DIM = 384
WORDS = ("grace", "covenant", "harvest", "shepherd", "jordan", "manna", "exile", "vineyard")
QUESTION = "the shepherd at harvest"
CHUNKS = 360
# shallow knobs, and no user searched on their own rows: the deep search must raise them itself
SHALLOW = dict(hnsw_ef_search=10, dense_candidates=10, lexical_candidates=10,
               user_scan_max_chunks=0, user_scan_scale=0.0)


def text(i: int) -> str:
    return f"Notes on {WORDS[i % len(WORDS)]} and {WORDS[(i * 3 + 1) % len(WORDS)]}, part {i}."


@pytest.fixture
def deep_user(store: PgVectorStore) -> PgVectorStore:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(CHUNKS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [NoteWrite(Note(id=f"n{i}", title=f"Sermon {i}", body=text(i)), f"h{i}",
                       [ChunkDraft(0, text(i), hashlib.sha1(text(i).encode()).hexdigest())],
                       vectors[i:i + 1]) for i in range(CHUNKS)]
    store.upsert_notes("deep", items)
    return store


def matching() -> int:
    return sum(1 for i in range(CHUNKS)
               if {"shepherd", "harvest"} & set(re.findall(r"[a-z]+", text(i))))


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["dense", "hybrid", "lexical"])
def test_a_deep_search_returns_top_k_distinct_chunks(deep_user: PgVectorStore,
                                                     mode: str) -> None:
    query = np.random.default_rng(5).normal(size=DIM).astype(np.float32)
    top_k = 300
    got = deep_user.search("deep", query, top_k, query_text=QUESTION,
                           params=Retrieval(retrieval_mode=mode, **SHALLOW))  # type: ignore[arg-type]
    ids = [c.chunk_id for c in got]
    assert len(set(ids)) == len(ids)
    # lexical search can only return the chunks that hold a word of the question
    assert len(ids) == (min(top_k, matching()) if mode == "lexical" else top_k)
    if mode == "dense":
        scores = [c.score for c in got]
        assert scores == sorted(scores, reverse=True)


def test_every_candidate_list_is_at_least_top_k_deep() -> None:
    vector = np.zeros(DIM, dtype=np.float32)
    for mode in ("dense", "lexical", "hybrid"):
        _, values = statement(Retrieval(retrieval_mode=mode, **SHALLOW), 1000,  # type: ignore[arg-type]
                              "u", vector, QUESTION)
        assert values.get("k", 1000) >= 1000 and values.get("lexical_depth", 1000) >= 1000


def test_the_search_command_takes_up_to_1000_and_refuses_more(capsys) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["search", "x", "--user", "u", "--top-k", "1000"]).top_k == 1000
    with pytest.raises(SystemExit) as refused:
        parser.parse_args(["search", "x", "--user", "u", "--top-k", "1001"])
    assert refused.value.code == 2
    assert "error INVALID_ARGUMENT: argument --top-k: must be at most 1000" in \
        capsys.readouterr().err
    with pytest.raises(SystemExit):  # answers keep the service's limit
        parser.parse_args(["ask", "x", "--user", "u", "--top-k", "51"])
