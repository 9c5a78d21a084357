"""Cache keys. One function builds every key; the helpers below name what changes an answer.

A key reads ``rag:<layer>:u:<user hash>:v<notes version>:<hash of the parts>`` so that one
user's entries share a prefix (``clear --user``) and a new notes version makes old keys
unreachable at once: an edit, add or delete of a note invalidates that user's answers only.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping

from rag_core.config import Settings
from rag_core.store.base import SearchParams

_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.,;:]+$")


def _h(text: str, n: int = 16) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:n]


def normalize_query(text: str) -> str:
    """NFKC, case-folded, single spaces, no trailing punctuation."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return _TRAILING.sub("", _SPACES.sub(" ", text).strip())


def user_prefix(layer: str, user_id: str | None) -> str:
    return f"rag:{layer}:" + (f"u:{_h(user_id)}:" if user_id is not None else "")


def cache_key(layer: str, *, user_id: str | None, notes_version: int | None,
              parts: Mapping[str, object]) -> str:
    """The only function that makes a cache key."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    version = f"v{notes_version}:" if notes_version is not None else ""
    return f"{user_prefix(layer, user_id)}{version}{_h(canonical, 32)}"


def _answer_parts(settings: Settings) -> dict[str, object]:
    return {
        "embedding_model": settings.embedding_model,
        "llm": settings.llm,
        "llm_model": settings.llm_model,
        "prompt_version": settings.prompt_version,
        "budgets": [settings.query_token_budget, settings.context_token_budget,
                    settings.output_token_budget],
        "threshold": settings.similarity_threshold,
        **_retrieval_parts(settings),
    }


def _retrieval_parts(settings: Settings) -> dict[str, object]:
    return {**SearchParams.from_settings(settings).key_parts(),
            "embedding_model": settings.embedding_model}


def query_key(settings: Settings, user_id: str, notes_version: int, normalized_query: str,
              top_k: int) -> str:
    parts = {**_answer_parts(settings), "top_k": top_k, "q": normalized_query}
    return cache_key("query", user_id=user_id, notes_version=notes_version, parts=parts)


def context_key(settings: Settings, user_id: str, notes_version: int, normalized_query: str,
                top_k: int) -> str:
    parts = {**_retrieval_parts(settings), "top_k": top_k, "q": normalized_query}
    return cache_key("context", user_id=user_id, notes_version=notes_version, parts=parts)


def embedding_key(settings: Settings, normalized_text: str) -> str:
    """Embeddings depend on the text and the model only, so users share them."""
    parts = {"model": settings.embedding_model, "dim": settings.embedding_dim,
             "t": normalized_text}
    return cache_key("embedding", user_id=None, notes_version=None, parts=parts)
