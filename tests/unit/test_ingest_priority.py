"""Embedding yields to serving: ingestion embeds a note's chunks on the lower-priority threads
of ``embed_slots.SLOTS`` (never on the thread that asked, nor on the event loop), while a
question is embedded where it is asked, at the process's priority."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import replace
from typing import Any

import pytest
from fakes import HashEmbedder

from rag_core.ingest import embed_slots
from rag_core.ingest.ingestion import ingest_notes
from rag_core.parts import Parts
from rag_core.pipeline import Pipeline
from rag_core.types import Note


def niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


class WhereEmbedder(HashEmbedder):
    """Records the thread and niceness of every embedding call."""

    def __init__(self) -> None:
        super().__init__()
        self.where: list[tuple[str, int, int]] = []

    def embed(self, texts: Any, *, progress: bool = False) -> Any:
        self.where.append((threading.current_thread().name, niceness(), len(texts)))
        return super().embed(texts, progress=progress)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own niceness is Linux's")
def test_ingestion_embeds_on_lower_priority_threads_and_questions_do_not(
        memory_parts: Parts) -> None:
    embedder = WhereEmbedder()
    parts = replace(memory_parts, embedder=embedder)
    mine = niceness()
    ingest_notes(parts, "amara", [Note(id=f"n{k}", title=f"Walls {k}",
                                       body=f"Nehemiah rebuilt the wall, part {k}.")
                                  for k in range(3)], progress=False)
    assert embedder.where, "the notes were embedded"
    for name, nice, _ in embedder.where:
        assert name.startswith("ingest-embed")
        assert nice == min(19, mine + embed_slots.INGEST_NICENESS)
    assert niceness() == mine  # the thread that asked keeps its priority

    embedder.where.clear()
    Pipeline(parts).ask("amara", "Who rebuilt the wall?")
    assert [(name, nice) for name, nice, _ in embedder.where] == \
        [(threading.current_thread().name, mine)]


def test_an_embedding_error_reaches_the_writer() -> None:
    pool = embed_slots.LowPriorityThreads(1, "test-embed")

    def fails() -> None:
        raise RuntimeError("the model is gone")

    with pytest.raises(RuntimeError, match="the model is gone"):
        pool.run(fails)
    assert pool.run(lambda: threading.current_thread().name).startswith("test-embed")
