"""A team's own query log for the cache replay, instead of the seeded synthetic one.

``read_log`` turns JSON lines into the replay's :class:`evals.datasets.querylog.Event` s;
``check_notes``
says plainly when the log names a user or a note that the given notes do not have.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC
from pathlib import Path

from evals.datasets.querylog import Event
from rag_core.types import Note


def _seconds(value: object, line: int) -> float:
    """``ts`` as epoch seconds: a number, or an ISO-8601 string (UTC when no offset)."""
    from datetime import datetime

    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"line {line}: ts {value!r} is neither ISO-8601 nor epoch seconds"
                             ) from exc
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return stamp.timestamp()
    raise ValueError(f"line {line}: ts must be ISO-8601 or epoch seconds, got {value!r}")


def read_log(path: str | Path) -> list[Event]:
    """A query log of JSON lines, as events in time order (``t`` from the first event).

    A request is ``{"ts": ..., "user": ..., "question": ...}``; a note edit is ``{"ts": ...,
    "user": ..., "note_id": ..., "event": "edit"}``. ``ts`` is ISO-8601 or epoch seconds. Each
    user reads its own library (the folder of that name in the notes given to the replay). A
    request is ``repeat`` when the same user asked the same text before (case and trailing
    punctuation aside), else ``novel``; real logs carry no paraphrase labels.
    """
    raw: list[tuple[float, int, dict[str, object]]] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}, line {n}: not JSON ({exc.msg})") from exc
        if not isinstance(row, dict) or not row.get("user"):
            raise ValueError(f"{path}, line {n}: needs 'ts' and 'user'")
        is_edit = row.get("event") == "edit"
        if is_edit and not row.get("note_id"):
            raise ValueError(f"{path}, line {n}: an edit needs 'note_id'")
        if not is_edit and not str(row.get("question") or "").strip():
            raise ValueError(f"{path}, line {n}: a request needs 'question'")
        raw.append((_seconds(row.get("ts"), n), n, row))
    if not raw:
        raise ValueError(f"{path}: no events")
    raw.sort(key=lambda r: (r[0], r[1]))
    start = raw[0][0]
    asked: set[tuple[str, str]] = set()
    events = []
    for ts, _, row in raw:
        user = str(row["user"])
        if row.get("event") == "edit":
            events.append(Event(ts - start, user, user, "edit",
                                f"Edited (log event at {row['ts']}).", str(row["note_id"])))
            continue
        text = str(row["question"])
        key = (user, " ".join(text.casefold().split()).rstrip("?!.,;: "))
        seen = key in asked
        asked.add(key)
        events.append(Event(ts - start, user, user, "repeat" if seen else "novel", text,
                            "", seen))
    return events


def check_notes(events: Sequence[Event], notes: Mapping[str, Sequence[Note]]) -> None:
    """Every user of the log has a library, and every edited note is in it."""
    missing = sorted({e.library for e in events} - set(notes))
    if missing:
        raise ValueError(f"no notes folder for the log's users {missing}")
    ids = {lib: {n.id for n in group} for lib, group in notes.items()}
    unknown = sorted({(e.user, e.source) for e in events
                      if e.kind == "edit" and e.source not in ids[e.library]})
    if unknown:
        raise ValueError(f"edits of notes that the user does not have: {unknown[:5]}")


def observed_rate(events: Sequence[Event]) -> float:
    """Requests per user per day of a log: its requests over its users and the whole days it
    spans (a log from Monday 08:00 to Wednesday 18:00 spans 3 days). The cost projection
    scales this rate, not a default, when the log is a team's own."""
    import math

    requests = [e for e in events if e.kind != "edit"]
    if not requests:
        return 0.0
    users = len({e.user for e in requests})
    span = max(e.t for e in requests) - min(e.t for e in requests)
    days = max(1, math.ceil(span / 86400))
    return len(requests) / users / days
