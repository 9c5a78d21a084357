"""LLM-judged metrics (ragas faithfulness and answer relevancy), only with a real endpoint.

A judge is only as good as its model: pointed at ``rag-core local-llm`` (SmolLM2-135M) the
whole path runs, but a 135M judge's scores are not quality figures.

They run only when the environment configures an LLM endpoint the way the service does:
``RAG_LLM=hf`` and a ``RAG_LLM_BASE_URL`` (any OpenAI-compatible server) or an ``HF_TOKEN``
(the Hugging Face router). Otherwise the judge is skipped and the report says so; nothing is
faked. The judge model is named in the results (``RAG_LLM_MODEL``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from evals.metrics._aio import run_sync
from rag_core.config import Settings

if TYPE_CHECKING:
    from ragas.embeddings import BaseRagasEmbedding

    from rag_core.embedding import Embedder

HF_ROUTER = "https://router.huggingface.co/v1"


@dataclass(frozen=True)
class JudgeConfig:
    model: str
    base_url: str
    api_key: str
    max_tokens: int | None = None  # None: ragas' default (1,024) per judge call


@dataclass
class JudgeOutcome:
    status: str  # "ran" or "skipped"
    reason: str
    model: str | None = None
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)

    def metrics(self) -> dict[str, float | None]:
        if self.status != "ran" or self.scores.empty:
            return {}
        return {col: _mean(self.scores[col]) for col in ("faithfulness", "answer_relevancy")}

    def note(self) -> str:
        if self.status == "ran":
            return f"ran with judge model {self.model}"
        return f"skipped: {self.reason}"


def _mean(values: pd.Series) -> float | None:
    value = pd.to_numeric(values, errors="coerce").mean()
    return None if pd.isna(value) else float(value)


def judge_config(settings: Settings | None = None) -> JudgeConfig | None:
    """The endpoint to judge with, from Settings (by default built from the environment)."""
    if settings is None:

        settings = Settings()  # type: ignore[call-arg]  # fields come from the environment
    if settings.generation.llm != "hf":
        return None
    hf_token = settings.model_calls.hf_token
    token = hf_token.get_secret_value() if hf_token else ""
    if not settings.model_calls.llm_base_url and not token:
        return None
    return JudgeConfig(model=settings.generation.llm_model,
                       base_url=settings.model_calls.llm_base_url or HF_ROUTER,
                       api_key=token or "unused")


def ragas_embeddings(embedder: Embedder) -> BaseRagasEmbedding:
    """rag_core's embedder as a ragas embedding (answer relevancy compares questions)."""
    from ragas.embeddings import BaseRagasEmbedding

    class Adapter(BaseRagasEmbedding):  # type: ignore[misc]
        def embed_text(self, text: str, **kwargs: object) -> list[float]:
            return [float(x) for x in embedder.embed([text])[0]]

        async def aembed_text(self, text: str, **kwargs: object) -> list[float]:
            return self.embed_text(text)

    return Adapter()


def judge(rows: pd.DataFrame, embedder: Embedder, config: JudgeConfig | None,
          contexts: Sequence[Sequence[str]] | None = None,
          relevancy_questions: int = 3) -> JudgeOutcome:
    """Score generated answers: needs columns question, answer, no_context (+ ``contexts``).

    ``relevancy_questions`` is AnswerRelevancy's strictness (questions generated per answer).
    A judge reply that does not parse scores None for that answer, never an error."""
    if config is None:
        return JudgeOutcome("skipped", "no LLM endpoint configured (RAG_LLM=hf with "
                                       "RAG_LLM_BASE_URL or HF_TOKEN)")
    from openai import AsyncOpenAI
    from ragas.llms import llm_factory
    from ragas.metrics.collections import AnswerRelevancy, Faithfulness

    client = AsyncOpenAI(base_url=config.base_url, api_key=config.api_key)
    llm = (llm_factory(config.model, client=client, max_tokens=config.max_tokens)
           if config.max_tokens else llm_factory(config.model, client=client))
    faithfulness = Faithfulness(llm=llm)
    relevancy = AnswerRelevancy(llm=llm, embeddings=ragas_embeddings(embedder),
                                strictness=relevancy_questions)
    ctx = list(contexts) if contexts is not None else [[] for _ in range(len(rows))]

    async def score_all() -> list[dict[str, float | None]]:
        try:
            return await score_rows()
        finally:  # closed on this loop: left to the garbage collector, the client schedules
            await client.close()  # its close on whichever loop runs then (a closed one's sockets)

    async def score_rows() -> list[dict[str, float | None]]:
        out: list[dict[str, float | None]] = []
        for (_, row), texts in zip(rows.iterrows(), ctx, strict=True):
            if row["no_context"] or not str(row["answer"]).strip():
                out.append({"faithfulness": None, "answer_relevancy": None})
                continue
            scores: dict[str, float | None] = {}
            for key, coro in (
                ("faithfulness", faithfulness.ascore(user_input=row["question"],
                                                     response=row["answer"],
                                                     retrieved_contexts=list(texts))),
                ("answer_relevancy", relevancy.ascore(user_input=row["question"],
                                                      response=row["answer"])),
            ):
                try:
                    scores[key] = float((await coro).value)
                except Exception:  # one bad judge reply must not sink the whole run
                    scores[key] = None
            out.append(scores)
        return out

    scores = pd.DataFrame(run_sync(score_all()), index=rows.index)
    return JudgeOutcome("ran", "", config.model, scores)
