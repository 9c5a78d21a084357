"""The mock LLM's answer to a request to write test questions from a document (what
``python -m evals generate --writer llm`` sends): a user message with a
``<document id="...">`` block (front matter lines ``key: value``, a blank line, the body) that
asks for a JSON object with ``answerable`` and ``unanswerable`` questions.

Like any model, it writes some items that hold and some that do not, deterministically from the
document, so that a test sees the writer's checks keep and drop:

- answerable: a figure or a name of the body's first sentence that has one, copied word for word
  (holds); then the next sentence's words in reverse order, as a model that rewords its answer
  (no note holds it);
- unanswerable: the year before the earliest year of the document (holds when no note of the
  library mentions it; the mock sees one note only), and the document's own speaker or title
  (a fact the library holds).

The reply comes in a fenced ``json`` block, as chat models often send it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag_core.devservers.openai_protocol import ChatMessage

_DOCUMENT = re.compile(r'<document id="[^"]*">\n(.*?)\n</document>', re.S)
_YEAR = re.compile(r"\b(1[6-9]\d\d|20\d\d)\b")
_FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
_NAME = re.compile(r"(?<=\w )[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]")


def _user(messages: Sequence[ChatMessage]) -> str:
    return next((str(m.get("content", "")) for m in reversed(messages)
                 if m.get("role") == "user"), "")


def is_writing_request(messages: Sequence[ChatMessage]) -> bool:
    user = _user(messages)
    return bool(_DOCUMENT.search(user)) and '"unanswerable"' in user


def _parts(document: str) -> tuple[dict[str, str], list[str]]:
    head, _, body = document.partition("\n\n")
    meta = dict(line.split(": ", 1) for line in head.splitlines() if ": " in line)
    return meta, [s.strip() for s in _SENTENCE.findall(body) if len(s.split()) >= 5]


def _answerable(sentences: list[str]) -> list[dict[str, str]]:
    out = []
    for i, sentence in enumerate(sentences):
        found = [m.group(0) for m in _FIGURE.finditer(sentence)]
        found += [m.group(0) for m in _NAME.finditer(sentence)]
        if not found:
            continue
        about = " ".join(sentence.split()[:5]).rstrip(",;:")
        out.append({"question": f"What does the note say about {about}?", "answer": found[0]})
        if i + 1 < len(sentences):
            nxt = sentences[i + 1].rstrip(".!?").split()
            out.append({"question": f"What followed: {' '.join(nxt[:4])}?",
                        "answer": " ".join(reversed(nxt))})
        break
    return out


def _unanswerable(meta: dict[str, str], document: str) -> list[dict[str, str]]:
    years = [int(y) for y in _YEAR.findall(document)]
    subject = meta.get("title", "this").strip('"')
    out = []
    if years:
        year = str(min(years) - 1)
        out.append({"question": f'What was said about "{subject}" in {year}?', "fact": year})
    who = meta.get("speaker", "").strip('"') or subject
    out.append({"question": f"Who came along with {who} that day?", "fact": who})
    return out


def writer_answer(messages: Sequence[ChatMessage]) -> str:
    """The reply to a question-writing request (see the module docstring)."""
    match = _DOCUMENT.search(_user(messages))
    document = match.group(1) if match else ""
    meta, sentences = _parts(document)
    reply = {"answerable": _answerable(sentences),
             "unanswerable": _unanswerable(meta, document)}
    return "```json\n" + json.dumps(reply, indent=1) + "\n```"
