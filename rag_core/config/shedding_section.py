"""The section of Settings for shedding a spike at the ASGI edge (``api.edge_shed``, issue 82):
the event loop's lag past which a worker refuses questions before reading them. The shedding at
the work slots (``limits.shedding``) has no setting: its budget is the SLO of a miss.
"""

from __future__ import annotations

from pydantic import Field

from rag_core.config.answer_sections import Section


class Shedding(Section):
    """Questions refused at once, cheaply, when a worker is already late (issue 82)."""

    edge_shed_lag_ms: int = Field(0, ge=0, le=60_000, description=(
        "a question arriving while the worker's event loop runs this late (ms) is refused at "
        "once with 503 OVERLOADED (limit event_loop) and Retry-After, before its token, body or "
        "Redis are touched; 0 (the default): off. 250 helped a 600-user spike modestly, but on "
        "a busy machine it refused single ordinary questions (docs/benchmarks.md)"))
