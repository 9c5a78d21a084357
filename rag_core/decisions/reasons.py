"""``cache.reason`` of an answer: a short code and a phrase for its cache outcome.

Built from what the answer already carries (``Answer.cache`` and ``Answer.decisions``), so an
answer read back from the cache explains itself the same way.
"""

from __future__ import annotations

from typing import Any


def cache_reason(cache: dict[str, Any], decisions: dict[str, Any]) -> str:
    """``code: phrase``; the codes: exact_hit, semantic_reuse, semantic_refused,
    no_candidate, semantic_off, miss."""
    query, semantic = cache.get("query"), cache.get("semantic")
    decision = decisions.get("semantic") if isinstance(decisions.get("semantic"), dict) else None
    if query == "hit":
        if decision and decision.get("hit"):
            return ("exact_hit: asked before, the answer first reused from "
                    f"{decision.get('matched_query')!r}")
        return "exact_hit: the same question was answered from these notes before"
    if query == "semantic_hit" and decision:
        return (f"semantic_reuse: every rule passed against {decision.get('matched_query')!r} "
                f"(cosine {decision.get('similarity')})")
    if semantic == "off":
        return "semantic_off: the semantic cache is off (RAG_SEMANTIC_MODE)"
    if decision is not None and not decision.get("hit"):
        rule = str(decision.get("reason", ""))
        if rule == "no_candidate":
            return "no_candidate: no cached question close enough"
        detail = (decision.get("checks") or {}).get(rule, {}).get("detail", "")
        return f"semantic_refused: {rule} ({detail})" if detail else \
            f"semantic_refused: {rule}"
    return "miss: not answered before"
