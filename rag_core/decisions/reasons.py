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


# what each rule of the no-context decision found missing, in a phrase (the rule's own detail
# follows it); a rule not named here is shown by its name
_NOT_FOUND = {
    "retrieved": "nothing was retrieved from your notes",
    "similarity": "nothing in your notes is close enough",
    "names": "a name the question uses is in none of your notes",
    "numbers": "a number the question names is in none of your notes",
    "dates": "a date the question names is in none of your notes",
    "scripture": "a scripture reference the question names is in none of your notes",
}


def no_context_reason(decisions: dict[str, Any], *, refused: bool = False) -> str:
    """``no_context_reason`` of an answer that is no_context: ``code: phrase``; the codes:
    refused (the question itself was refused), filter_no_match (no note passes the request's
    filters), not_found (the no-context decision before the model: its rule and what that rule
    saw), declined (the model read the notes and replied that they hold no answer), and
    no_context (anything else)."""
    if refused:
        return "refused: the question holds nothing to answer once unsafe text is removed"
    filters = decisions.get("filters")
    if isinstance(filters, dict) and filters.get("matched") is False:
        return f"filter_no_match: no note of yours matches {filters.get('described')}"
    relevance = decisions.get("relevance")
    if isinstance(relevance, dict) and not relevance.get("answer", True):
        rule = str(relevance.get("reason", ""))
        detail = ((relevance.get("checks") or {}).get(rule) or {}).get("detail", "")
        phrase = _NOT_FOUND.get(rule, rule.replace("_", " "))
        return f"not_found: {phrase} ({rule}: {detail})" if detail else f"not_found: {phrase}"
    if decisions.get("declined"):
        return "declined: the model read your notes and found no answer in them"
    return "no_context: no answer was made from your notes"
