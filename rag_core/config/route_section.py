"""The settings of model routing: whether a question may go to a second, cheaper model first,
the rule that decides it, and how that model is reached and billed (``rag_core.llm.route``).

Two sections, split as the main model's settings are: ``Routing`` shapes an answer (the route
on or off, the cheap model's id, the rule's thresholds), so the answer cache key hashes it whole
(``ANSWER_SECTIONS``); ``CheapModel`` holds the cheap model's server and its prices, which
never change a key (as ``RAG_LLM_BASE_URL`` and the prices of ``Money`` do not).

The name is ``RAG_LLM_ROUTE``: the retired ``RAG_LLM_ROUTER_URL`` (the Hugging Face router's
address, ``rag_core/config/fixed.py``) is a different thing and stays fixed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from rag_core.config.answer_sections import Section, empty_is_unset, http_url
from rag_core.config.service_sections import Money

# The kinds of answer (``rag_core.text.nlp.Facts.answer_type``, as the decisions read a
# question) that name one short fact: a date, a name, a figure, a place, yes or no. An open
# kind (a reason, a manner, a description) asks the model to join what the notes say.
SHORT_KINDS = ("count", "amount", "duration", "age", "person", "place", "time", "yes_no",
               "typed", "thing")


class Routing(Section):
    """Model routing: which questions go to the cheaper model first (part of the answer key)."""

    llm_route: Literal["off", "on"] = Field("off", description=(
        "`on`: a question the rule below calls easy goes to the cheap model first "
        "(`RAG_LLM_CHEAP_MODEL`), then, if it fails, to the main model, the second provider, "
        "a stale answer and a degraded one; `off`: every question goes to the main model. "
        "Not the retired `RAG_LLM_ROUTER_URL` (the Hugging Face router's address)"))
    llm_cheap_model: str | None = Field(None, description=(
        "the model id sent to the cheap server; needed when `RAG_LLM_ROUTE=on`"))
    llm_route_max_context_tokens: int = Field(1_000, ge=0, le=32_000, description=(
        "the rule: a question whose packed context has at most this many tokens may go to "
        "the cheap model (0: none does; 1,000 of the 1,200-token budget kept every gated "
        "quality figure of the golden set inside its interval, notebook 01)"))
    llm_route_kinds: list[str] = Field(list(SHORT_KINDS), description=(
        "the rule: the kinds of answer (as the decisions read the question: `count`, "
        "`person`, `time`, `yes_no`, `reason`, `manner`, `description`, ...) that may go to "
        "the cheap model, comma-separated or a JSON list; empty: any kind"))

    _blank = field_validator("llm_cheap_model", mode="before")(empty_is_unset)

    @field_validator("llm_route_kinds", mode="before")
    @classmethod
    def _kinds(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @model_validator(mode="after")
    def _model(self) -> Routing:
        if self.llm_route == "on" and not self.llm_cheap_model:
            raise ValueError("RAG_LLM_ROUTE=on needs RAG_LLM_CHEAP_MODEL (the cheap model's id)")
        return self


class CheapModel(Section):
    """The cheap model's server and prices (model routing; never part of a key)."""

    llm_cheap_base_url: str | None = Field(None, description=(
        "the cheap model's OpenAI-compatible server (its own breaker and retries, the main "
        "model's token, timeouts and thresholds); unset: the Hugging Face router"))
    price_cheap_input_per_token_usd: float | None = Field(None, ge=0, description=(
        "the cheap model's price of an input token; unset: the main model's"))
    price_cheap_output_per_token_usd: float | None = Field(None, ge=0, description=(
        "the cheap model's price of an output token; unset: the main model's"))

    _blank = field_validator("llm_cheap_base_url", mode="before")(empty_is_unset)

    @field_validator("llm_cheap_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return http_url("RAG_LLM_CHEAP_BASE_URL", value)

    def prices(self, money: Money) -> Money:
        """``money`` with the cheap model's prices in place of the main model's (where set):
        what an answer of the cheap model is billed at, and its budget reserved at."""
        changes = {"price_input_per_token_usd": self.price_cheap_input_per_token_usd,
                   "price_output_per_token_usd": self.price_cheap_output_per_token_usd}
        return money.model_copy(update={k: v for k, v in changes.items() if v is not None})


__all__ = ["SHORT_KINDS", "CheapModel", "Routing"]
