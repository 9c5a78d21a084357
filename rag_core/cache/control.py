"""A question's own cache controls (``POST /v1/query``'s ``cache`` block).

``no_cache``: no cache layer is read for this request (L1 answers, L2 vectors, L3 chunks, the
semantic cache, and the stale fallback when the model fails); what it makes is still written,
unless ``no_store``. ``no_store``: nothing this request makes is written to any layer.
``max_age_s``: a cached answer (exact, semantic or stale) is served only while younger than
this many seconds; an older one is passed over as a miss. An answer kept before answers
carried their time has no known age and is passed over too.

The controls only choose what the caches do: the request is billed, limited, budgeted and
checked like any other. Who may send them is the server's choice
(``RAG_CACHE_CONTROLS_SCOPE``, ``allowed``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rag_core.answer import Answer
from rag_core.errors import Forbidden
from rag_core.telemetry import metrics

NAMES = ("no_cache", "no_store", "max_age_s")  # the request's names, echoed and counted
ANYONE, NO_ONE = "", "none"  # RAG_CACHE_CONTROLS_SCOPE: every caller, no caller


@dataclass(frozen=True)
class CacheControl:
    no_cache: bool = False
    no_store: bool = False
    max_age_s: int | None = None

    @property
    def given(self) -> bool:
        """Whether any control asks for something other than the plain behaviour."""
        return self.no_cache or self.no_store or self.max_age_s is not None

    @property
    def reads(self) -> bool:
        return not self.no_cache

    @property
    def writes(self) -> bool:
        return not self.no_store

    def fresh(self, answer: Answer | None, now: float) -> bool:
        """Whether a cached ``answer`` may be served under ``max_age_s`` (at ``now``, epoch
        seconds)."""
        if answer is None or self.max_age_s is None:
            return answer is not None
        return answer.made_at > 0 and now - answer.made_at < self.max_age_s

    def echo(self) -> dict[str, bool | int | None]:
        """The controls under their request names, for the answer's ``cache`` block."""
        return {"no_cache": self.no_cache, "no_store": self.no_store,
                "max_age_s": self.max_age_s}

    def count(self) -> None:
        """``cache_controls_total{control}``: one per control this request set."""
        for name in self.set_names():
            metrics.CACHE_CONTROLS.labels(control=name).inc()

    def set_names(self) -> list[str]:
        return [name for name, on in zip(NAMES, (self.no_cache, self.no_store,
                                                 self.max_age_s is not None), strict=True) if on]


NO_CONTROL = CacheControl()


def allowed(control: CacheControl, scope_needed: str, scopes: Collection[str]) -> None:
    """Refuse (403 ``FORBIDDEN``) controls that ``RAG_CACHE_CONTROLS_SCOPE`` does not let this
    caller send: empty lets everyone, ``none`` no one, any other value is the scope the token
    must hold. A block that asks for nothing (``given`` false) is always let through."""
    if not control.given or scope_needed == ANYONE:
        return
    if scope_needed == NO_ONE:
        raise Forbidden(f"This server takes no cache controls ({', '.join(control.set_names())}"
                        " sent).")
    if scope_needed not in scopes:
        raise Forbidden(f"Cache controls ({', '.join(control.set_names())}) need the token "
                        f"scope '{scope_needed}'.")
