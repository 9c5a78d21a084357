"""``GET /v1/rate-limit/status``: the caller's own request limits and where they stand.

Per window (minute, hour, day) the limit, the questions the sliding window holds now (``used``),
what is left and the seconds until it has room for one more (``reset``), and the caller's
questions in flight. The figures come from the gate's ``remaining`` (the same read ``/v1/stats``
makes: one Redis round trip that counts nothing), and the window arithmetic from
``limits.policy.WindowCount``, its one owner. Only the token's own user is ever shown: the route
takes no user id.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from rag_core.api.deps import PartsDep, UserDep
from rag_core.api.question_gate import gate_of, tier_of
from rag_core.api.schemas import error_responses
from rag_core.limits.gate import Remaining
from rag_core.limits.policy import WINDOWS, WindowCount

router = APIRouter(tags=["assistant"])


class WindowStatusOut(BaseModel):
    limit: int = Field(description="Questions the window allows")
    used: int = Field(description="Questions the sliding window holds now")
    remaining: int = Field(description="Questions you may still ask in it now")
    reset: int = Field(description="Seconds until the window has room for one more question "
                                   "than now (0: it has room)")


class WindowsOut(BaseModel):
    minute: WindowStatusOut | None = Field(description="null: no limit per minute")
    hour: WindowStatusOut | None = Field(description="null: no limit per hour")
    day: WindowStatusOut | None = Field(description="null: no limit per day")


class InFlightOut(BaseModel):
    limit: int | None = Field(description="The most questions you may have being answered at "
                                          "once (null: no cap)")
    used: int = Field(description="Your questions being answered right now")
    remaining: int | None = Field(description="Questions you may add now (null: no cap)")


class RateLimitStatusOut(BaseModel):
    """Your own request limits only: another user's are never shown."""

    user_id: str
    source: str = Field(description="Where the limits come from: `default`, `tier:<name>` "
                                    "(the token's `tier` claim), `own` (set for you), or "
                                    "`own over ...` (your own where set)")
    windows: WindowsOut
    in_flight: InFlightOut


def window_out(count: WindowCount | None) -> WindowStatusOut | None:
    if count is None:
        return None
    return WindowStatusOut(limit=count.limit, used=count.used(), remaining=count.remaining(),
                           reset=count.reset_s())


def status_out(user: str, found: Remaining | None, max_in_flight: int) -> RateLimitStatusOut:
    """The status of ``user`` from the gate's reading (None: no limit is on)."""
    counts = {} if found is None else found.counts
    used = 0 if found is None else found.in_flight
    cap = max_in_flight or None
    return RateLimitStatusOut(
        user_id=user, source="default" if found is None else found.source,
        windows=WindowsOut(**{name: window_out(counts.get(name)) for name, _ in WINDOWS}),
        in_flight=InFlightOut(limit=cap, used=used,
                              remaining=None if cap is None else max(0, cap - used)))


@router.get("/v1/rate-limit/status", response_model=RateLimitStatusOut,
            responses=error_responses(401, 503))
async def rate_limit_status(request: Request, user: UserDep,
                            parts: PartsDep) -> RateLimitStatusOut:
    """Your request limits and where you stand in each window now: `limit`, `used`,
    `remaining` and `reset` (seconds until the window has room for one more question) per
    minute, hour and day, your questions in flight, and where the limits come from. Cheap to
    ask (one read, no question counted): asking it never uses up a limit. A window that is off
    is null; with every limit off all three are."""
    gate = gate_of(request)
    found = None if gate is None else await gate.remaining(user, tier_of(request))
    return status_out(user, found, parts.settings.limits.user_max_in_flight)


__all__ = ["RateLimitStatusOut", "router", "status_out"]
