"""Per answer: the context the generator was given, and what the answer cost.

The pipeline retrieves ``top_k`` chunks and then packs them into the context token budget
(``rag_core.context.select_context``); context recall and precision are measured on what was
packed, so that the budget moves them. The packing is recomputed with the pipeline's own
function, counter and budget on the same retrieved chunks (the search is deterministic), also for
an answer that the no-context decision refused (what the budget would have kept), so that the
figure isolates the budget; refusals have their own rates.

Tokens in and out are the generation's usage; dollars are those tokens priced with the Settings
price table (``rag_core.costs.ledger.price``), also for the free extractive generator, priced as if
it
were the configured model, as the cache notebook does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def retrieved_chunks(pipe: Any, answer: Any, item: Mapping[str, Any], top_k: int) -> list[Any]:
    """The chunks the answer retrieved, in rank order (``Answer`` carries only their ids)."""
    if not answer.retrieved:
        return []
    found = {c.chunk_id: c for c in pipe.search(item["user_id"], item["question"], top_k)}
    return [found[r["chunk_id"]] for r in answer.retrieved if r["chunk_id"] in found]


def packed(pipe: Any, answer: Any, chunks: list[Any]) -> tuple[list[str], int]:
    """Texts and token count of the context the generator was given."""
    from rag_core.context import select_context

    if not chunks:
        return [], 0
    settings = pipe.parts.settings
    context = select_context(chunks, pipe.parts.counter, settings.context_token_budget)
    return [c.text for c in context.chunks], int(context.tokens)


def usage_columns(answer: Any, settings: Any) -> dict[str, float]:
    """``tokens_in``, ``tokens_out`` and ``cost_usd`` of one answer (0 when nothing was
    generated)."""
    from rag_core.costs.ledger import price

    usage = answer.usage
    return {"tokens_in": float(usage.input_tokens), "tokens_out": float(usage.output_tokens),
            "cost_usd": float(price(usage, settings))}
