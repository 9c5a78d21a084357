"""What one document gives a note before its fields are checked (``documents``, ``derived``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Draft:
    """What one document gives: its own fields (None when it does not say) and its text; what
    fitting its fields to a note's rules dropped (``derived``)."""

    body: str
    title: str | None = None
    date: str | None = None
    author: str | None = None
    tags: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
