"""What is kept about each answer served: its record (the answer id a verdict names), what a
cache hit saved, and, opt-in, the query log line.

An answer the service made (generated, a semantic reuse, "nothing in your notes", a refusal)
gets a new id and a record in PostgreSQL (``rag_core.store.records``), written after the answer
is cached and before it is sent. A cache hit gives back the id of the entry that served it with
its layer: ``<id>.query`` (L1) or ``<id>.stale``. Nothing of this is kept in Redis beyond the
cache entries themselves, which carry their id.

Everything here fails open: a database that cannot take a record costs the answer its verdict
(an unknown id later), never the answer.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import re
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.answer import Answer
from rag_core.cache.semantic import SemanticCache
from rag_core.config import fixed
from rag_core.costs.billing import FREE_GENERATORS
from rag_core.costs.ledger import CostLedger, price
from rag_core.store.note_history import sweep_trash
from rag_core.store.records import AnswerRecord, LoggedQuery, Records
from rag_core.telemetry import logs, metrics

if TYPE_CHECKING:
    from rag_core.config import Money, Settings
    from rag_core.parts import Parts
    from rag_core.run import Run

log = logging.getLogger("rag_core.answers")

SERVED_LAYERS = ("query", "stale")  # suffixes of an id served from a cache entry
SOURCES = ("llm", "semantic", "query", "stale", "none")  # answer_feedback_total{source}
ID_PATTERN = re.compile(r"([0-9a-f]{32})(?:\.(query|stale))?")
PRUNE_EVERY_S = 3600.0
QUERY_LOG_KEY_NAME = "query_log"  # the row of ``service_keys`` when RAG_QUERY_LOG_KEY is unset


def new_id() -> str:
    return uuid.uuid4().hex


def served_id(stored: str, layer: str) -> str:
    """The id of an answer served from a cache entry whose own id is ``stored``."""
    return f"{stored}.{layer}" if stored else ""


def parse_id(answer_id: str) -> tuple[str, str | None] | None:
    """(record id, cache layer or None), or None for text that is no answer id."""
    found = ID_PATTERN.fullmatch(answer_id)
    return (found.group(1), found.group(2)) if found else None


def source_of(run: Run, answer: Answer) -> str:
    """Who served ``answer``: a cache layer, the model (``llm``) or neither (``none``)."""
    if answer.stale:
        return "stale"
    outcome = run.cache.get("query")
    if outcome == "semantic_hit":
        return "semantic"
    if outcome == "hit":
        return "query"
    return "llm" if answer.generator != "none" else "none"


def saved_by(ledger: CostLedger, money: Money, user_id: str, cached: Answer,
             layer: str) -> float:
    """A hit on ``cached``: the model call it replaced, priced with the table of spend of
    ``money`` (an answer of a free generator, or one without a model, saved nothing). Counted
    in ``cache_saved_dollars_total{layer}`` and in the user's day of ``ledger``
    (``/v1/stats``)."""
    saved = saved_price(money, cached)
    if saved > 0:
        metrics.SAVED.labels(layer=layer).inc(saved)
        ledger.add_saved(user_id, saved)
    return saved


def saved_price(money: Money, cached: Answer) -> float:
    """What serving ``cached`` again saves: its model call, priced (``saved_by``)."""
    if cached.no_context or cached.generator in FREE_GENERATORS or cached.generator == "none":
        return 0.0
    return price(cached.usage, money)


class _Pruner:
    """Old records and query-log lines out, at most once per ``PRUNE_EVERY_S`` per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = -PRUNE_EVERY_S

    def due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._at < PRUNE_EVERY_S:
                return False
            self._at = now
            return True


_pruner = _Pruner()
QUEUE_MAX = 10_000


class _QueryLogWriter:
    """Query-log lines written by a daemon thread, off the request's path: a cache hit must
    not wait for PostgreSQL (nor hang on it while it is down, when cached answers are all the
    service can give). A full queue drops the line, and says so in the log. The user's hash
    is made here too (``user_hash``), since its key may have to be read from PostgreSQL."""

    def __init__(self, records: Records) -> None:
        self.records = records
        self.stored_key: bytes | None = None  # read once from PostgreSQL
        self.queue: queue.Queue[tuple[LoggedQuery, str, bytes | None]] = \
            queue.Queue(maxsize=QUEUE_MAX)
        self._warned = -1e9
        threading.Thread(target=self._run, name="query-log", daemon=True).start()

    def put(self, entry: LoggedQuery, user_id: str, key: bytes | None) -> None:
        try:
            self.queue.put_nowait((entry, user_id, key))
        except queue.Full:
            self._warn("query log queue full; line dropped")

    def _run(self) -> None:
        while True:
            entry, user_id, key = self.queue.get()
            try:
                if key is None:
                    if self.stored_key is None:
                        self.stored_key = self.records.service_key(QUERY_LOG_KEY_NAME)
                    key = self.stored_key
                self.records.log_query(replace(entry, user_hash=user_hash(key, user_id)))
            except Exception as exc:  # PostgreSQL down: the line is lost, the answer was not
                self._warn("query log line not written", type(exc).__name__)
            finally:
                self.queue.task_done()

    def _warn(self, message: str, error: str = "") -> None:
        now = time.monotonic()
        if now - self._warned >= 60:
            self._warned = now
            logs.log_event(log, logging.WARNING, message, error=error)


_writers: dict[int, _QueryLogWriter] = {}
_writers_lock = threading.Lock()


def _writer(records: Records) -> _QueryLogWriter:
    with _writers_lock:
        found = _writers.get(id(records))
        if found is None or found.records is not records:
            found = _writers[id(records)] = _QueryLogWriter(records)
        return found


def user_hash(key: bytes, user_id: str) -> str:
    """The query log's name for a user: HMAC-SHA256 of the id under the service's key, 16 hex
    characters. Without the key, a list of user ids does not tell whose lines are whose."""
    return hmac.new(key, user_id.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()[:16]


def query_log_key(settings: Settings) -> bytes | None:
    """``RAG_QUERY_LOG_KEY`` as bytes, or None: then the key kept in PostgreSQL is used."""
    given = settings.observability.query_log_key
    return given.get_secret_value().encode() if given is not None else None


def flush_query_log(records: Records) -> None:
    """Wait until every query-log line handed over so far is written (tests, exports)."""
    with _writers_lock:
        found = _writers.get(id(records))
    if found is not None and found.records is records:
        found.queue.join()


def keep(parts: Parts, run: Run, answer: Answer, *, origin: Answer | None = None) -> None:
    """After an answer is made: its record when its id is new (``run.answer_id``), and the
    query log line when ``RAG_QUERY_LOG`` is on (written by a background thread)."""
    source = source_of(run, answer)
    settings = parts.settings
    if settings.observability.query_log and run.query is not None:
        _writer(parts.records).put(LoggedQuery(
            at=datetime.now(UTC), user_hash="", question=run.query.text, outcome=source,
            cost_usd=answer.cost_usd), run.user_id, query_log_key(settings))
    if not answer.answer_id or answer.answer_id != run.answer_id:
        return  # a cache hit: its entry's record exists already
    try:
        matched = origin.question if origin is not None else ""
        question = matched or (run.query.text if run.query else "")
        trace_id, span_id = logs.trace_ids()  # the request's root span is current here
        parts.records.add_answer(AnswerRecord(
            answer_id=answer.answer_id, user_id=run.user_id, source=source,
            cache_key=run.key, notes_version=run.version,
            semantic_field=(SemanticCache.place_of(question, run.filters)
                            if question and source in ("llm", "semantic") else None),
            origin_id=(parse_id(origin.answer_id) or (None, None))[0]
            if origin is not None else None, trace_id=trace_id, span_id=span_id))
        if _pruner.due():  # beside a write that reached PostgreSQL, never on a hit's path
            parts.records.prune(fixed.ANSWER_RECORD_DAYS, fixed.QUERY_LOG_DAYS,
                                settings.observability.feedback_days)
            sweep_trash(parts.store.history, force=True)  # deleted notes past their time
    except Exception as exc:  # a record lost costs a verdict later, never this answer
        logs.log_event(log, logging.WARNING, "answer record not kept",
                       error=type(exc).__name__)


def export_query_log(records: Records, out: str | Path, days: int) -> int:
    """The query log of the last ``days`` days as the JSON lines that notebook 03's replay
    reads (``evals.datasets.traffic.read_log``: ``ts``, ``user``, ``question``; the user is the hash
    kept, so the notes given to the replay are a folder per user hash), with the outcome and
    the cost of each request beside them. Returns the number of lines written."""
    rows = records.queries(days)
    Path(out).write_text("".join(json.dumps({
        "ts": r.at.astimezone(UTC).isoformat(), "user": r.user_hash, "question": r.question,
        "outcome": r.outcome, "cost_usd": r.cost_usd}, ensure_ascii=False) + "\n"
        for r in rows), encoding="utf-8")
    return len(rows)
