"""Which of the user's notes a request searches: the caller's filters (and whether any note
passes them) and the filters read from the question (``answers.narrowing``), each shown in
the answer's ``decisions`` (``filters``, ``narrowed``)."""

from __future__ import annotations

from rag_core.answers import narrowing
from rag_core.decision_records import FiltersRecord, NarrowedRecord
from rag_core.decisions.note_facts import NotesMemo
from rag_core.run import Run
from rag_core.store.base import Store
from rag_core.store.filters import NO_FILTERS, Filters


class Scope:
    def __init__(self, store: Store, facts: NotesMemo) -> None:
        self.store, self.facts = store, facts

    def narrow(self, run: Run) -> None:
        """The filters ``run``'s question names, among the user's notes of ``run.version``
        (their facts read once per version, shared with the no-context decision)."""
        assert run.query is not None
        user, version = run.user_id, run.version
        run.narrowing = narrowing.read(run.query.text, lambda: self.facts.get(user, version),
                                       run.filters)
        if run.narrowing:
            found = run.narrowing
            run.decisions.narrowed = NarrowedRecord(
                tuple(found.speaker), tuple(found.series), found.year or None,
                tuple(found.speaker_words), found.describe())

    def filters_for(self, user_id: str, question: str, given: Filters = NO_FILTERS) -> Filters:
        """``given`` with the filters ``question`` names, at the user's notes version now:
        what the pipeline searches with (for searches outside it: the evaluations')."""
        version = self.store.notes_version(user_id)
        return given.narrowed(narrowing.read(question, lambda: self.facts.get(user_id, version),
                                             given))

    def matched(self, run: Run) -> bool:
        """Whether a note passes the caller's filters (sure when a chunk came back), in
        ``decisions``."""
        matched = bool(run.chunks) or self.store.count_matching(
            run.user_id, run.filters, min_version=run.version) > 0
        run.decisions.filters = FiltersRecord(matched, run.filters.to_dict(),
                                              run.filters.describe())
        return matched
