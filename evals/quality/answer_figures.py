"""Per answer: the context the generator was given, what the answer cost, and the text metrics
scored on them (``text_columns``).

The pipeline retrieves ``top_k`` chunks and packs them into the context token budget
(``rag_core.context.select_context``); every freshly computed ``Answer`` carries what it retrieved
and what it packed in ``answer.debug`` (``rag_core.types.AnswerDebug``, never in the API or
``ask --json``). Context recall, precision and tokens are read from that record, so they are
measured on the rendering that was really sent: with the note guard off too, for the
no-sanitiser variant.

An answer that called no model (a refusal, or the no-context decision) was sent no context: its
context tokens are 0 and its context recall and precision are not measured (NaN; the refusal
rates count those questions). An answer taken from a cache carries no record; the evaluation runs
with the caches off, and such an answer is an error here.

Tokens in and out are the generation's usage; dollars are what the service billed for the answer
(``Answer.cost_usd``, set by ``rag_core.costs.billing.Bill``), never priced again here: the
harness and the service agree on money by reading the one bill. A free generator (the extractive
one, ``rag_core.costs.billing.FREE_GENERATORS``) costs nothing in both, and an answer that called
no model costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from evals.metrics import text
from rag_core.answer import Answer
from rag_core.embedding import Embedder
from rag_core.types import AnswerDebug


def debug_record(answer: Answer) -> AnswerDebug:
    """The answer's record of what it retrieved and sent (an error for a cached answer)."""
    if answer.debug is None:
        raise ValueError(f"answer {answer.request_id} came from a cache ({answer.cache}): it "
                         "carries no record of a context; evaluate with the caches off")
    return answer.debug


def retrieved_texts(answer: Answer) -> dict[str, str]:
    """Chunk id -> text of the chunks the answer retrieved, in rank order."""
    return dict(debug_record(answer).retrieved_texts)


def packed(answer: Answer) -> tuple[list[str], int, bool]:
    """Texts and token count of the context the generator was sent, and whether one was."""
    record = debug_record(answer)
    return list(record.packed_texts), int(record.context_tokens), record.context_sent


def usage_columns(answer: Answer) -> dict[str, float]:
    """``tokens_in``, ``tokens_out`` and ``cost_usd`` of one answer: its usage, and the dollars
    the service billed for it (0 when nothing was generated, or a free generator answered)."""
    usage = answer.usage
    return {"tokens_in": float(usage.input_tokens), "tokens_out": float(usage.output_tokens),
            "cost_usd": float(answer.cost_usd)}


def text_columns(embedder: Embedder, frame: pd.DataFrame, items: Sequence[Mapping[str, object]],
                 contexts: Sequence[tuple[list[str], list[str]] | None]
                 ) -> dict[str, list[object]]:
    """Context recall and precision of each question on the context it was sent (None: sent
    nothing, NaN), and ROUGE-L and semantic similarity of its answer against the reference."""
    refs = [str(i["reference_answer"]) if row else None
            for i, row in zip(items, frame["answerable"], strict=True)]
    pairs = list(zip(frame["answer"].astype(str), refs, strict=True))
    scored = iter(text.context_scores([c for c in contexts if c is not None]))
    unsent: dict[str, float | None] = {"context_recall": None, "context_precision": None}
    ctx = [unsent if c is None else next(scored) for c in contexts]
    nan = lambda v: np.nan if v is None else v  # noqa: E731
    return {
        "context_recall": [nan(c["context_recall"]) for c in ctx],
        "context_precision": [nan(c["context_precision"]) for c in ctx],
        "rouge_l": [nan(v) for v in text.rouge_l(pairs)],
        "semantic_similarity": [nan(v) for v in text.semantic_similarity(embedder, pairs)],
    }
