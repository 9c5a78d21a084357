"""Steps 1-2 of a question, written once for both drivers (``answers.drive``): validate, then
the exact cache, whose one read is yielded to the driver rather than made here."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

from rag_core.answer import Answer
from rag_core.answers.drive import ExactRead
from rag_core.safety.guard import has_substance, validate_query
from rag_core.telemetry import metrics, steps
from rag_core.types import Query

if TYPE_CHECKING:
    from rag_core.answers.assemble import AnswerMaker
    from rag_core.parts import Parts
    from rag_core.run import Run

REFUSAL_ANSWER = (
    "I can only answer questions about your own notes, and I don't share my instructions."
)


def first_steps(parts: Parts, answers: AnswerMaker, run: Run, question: object
                ) -> Generator[ExactRead, Answer | None, Answer | None]:
    """Steps 1-2: validate, then the exact cache (its read yielded to the driver). A finished
    answer (a refusal, an exact hit), or None to go on."""
    with run.step("validate"):
        run.query = validated(parts, run.user_id, question)
    if not has_substance(run.query.text):
        return answers.finish(run, REFUSAL_ANSWER, outcome="refused")
    with run.step("query_cache"), steps.lookup("query") as lookup:
        cached = yield ExactRead(run)
        lookup.end(run.cache["query"])
    if cached is None:
        return None
    if cached.no_context:  # a remembered "nothing in your notes" is still one
        metrics.NO_CONTEXT.inc()
    return answers.from_cache(run, cached, "cached")


def validated(parts: Parts, user_id: str, question: object) -> Query:
    """Step 1: the question checked and sanitised (``safety.guard``), its truncation and the
    sanitiser's flags counted."""
    query = validate_query(user_id, question, parts.counter, parts.settings,
                           sanitiser=parts.sanitiser)
    if query.truncated:
        metrics.TRUNCATIONS.inc()
    for flag in query.flags:
        metrics.SANITISER_FLAGS.labels(family=flag).inc()
    return query
