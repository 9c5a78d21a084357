""""This answer was wrong": a user's verdict on an answer, and verdicts as labelled items.

``give_verdict`` resolves an answer id (``rag_core.answers.log``) through its record in
PostgreSQL; only the user who got the answer may judge it (anyone else, or an unknown id:
``AnswerNotFound``, 404, the same for both so that ids reveal nothing). A ``wrong`` verdict
takes the answer out of every cache layer of that user: its L1 entry and stale twin, the
semantic entry that holds it (so that no paraphrase reuses it) and the L1 entries of the
paraphrases that already reused it. The verdict is stored with the question and the answer as
the cache entry held them, and counted in ``answer_feedback_total{verdict, source}``. A user
has one verdict per answer (a new one replaces theirs) and gives or changes at most
``VERDICTS_PER_WINDOW`` per ``VERDICT_WINDOW`` (``FeedbackRateLimited``, 429): changing one
verdict again and again counts each change. Verdicts are
kept ``RAG_FEEDBACK_DAYS`` days, and a deleted note's text leaves the verdicts whose answers
cited it (``Records.redact_note``, in the delete's transaction).

``export_verdicts`` writes them in the golden set's shape (``evals.datasets.golden``): a folder with
``qa/feedback.jsonl`` (each judged question as a QA item, id ``fb-<verdict>-<n>``) and
``semantic_pairs/feedback.jsonl`` (each judged semantic reuse as a pair: ``near_miss`` when
wrong, ``paraphrase`` when right), plus ``verdicts.jsonl`` with every verdict in full (the
answer judged, the comment, the layer that served it).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rag_core.answers.log import parse_id
from rag_core.errors import AnswerNotFound, FeedbackRateLimited
from rag_core.store.records import AnswerRecord, Records, Verdict
from rag_core.telemetry import metrics, verdicts

if TYPE_CHECKING:
    from rag_core.cache.answer_layer import AnswerLayer

VerdictName = Literal["wrong", "right"]
# A user gives (or changes) at most this many verdicts per window: enough for someone reading
# their answers, too few for a flood of comments into the exported labels.
VERDICTS_PER_WINDOW = 60
VERDICT_WINDOW = timedelta(hours=1)


def give_verdict(records: Records, answers: AnswerLayer, user_id: str, answer_id: str,
                 verdict: VerdictName, comment: str | None = None, *,
                 now: datetime | None = None) -> Verdict:
    """Keep the user's verdict on one of their answers (replacing their earlier one on it) in
    ``records``; ``answers``: the L1 layer whose entry it judges (and forgets, when wrong)."""
    parsed = parse_id(answer_id)
    record = records.answer(parsed[0]) if parsed else None
    if parsed is None or record is None or record.user_id != user_id:
        raise AnswerNotFound()
    now = now or datetime.now(UTC)
    window_start = now - VERDICT_WINDOW
    if records.recent_verdicts(user_id, window_start) >= VERDICTS_PER_WINDOW:
        raise FeedbackRateLimited(
            f"At most {VERDICTS_PER_WINDOW} verdicts an hour; retry after Retry-After seconds.",
            retry_after=VERDICT_WINDOW.total_seconds() / VERDICTS_PER_WINDOW)
    source = parsed[1] or record.source
    entry = answers.peek(record.cache_key)
    semantic = entry.decisions.semantic if entry is not None else None
    kept = records.add_verdict(Verdict(
        answer_id=answer_id, user_id=user_id, verdict=verdict, source=source,
        comment=comment or None,
        question=entry.question if entry is not None else "",
        answer=entry.answer if entry is not None else "",
        matched_question=(semantic.matched_query or None
                          if semantic is not None and record.source == "semantic" else None),
        no_context=bool(entry.no_context) if entry is not None else False,
        note_ids=sorted({c.note_id for c in entry.citations}) if entry is not None else []),
        window_start)
    if verdict == "wrong":
        forget(records, answers, record)
    metrics.FEEDBACK.labels(verdict=verdict, source=source).inc()
    verdicts.emit(answer_id, verdict, source, record.trace_id, record.span_id)
    return kept


def forget(records: Records, answers: AnswerLayer, record: AnswerRecord) -> None:
    """The answer of ``record`` out of every cache layer of its user, with its reuses (which
    ``records`` names)."""
    for rec in (record, *records.reuses_of(record.answer_id, record.user_id)):
        answers.forget(rec.user_id, rec.cache_key, rec.notes_version, rec.semantic_field)


# --- export -----------------------------------------------------------------------------


def qa_item(v: Verdict) -> dict[str, object]:
    """A verdict as a QA item of the golden shape. A right answer is its own reference; a
    wrong one keeps the user's comment (their correction, if any) as the reference and is
    marked ``expect_no_context`` only when the user said a "nothing in your notes" was right."""
    return {
        "id": f"fb-{v.verdict}-{v.id:06d}", "user_id": v.user_id, "question": v.question,
        "scenario": "no_context" if v.no_context and v.verdict == "right" else "factual",
        "reference_answer": v.answer if v.verdict == "right" else (v.comment or ""),
        "reference_note_ids": list(v.note_ids) if v.verdict == "right" else [],
        "reference_chunk_texts": [], "attack": None,
        "expect_no_context": bool(v.no_context and v.verdict == "right"),
        "split": "dev",
    }


def pair_item(v: Verdict) -> dict[str, object]:
    """A judged semantic reuse as a labelled pair: ``a`` the cached question, ``b`` the new."""
    return {"id": f"fb-sp-{v.id:06d}", "user_id": v.user_id, "a": v.matched_question,
            "b": v.question, "label": "near_miss" if v.verdict == "wrong" else "paraphrase",
            "kind": "feedback", "split": "dev"}


def export_verdicts(records: Records, out: str | Path) -> dict[str, int]:
    """Write every verdict that kept its question; returns the counts written and skipped."""
    out = Path(out)
    qa, pairs, skipped = [], [], 0
    for v in records.verdicts():
        if not v.question:
            skipped += 1  # the cache entry was gone when the verdict came: nothing to label
            continue
        qa.append(qa_item(v))
        if v.matched_question:
            pairs.append(pair_item(v))
    full = [{**asdict(v), "created_at": v.created_at.isoformat() if v.created_at else None}
            for v in records.verdicts()]
    for name, rows in (("qa/feedback.jsonl", qa), ("semantic_pairs/feedback.jsonl", pairs),
                       ("verdicts.jsonl", full)):
        if rows:  # the golden loaders read every file of a folder: no empty ones
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            (out / name).write_text("".join(json.dumps(r, ensure_ascii=False) + "\n"
                                            for r in rows), encoding="utf-8")
    return {"qa": len(qa), "semantic_pairs": len(pairs), "skipped": skipped}
