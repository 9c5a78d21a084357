"""The last step of the order when every model failed and no stale answer exists: an answer
from the retrieved notes by the extractive generator, marked degraded.

``RAG_LLM_FALLBACK=extractive`` (the default) makes it; ``none`` keeps the 503
``LLM_UNAVAILABLE``. A misconfigured model (``LLM_MISCONFIGURED``: a refused token, an unknown
model) is the operator's to fix: when every provider failed so, the question is still refused,
so that it is seen (a second provider misconfigured behind a first one that is down does not
keep the users from degraded answers). The answer costs
nothing, carries ``degraded: true`` and ``degraded_reason``, and is never cached: the next
question after the model is back goes to the model.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag_core.config import ModelCalls
from rag_core.errors import LLMMisconfigured, LLMUnavailable
from rag_core.llm.base import Generation, Prompt
from rag_core.llm.extractive import ExtractiveGenerator

# ``degraded_reason``'s code (the failure's ``LLMUnavailable.reason``) and its phrase
PHRASES = {
    "breaker_open": "the model's circuit breaker is open after repeated failures",
    "timeout": "the model did not answer in time",
    "server_error": "the model's server answered with an error",
    "connection": "the model's server could not be reached",
    "refused": "the model's server refused the request",
    "stream_broken": "the model stopped before its answer began",
    "failed": "the model failed",
}


def degrading(calls: ModelCalls,
              failures: Sequence[LLMUnavailable]) -> LLMUnavailable | None:
    """The failure a degraded answer names (the last that was no misconfiguration), or None
    when the question is refused: ``RAG_LLM_FALLBACK=none``, or every provider misconfigured."""
    if calls.llm_fallback != "extractive":
        return None
    return next((f for f in reversed(failures) if not isinstance(f, LLMMisconfigured)), None)


def reason_of(failure: LLMUnavailable) -> tuple[str, str]:
    """``(code, "code: phrase")`` of a degraded answer."""
    code = failure.reason if failure.reason in PHRASES else "failed"
    return code, f"{code}: {PHRASES[code]}; answered from your notes without it"


def extractive_answer(prompt: Prompt) -> Generation:
    """The extractive generator's answer to the prompt the model would have had."""
    return ExtractiveGenerator().generate(prompt)
