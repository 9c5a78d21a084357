"""The mock LLM's answer to a follow-up rewrite request (``answers.model_rewrite``): a
user message with ``<history>`` turns and a ``<follow_up>``. Deterministically, as a model that
reads the last turn: a third-person pronoun becomes the last turn's first cited speaker, "that
sermon/note/one" its first cited title; anything else comes back as asked. Only the tags and
the ``key: value`` lines of ``<cited>`` are read: an instruction in the history is data here too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_core.devservers.openai_protocol import ChatMessage

_FOLLOW_UP = re.compile(r"<follow_up>(.*?)</follow_up>", re.S)
_CITED = re.compile(r"<cited>(.*?)</cited>", re.S)
_PRONOUN = re.compile(r"\b(she|he|her|him|they|them)\b", re.IGNORECASE)
_THAT = re.compile(r"\b(that|this|the same) (sermon|note|one|talk)\b", re.IGNORECASE)


def _user(messages: Sequence[ChatMessage]) -> str:
    return next((str(m.get("content", "")) for m in reversed(messages)
                 if m.get("role") == "user"), "")


def is_rewrite_request(messages: Sequence[ChatMessage]) -> bool:
    return _FOLLOW_UP.search(_user(messages)) is not None


def _first(cited: str, key: str) -> str | None:
    for part in re.split(r"[;,]", cited):
        name, _, value = part.partition(":")
        if name.strip() == key and value.strip():
            return value.strip()
    return None


def rewrite_answer(messages: Sequence[ChatMessage]) -> str:
    user = _user(messages)
    found = _FOLLOW_UP.search(user)
    question = html.unescape(found.group(1)).strip() if found else ""
    cited = _CITED.findall(user)
    last = html.unescape(cited[-1]) if cited else ""
    speaker, title = _first(last, "speaker"), _first(last, "title")
    if speaker:
        question = _PRONOUN.sub(speaker, question)
    if title:
        question = _THAT.sub(f'"{title}"', question)
    return question
