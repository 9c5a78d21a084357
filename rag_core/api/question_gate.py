"""The request limits at the API's question routes (``POST /v1/query``, JSON or stream): the
parts' one ``QuestionGate`` (``Parts.limiters``, built with the other parts), and the token's
``tier`` claim. With every limit off (the ``ci`` profile) there is no gate and nothing is
counted.
"""

from __future__ import annotations

from fastapi import Request

from rag_core.api.auth_first import CLAIMS
from rag_core.limits import Admission, QuestionGate
from rag_core.limits.gate import Counting
from rag_core.parts import Parts


def gate_of(request: Request) -> QuestionGate | None:
    """The app's gate (None: every limit off, or the service not ready)."""
    parts: Parts | None = request.app.state.parts
    return None if parts is None else parts.limiters.gate


def tier_of(request: Request) -> object:
    """The verified token's ``tier`` claim (None: none, or auth off)."""
    claims = (request.scope.get("state") or {}).get(CLAIMS) or {}
    return claims.get("tier")


async def admit(request: Request, user: str) -> Admission | None:
    """A place for the caller's question, or ``RateLimited`` / ``Overloaded`` raised; None when
    no limit is on."""
    gate = gate_of(request)
    return None if gate is None else await gate.admit(user, tier_of(request))


async def counting(request: Request, user: str) -> Counting | None:
    """The caller's question's windows, to count at its exact lookup (in that read's round
    trip: ``limits.gate.Counting``), taking no place in flight (a cached answer takes none);
    None when no limit is on."""
    gate = gate_of(request)
    return None if gate is None else await gate.counting(user, tier_of(request))


async def place(counted: Admission | None) -> Admission | None:
    """A place in flight for a question its windows let through, once it goes past the
    cache."""
    return None if counted is None else await counted.gate.place(counted)
