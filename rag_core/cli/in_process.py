"""``ask`` and ``chat`` answered in this process (no ``--server``): every part built once, the
pipeline over them, for as many questions as the command asks. Imported only on that path
(``rag_core.cli.questions``, ``rag_core.cli.chat``): the way through a running server loads
neither the pipeline nor a model."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from rag_core.answers.conversation import ask_in_conversation
from rag_core.cli.command import parts_of, settings_now
from rag_core.pipeline import Pipeline
from rag_core.store.filters import NO_FILTERS, Filters

# (question, conversation: None for a question on its own, `new` or an id) -> the answer's dict
AskHere = Callable[[str, str | None], dict[str, Any]]


@contextlib.contextmanager
def asking_here(user: str, top_k: int | None,
                filters: Filters = NO_FILTERS) -> Iterator[AskHere]:
    """Ask ``user``'s notes in this process, the parts closed when the block ends."""
    with parts_of(settings_now()) as parts:
        pipeline = Pipeline(parts)

        def ask(question: str, conversation: str | None) -> dict[str, Any]:
            answer = pipeline.ask(user, question, top_k=top_k, filters=filters) \
                if conversation is None else ask_in_conversation(
                    pipeline, user, question, conversation, top_k=top_k, filters=filters)
            return answer.to_dict()

        yield ask
