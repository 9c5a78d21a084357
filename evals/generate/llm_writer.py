"""``--writer llm``: a model writes the questions, one request per note (ragas' way), and what
comes back is checked as the rules writer's items are; what fails a check is dropped and
counted, never repaired.

The endpoint is the one the service's ``hf`` generator uses, read from the environment the same
way: ``RAG_LLM=hf`` with ``RAG_LLM_BASE_URL`` (any OpenAI-compatible server) or ``HF_TOKEN``
(the Hugging Face router), ``RAG_LLM_MODEL``; the client is ``rag_core.llm.hf.make_client``'s.
Each request asks at temperature 0 with the run's seed, so a server that honours them answers
the same way twice.

The request (one user message): the note as ``<document id="...">`` (its front matter lines,
a blank line, its body), then what to write and the reply's JSON shape
(:data:`REPLY_SHAPE`). The checks:

- an answerable item's answer is found in its note (case, whitespace, surrounding quotes and
  the final stop aside); it asserts the figure its answer gives, as the rules' items do;
- an unanswerable item names a fact (its ``fact`` when the question holds it, else a year,
  figure or name of the question: ``facts.named_facts``) that no note of the user's library
  holds (``Library.absent``);
- a question asked twice, an item without a question, and items beyond the number asked are
  dropped too; a reply that holds no JSON object drops the note's items.

Every kept item records ``made_by``: writer ``llm``, the model that answered, the note.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from evals.generate import GenerateError
from evals.generate.facts import Library, figure_in, named_facts, squash
from evals.generate.items import Item
from rag_core.types import Note

if TYPE_CHECKING:
    from rag_core.config import Settings

ANSWERABLE = 2  # asked per note
UNANSWERABLE = 2
MAX_TOKENS = 700
SYSTEM = ("You write test questions for a search system over a person's own notes. You reply "
          "with the JSON object asked for and nothing else.")
REPLY_SHAPE = ('{"answerable": [{"question": "...", "answer": "..."}], '
               '"unanswerable": [{"question": "...", "fact": "..."}]}')
ASK = """Write {answerable} questions that this document answers and {unanswerable} questions \
that it does not answer.
- A question it answers can be answered from the document alone; its answer is a short phrase \
copied word for word from the document (a name, a figure, a date or a few words).
- A question it does not answer stays near the document's subject but asks about a person, a \
year or a number that the document never mentions; the question names that person, year or \
number, and "fact" repeats it.
Reply with one JSON object of this shape: {shape}"""
NO_ENDPOINT = ("--writer llm needs an OpenAI-compatible endpoint, configured as the service's "
               "generator is: RAG_LLM=hf with RAG_LLM_BASE_URL (any OpenAI-compatible server) "
               "or HF_TOKEN (the Hugging Face router), and RAG_LLM_MODEL")


def endpoint_settings(settings: Settings | None = None) -> Settings:
    """The service's generator settings (from the environment by default); GenerateError
    when they configure no OpenAI-compatible endpoint."""
    from rag_core.config import Settings

    if settings is None:
        settings = Settings()  # type: ignore[call-arg]  # the user's RAG_* / HF_TOKEN variables
    calls = settings.model_calls
    if settings.generation.llm != "hf" or (not calls.llm_base_url and calls.hf_token is None):
        raise GenerateError(NO_ENDPOINT)
    return settings


def messages_for(note: Note) -> list[dict[str, str]]:
    meta = [f"title: {note.title}", *([f"date: {note.date}"] if note.date else []),
            *([f"speaker: {note.speaker}"] if note.speaker else []),
            *([f"series: {note.series}"] if note.series else []),
            *([f"tags: {', '.join(note.tags)}"] if note.tags else [])]
    document = f'<document id="{note.id}">\n' + "\n".join(meta) + f"\n\n{note.body}\n</document>"
    ask = ASK.format(answerable=ANSWERABLE, unanswerable=UNANSWERABLE, shape=REPLY_SHAPE)
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"{document}\n\n{ask}"}]


def parse_reply(text: str) -> dict[str, object] | None:
    """The JSON object of a reply (a fenced block or prose around it aside), else None."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start:end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _bare(answer: str) -> str:
    return squash(answer).strip("\"'“”‘’ ").rstrip(".;:,!").strip()


@dataclass
class Written:
    items: list[Item] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    model: str = ""


class Checker:
    """Keeps what a note's reply holds that passes the checks (the module's docstring)."""

    def __init__(self, lib: Library, written: Written) -> None:
        self.lib, self.written = lib, written
        self.asked = {squash(i["question"]) for i in written.items if i["user_id"] == lib.user}

    def _question(self, entry: object) -> str | None:
        question = entry.get("question") if isinstance(entry, dict) else None
        if not isinstance(question, str) or not question.strip():
            self.written.dropped["no question"] += 1
            return None
        if squash(question) in self.asked:
            self.written.dropped["asked twice"] += 1
            return None
        return question.strip()

    def keep(self, note: Note, reply: dict[str, object], model: str) -> None:
        for kind, limit in (("answerable", ANSWERABLE), ("unanswerable", UNANSWERABLE)):
            entries = reply.get(kind)
            entries = entries if isinstance(entries, list) else []
            if len(entries) > limit:
                self.written.dropped["more than asked"] += len(entries) - limit
            for entry in entries[:limit]:
                question = self._question(entry)
                if question is None:
                    continue
                check = self._answerable if kind == "answerable" else self._unanswerable
                item = check(note, question, entry)
                if item is not None:
                    how = item["made_by"]
                    assert isinstance(how, dict)
                    item["made_by"] = {"writer": "llm", "model": model, **how}
                    self.asked.add(squash(question))
                    self.written.items.append(item)

    def _answerable(self, note: Note, question: str, entry: dict[str, object]) -> Item | None:
        answer = str(entry.get("answer") or "").strip()
        if not _bare(answer) or _bare(answer) not in squash(self.lib.texts[note.id]):
            self.written.dropped["answer not in its note"] += 1
            return None
        figure = figure_in(answer)
        item: Item = {"user_id": self.lib.user, "question": question,
                      "reference_note_ids": [note.id], "reference_answer": answer,
                      "expect_no_context": False, "scenario": "factual",
                      "made_by": {"form": "llm_answerable", "note": note.id}}
        if figure:
            item["assert"] = [{"type": "contains", "value": figure[0]}]
        return item

    def _unanswerable(self, note: Note, question: str, entry: dict[str, object]) -> Item | None:
        stated = str(entry.get("fact") or "").strip()
        named = ([stated] if stated and squash(stated) in squash(question) else [])
        absent = next((f for f in [*named, *named_facts(question)] if self.lib.absent(f)), None)
        if absent is None:
            self.written.dropped["names no absent fact"] += 1
            return None
        return {"user_id": self.lib.user, "question": question, "reference_note_ids": [],
                "reference_answer": "no context", "expect_no_context": True,
                "scenario": "no_context",
                "made_by": {"form": "llm_unanswerable", "note": note.id, "absent": absent}}


def write_items(libraries: Sequence[Library], seed: int, settings: Settings | None = None
                ) -> Written:
    """The checked items a model writes for every note of ``libraries``."""
    from rag_core.llm.failures import MisconfiguredLLMError
    from rag_core.llm.hf import classify, make_client

    settings = endpoint_settings(settings)
    client = make_client(settings.model_calls)
    written, failures = Written(model=settings.generation.llm_model), []
    for lib in libraries:
        checker = Checker(lib, written)
        for note in lib.notes:
            try:
                out = client.chat_completion(messages_for(note),
                                             model=settings.generation.llm_model,
                                             temperature=0.0, seed=seed,
                                             max_tokens=MAX_TOKENS, stream=False)
                text = out.choices[0].message.content or ""
            except Exception as exc:
                error = classify(exc)
                if isinstance(error, MisconfiguredLLMError):  # no note would get a reply
                    raise GenerateError(f"the LLM endpoint refused the request: {error}"
                                        ) from None
                failures.append(str(error))
                written.dropped["notes without a reply"] += 1
                continue
            model = str(getattr(out, "model", None) or settings.generation.llm_model)
            written.model = model
            reply = parse_reply(text)
            if reply is None:
                written.dropped["replies without a JSON object"] += 1
                continue
            checker.keep(note, reply, model)
    if failures and not written.items:
        raise GenerateError(f"the LLM endpoint answered no request: {failures[-1]}")
    return written
