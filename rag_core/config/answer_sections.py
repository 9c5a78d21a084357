"""The sections of Settings that shape an answer: what the store searches with (``Retrieval``,
the very object the store receives), the decisions about it, the generation and the token
budgets. The answer cache key hashes these whole (``rag_core.redis_kv.keys``).

Each field is set from the environment under its flat name (``RAG_<FIELD>`` unless an alias is
given); its description is what docs/configuration.md says of it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

RetrievalMode = Literal["dense", "lexical", "hybrid", "hybrid_prf", "auto"]
MODES: tuple[RetrievalMode, ...] = ("dense", "lexical", "hybrid", "hybrid_prf", "auto")
# the modes that fuse a dense and a lexical candidate list
FUSED_MODES: tuple[RetrievalMode, ...] = ("hybrid", "hybrid_prf", "auto")
LexicalRanker = Literal["bm25", "ts_rank_cd"]
FusionMethod = Literal["rrf", "score"]


class Section(BaseModel):
    """A group of settings of one concern: frozen, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True,
                              populate_by_name=True)


class Retrieval(Section):
    """Every knob of one search: the store receives this object with each call, and the same
    object goes into the cache keys, so a sweep that changes a knob changes both."""

    top_k: int = Field(5, ge=1, le=50, description=(
        "chunks retrieved per question when the caller gives no `top_k`"))
    retrieval_mode: RetrievalMode = Field(
        "auto", validation_alias=AliasChoices("RAG_RETRIEVAL", "RAG_RETRIEVAL_MODE"),
        description=(
            "`auto` (`hybrid_prf` for a user of at least `RAG_PRF_MIN_CHUNKS` chunks, `hybrid` "
            "below; chosen on the four shared public sets, docs/retrieval-public.md), `dense`, "
            "`lexical`, `hybrid` (weighted fusion of pgvector and BM25 in PostgreSQL, "
            "docs/retrieval.md) or `hybrid_prf` (hybrid, then hybrid again with pseudo-relevance "
            "feedback from the first pass's best chunks)"))
    hnsw_ef_search: int = Field(40, ge=1, le=1_000, description=(
        "HNSW search breadth (the retrieval benchmark writes its recommendation to "
        "`reports/<profile>/retrieval/recommended_settings.env`; for about 100,000 chunks 120, "
        "benchmarks/README.md)"))
    iterative_scan: Literal["off", "relaxed_order", "strict_order"] = Field(
        "relaxed_order", description="pgvector's iterative index scans for filtered searches")
    user_scan_max_chunks: int = Field(500, ge=0, description=(
        "a user with at most max(this, sqrt(`RAG_USER_SCAN_SCALE` x the table's chunks)) chunks "
        "is searched on their own rows (exact distances), a larger one through the shared HNSW "
        "and GIN indexes; both 0: always the shared indexes (measured: README, Retrieval)"))
    user_scan_scale: float = Field(25.0, ge=0.0, description=(
        "the scale of that square-root break-even"))
    lexical_ranker: LexicalRanker = Field("bm25", description=(
        "lexical ranking: `bm25` or PostgreSQL's `ts_rank_cd`"))
    bm25_k1: float = Field(1.2, ge=0.0, le=5.0, description=(
        "BM25's term-frequency saturation (k1 0.6-1.6 x b 0.3-0.9 moved nDCG@10 by < 0.004 on "
        "the NFCorpus dev split)"))
    bm25_b: float = Field(0.75, ge=0.0, le=1.0, description="BM25's length normalisation")
    fusion: FusionMethod = Field("rrf", description=(
        "fusion of the two lists: `rrf` (weight / (rrf_k + rank)) or `score` (weighted min-max "
        "normalised scores)"))
    rrf_k: int = Field(30, ge=1, description="the rank offset of reciprocal-rank fusion")
    fusion_dense_weight: float = Field(1.0, ge=0.0, le=10.0, description=(
        "the dense list's weight in fusion"))
    fusion_lexical_weight: float = Field(1.5, ge=0.0, le=10.0, description=(
        "the lexical list's weight in fusion (1.5, rrf_k 30 and 50 "
        "candidates: nDCG@10 0.331 against 0.322 for equal weights on the NFCorpus dev split)"))
    dense_candidates: int = Field(50, ge=1, le=1_000, description=(
        "candidate depth of the dense list in hybrid search (never below `top_k`)"))
    lexical_candidates: int = Field(50, ge=1, le=1_000, description=(
        "candidate depth of the lexical list in hybrid search (never below `top_k`)"))
    prf_first_fusion: FusionMethod = Field("score", description=(
        "`hybrid_prf`: how the first pass, which picks the feedback chunks, fuses (`score` or "
        "`rrf`; mean nDCG@10 of the four public sets 0.555 against 0.548 with RRF)"))
    prf_first_dense_weight: float = Field(0.6, ge=0.0, le=10.0, description=(
        "`hybrid_prf`: the first pass's dense weight"))
    prf_first_lexical_weight: float = Field(0.4, ge=0.0, le=10.0, description=(
        "`hybrid_prf`: the first pass's lexical weight"))
    prf_min_chunks: int = Field(1_000, ge=0, description=(
        "`auto` searches a user with at least this many chunks as `hybrid_prf`, a smaller one "
        "as `hybrid` (0: always feedback)"))

    def with_(self, **changes: Any) -> Retrieval:
        """A copy with some knobs changed, validated again (an unknown name is an error)."""
        return type(self).model_validate({**self.model_dump(), **changes})


class DecisionSettings(Section):
    """Whether the notes hold an answer at all, and when an earlier answer may be reused."""

    similarity_threshold: float = Field(0.05, ge=-1.0, le=1.0, description=(
        "below it: \"no relevant notes\", without calling the LLM (the floor of the "
        "no-context decision, rag_core/decisions/relevance.py; the highest floor in steps of "
        "0.05 that refuses no answerable question of any labelled set, nineteen of them written "
        "blind to the rules: docs/decisions.md)"))
    semantic_mode: Literal["strict", "loose", "off"] = Field("strict", description=(
        "reuse of answers to reworded questions: `strict` (a reuse justified word by word; 0 "
        "false hits on every labelled set), `loose` (more reuse, some false hits) or `off`; "
        "docs/decisions.md"))
    semantic_cache_threshold: float = Field(0.6, ge=0.0, le=1.0, description=(
        "cosine floor of a semantic-cache candidate; the rules of "
        "rag_core/decisions/semantic_rules.py decide the rest (0.60 from the dev split)"))

    @property
    def semantic_cache_enabled(self) -> bool:
        """The semantic cache is on (``RAG_SEMANTIC_MODE`` not ``off``)."""
        return self.semantic_mode != "off"


class GenerationSettings(Section):
    """What writes the answer: the generator, the model it asks and how it samples."""

    llm: Literal["extractive", "hf"] = Field("extractive", description=(
        "`extractive` (offline, deterministic) or `hf` (any OpenAI-compatible server, or the "
        "Hugging Face router)"))
    llm_model: str = Field("meta-llama/Llama-3.2-3B-Instruct", description=(
        "the model id sent with every call"))
    llm_temperature: float = Field(0.2, ge=0.0, le=2.0, description=(
        "sampling temperature sent to the model"))


class TokenSettings(Section):
    """The token budgets of one question (spec: 150 / 1,200 / 400), counted with a real
    tokenizer."""

    query_token_budget: int = Field(150, ge=8, le=2_000, description=(
        "tokens of the question"))
    context_token_budget: int = Field(1_200, ge=50, le=32_000, description=(
        "tokens of the notes given to the model"))
    output_token_budget: int = Field(400, ge=16, le=8_000, description=(
        "tokens the model may write (halved once a spend budget is 90 % used)"))


def empty_is_unset(value: Any) -> Any:
    """``RAG_LLM_BASE_URL=`` (as compose's ``${VAR:-}`` gives) means unset, not ''."""
    return None if isinstance(value, str) and not value.strip() else value


def http_url(name: str, value: str | None) -> str | None:
    """``value`` when it is unset or an http(s) URL, else a ValueError naming ``name``."""
    if value is not None and not value.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value


__all__ = ["FUSED_MODES", "MODES", "DecisionSettings", "FusionMethod", "GenerationSettings",
           "LexicalRanker", "Retrieval", "RetrievalMode", "Section", "TokenSettings",
           "empty_is_unset", "http_url"]
