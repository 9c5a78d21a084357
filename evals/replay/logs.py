"""The lines of a query log to replay, read one at a time (a log of gigabytes is never held).

Two forms are read, line by line, whichever a line is in:

- ``rag-core querylog export``: ``{"ts": ISO-8601, "user": <user hash>, "question", "outcome",
  "cost_usd"}``;
- a plain log: ``{"ts": ISO-8601 or epoch seconds, "user_id", "question"}``.

Each usable line becomes an :class:`Ask` at its offset from the first line's time. A line that
cannot be used is counted under its reason in :class:`Problems` and skipped (never an
exception): not JSON, no timestamp, no user, no question, a question over the server's length
limit, a user that the replay cannot map. A line earlier than the one before it (out of order)
is kept and sent at once (its offset is held at the latest seen), and counted.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

REASONS = ("not_json", "no_timestamp", "no_user", "no_question", "too_long",
           "unknown_user", "out_of_order")


@dataclass(frozen=True)
class Ask:
    line: int  # its line in the log (1-based)
    offset_s: float  # seconds after the log's first usable line
    log_user: str  # the user as the log names it
    user: str  # the user it is sent as (``UserMap``)
    question: str


@dataclass
class Problems:
    """Lines skipped or changed, by reason (``REASONS``), with the first line of each."""

    counts: Counter[str] = field(default_factory=Counter)
    first_line: dict[str, int] = field(default_factory=dict)
    lines: int = 0  # lines read, blank ones aside

    def add(self, reason: str, line: int) -> None:
        self.counts[reason] += 1
        self.first_line.setdefault(reason, line)

    def describe(self) -> list[str]:
        return [f"{reason}: {n} line(s), first at line {self.first_line[reason]}"
                for reason, n in sorted(self.counts.items())]


class UserMap:
    """The users questions are sent as: the log's user mapped by a hash of its name onto
    ``users`` (the dataset's users, whose notes the server holds), so that a production log
    replays on a test corpus; with ``keep`` the log's names are kept, and a name that is not
    one of ``users`` is an unknown user (its lines skipped)."""

    def __init__(self, users: Sequence[str], keep: bool = False) -> None:
        if not users:
            raise ValueError("the dataset has no users to send the questions as")
        self.users = sorted(users)
        self.keep = keep

    def __call__(self, log_user: str) -> str | None:
        if self.keep:
            return log_user if log_user in self.users else None
        digest = hashlib.sha256(log_user.encode("utf-8", "surrogatepass")).digest()
        return self.users[int.from_bytes(digest[:8], "big") % len(self.users)]


def seconds_of(value: object) -> float | None:
    """``ts`` as epoch seconds (a number, or ISO-8601, UTC without an offset); None when it
    is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def read_asks(path: str | Path, users: UserMap, max_chars: int,
              problems: Problems) -> Iterator[Ask]:
    """The usable lines of the log at ``path``, in file order, as they are read."""
    start: float | None = None
    latest = 0.0
    with open(path, encoding="utf-8", errors="replace") as lines:
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            problems.lines += 1
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                problems.add("not_json", n)
                continue
            if not isinstance(row, dict):
                problems.add("not_json", n)
                continue
            ask = _ask(row, n, users, max_chars, problems)
            if ask is None:
                continue
            ts, log_user, user, question = ask
            if start is None:
                start = ts
            offset = ts - start
            if offset < latest:  # out of order: sent at once, never back in time
                problems.add("out_of_order", n)
                offset = latest
            latest = offset
            yield Ask(n, offset, log_user, user, question)


def _ask(row: dict[str, object], n: int, users: UserMap, max_chars: int,
         problems: Problems) -> tuple[float, str, str, str] | None:
    if row.get("event") == "edit":
        return None  # a note edit (notebook 03's logs): not a question to send
    ts = seconds_of(row.get("ts"))
    if ts is None:
        problems.add("no_timestamp", n)
        return None
    log_user = str(row.get("user_id") or row.get("user") or "").strip()
    if not log_user:
        problems.add("no_user", n)
        return None
    question = str(row.get("question") or "")
    if not question.strip():
        problems.add("no_question", n)
        return None
    if len(question) > max_chars:
        problems.add("too_long", n)
        return None
    user = users(log_user)
    if user is None:
        problems.add("unknown_user", n)
        return None
    return ts, log_user, user, question


def dataset_users(dataset: str | Path | None) -> list[str]:
    """The users of a dataset folder (a folder per user under ``notes/``), or of the golden
    dataset when none is given."""
    from evals.paths import GOLDEN_DIR

    notes = (Path(dataset) / "notes") if dataset else GOLDEN_DIR / "notes"
    if not notes.is_dir():
        raise ValueError(f"{notes} is not a folder of notes (one folder per user)")
    return sorted(p.name for p in notes.iterdir() if p.is_dir())
