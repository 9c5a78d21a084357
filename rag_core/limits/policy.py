"""Which limits apply to a user, and what a window's counts say about them.

A user's limits per minute, hour and day come from, first to last: their own limits
(``rag-core limits set``, in PostgreSQL; a window they leave unset falls through), the named tier
of their token's ``tier`` claim (``RAG_RATE_TIERS``), the defaults (``RAG_RATE_LIMIT_PER_*``).
A tier the settings do not name is no tier: its user gets the defaults, never no limit. 0 turns a
window off.

Each window is a sliding window counter: the count of the current fixed window plus the previous
window's count weighted by how much of it the sliding window still covers. It keeps two integers
per user and window whatever the rate (a log of every request would keep up to the limit), and
from a standing start it admits exactly the limit in the first window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rag_core.config import Limits

# the windows of a user's rate limits: name and size in seconds
WINDOWS: tuple[tuple[str, int], ...] = (("minute", 60), ("hour", 3_600), ("day", 86_400))


@dataclass(frozen=True)
class RateLimits:
    """Questions per minute, hour and day (0: that window is off); None in a user's own
    limits: the window falls through to the tier or the default."""

    per_minute: int | None = None
    per_hour: int | None = None
    per_day: int | None = None

    def by_window(self) -> dict[str, int | None]:
        return {"minute": self.per_minute, "hour": self.per_hour, "day": self.per_day}

    def over(self, base: RateLimits) -> RateLimits:
        """These limits where set, ``base``'s where not."""
        return RateLimits(*(own if own is not None else fallback for own, fallback in
                            zip(self.by_window().values(), base.by_window().values(),
                                strict=True)))

    def describe(self) -> str:
        return ", ".join(f"{n if n else 'off'} a {w}" for w, n in self.by_window().items())


def default_limits(section: Limits) -> RateLimits:
    return RateLimits(section.rate_limit_per_minute, section.rate_limit_per_hour,
                      section.rate_limit_per_day)


def tier_limits(section: Limits, tier: object) -> RateLimits | None:
    """The limits of the tier named ``tier`` (a token's claim), None when it names none."""
    if not isinstance(tier, str):
        return None
    values = section.rate_tiers.get(tier)
    return RateLimits(*values) if values is not None else None


def limits_for(section: Limits, tier: object = None, own: RateLimits | None = None
               ) -> tuple[RateLimits, str]:
    """The limits that apply and where they come from (``own``, ``tier:<name>``,
    ``default``, or ``own over ...`` when the user's own limits leave a window unset)."""
    base, source = default_limits(section), "default"
    named = tier_limits(section, tier)
    if named is not None:
        base, source = named, f"tier:{tier}"
    if own is None:
        return base, source
    applied = own.over(base)
    return applied, "own" if applied == own else f"own over {source}"


@dataclass(frozen=True)
class WindowCount:
    """One sliding window's counts as a request met them: ``current`` in the fixed window
    that ``elapsed`` seconds ago began, ``previous`` in the one before."""

    name: str
    size: float
    limit: int
    current: int
    previous: int
    elapsed: float

    def estimate(self) -> float:
        return self.previous * (self.size - self.elapsed) / self.size + self.current

    def admits(self) -> bool:
        """One more question fits."""
        return self.estimate() + 1 <= self.limit

    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self.estimate() + 1e-9))

    def used(self) -> int:
        """Questions the window holds now (its sliding estimate, a part counted whole)."""
        return max(0, math.ceil(self.estimate() - 1e-9))

    def reset(self) -> float:
        """Seconds until the window has room for one more question than it has now."""
        target = self.limit - self.remaining() - 1
        if target < 0:  # a limit of 0 is off, never counted; an empty window has all its room
            return self.size if self.limit <= 0 else 0.0
        now = self.estimate()
        if now <= target:
            return 0.0
        left = self.size - self.elapsed
        if self.previous > 0 and self.current <= target:
            within = (now - target) * self.size / self.previous
            if within <= left:
                return within
        # after this fixed window ends, the current count is the previous one and decays
        return left + (self.size * (1 - target / self.current) if self.current else 0.0)

    def reset_s(self) -> int:
        """``reset`` in whole seconds, as ``RateLimit-Reset`` and the status route say it."""
        return max(0, round(self.reset() + 0.4999))


def tightest(counts: list[WindowCount]) -> WindowCount | None:
    """The window with the fewest questions left (the longest wait on a tie)."""
    if not counts:
        return None
    return min(counts, key=lambda c: (c.remaining(), -c.reset()))
