"""The dataset folder ``generate`` writes: the notes copied to ``notes/<user>/``, the questions
to ``qa.jsonl``, the pairs to ``semantic_pairs.jsonl`` and follow-up conversations to
``conversations.jsonl`` (``follow_ups``), in the shape ``evals.datasets.loader`` and
``evals.conversations.dataset`` read.

The questions come from the rules (``items`` and ``absent``, the default writer) or from a
model (``llm_writer``); the pairs always from the rules (``pairs``). Every item and pair then
passes ``checks``, and what they kept and dropped is written beside the dataset
(``report_file``). Every question and pair gets a ``split``
(dev or test) the way the golden set's were made (``evals.datasets.split.assign``): a third of
each stratum to dev, the order inside a stratum drawn from the seed; questions are stratified
by user, scenario and form, pairs by user, label and kind."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evals.datasets import split
from evals.generate import GenerateError, absent, follow_ups, items, report_file
from evals.generate.checks import Report, keep, keep_pairs
from evals.generate.facts import Library
from evals.generate.pairs import pairs as make_pairs
from evals.generate.synonyms import Embed, Swapper, WordVectors

if TYPE_CHECKING:
    from rag_core.config import Settings

__all__ = ["WRITERS", "GenerateError", "Generated", "generate"]
WRITERS = ("rules", "llm")

CONVERSATIONS = "conversations.jsonl"
PER_NOTE = 2  # sentence questions per note
PER_KIND = 2  # person near-miss pairs per user


@dataclass
class Generated:
    folder: Path
    questions: int
    unanswerable: int
    pairs: int
    writer: str = "rules"
    model: str | None = None  # the model that wrote the questions (writer llm)
    dropped: Counter[str] = field(default_factory=Counter)  # why items failed their checks
    splits: Counter[str] = field(default_factory=Counter)  # questions per split
    report: Report = field(default_factory=Report)  # kept by form, dropped by reason


def _libraries(notes_dir: Path, users: Sequence[str]) -> list[Library]:
    from rag_core.errors import InvalidNote
    from rag_core.ingest.readers import load_notes

    if not notes_dir.is_dir():
        raise GenerateError(f"{notes_dir}: no such folder (one folder per user of notes)")
    found = sorted(p.name for p in notes_dir.iterdir() if p.is_dir()
                   and not p.name.startswith("."))
    unknown = sorted(set(users) - set(found))
    if unknown:
        raise GenerateError(f"no notes folder for user(s) {unknown} under {notes_dir}")
    chosen = list(users) or found
    if not chosen:
        raise GenerateError(f"{notes_dir} holds no user folders")
    try:
        return [Library(u, load_notes(notes_dir / u)) for u in chosen]
    except ValueError as exc:
        raise GenerateError(str(exc)) from None
    except InvalidNote as exc:  # a file no reader takes: its code and its name
        raise GenerateError(f"{exc.code}: {exc.message}") from None


def _project_embedder() -> Embed:
    from rag_core.config import Settings
    from rag_core.embedding import build_embedder

    embedder = build_embedder(Settings())  # type: ignore[call-arg]  # RAG_EMBEDDING_* as set
    return lambda texts: embedder.embed(texts)


def _stratum(row: Mapping[str, object]) -> tuple[object, ...]:
    made = row.get("made_by")
    form = made.get("form") if isinstance(made, dict) else row.get("kind")
    return (row.get("user_id"), row.get("scenario") or row.get("label"), form)


def _with_splits(rows: list[dict[str, object]], seed: int) -> Counter[str]:
    assigned = split.assign(rows, salt=f"generate-split-v1:{seed}:", stratum=_stratum)
    for row in rows:
        row["split"] = assigned[str(row["id"])]
    return Counter(str(row["split"]) for row in rows)


def _write_lines(path: Path, rows: Sequence[dict[str, object]]) -> None:
    lines = [json.dumps({"id": r["id"], **{k: v for k, v in r.items() if k != "id"}},
                        ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def generate(notes_dir: Path, out: Path, users: Sequence[str] = (), seed: int = 7, *,
             writer: str = "rules", embed: Embed | None = None,
             llm_settings: Settings | None = None) -> Generated:
    """Write a dataset made from ``notes_dir``'s notes to ``out`` (new or empty).

    ``writer``: ``rules`` (offline) or ``llm`` (``llm_writer``; ``llm_settings``: the endpoint,
    by default the environment's). ``embed``: the embedder of the ``synonym`` form (default:
    the project's, loaded on first use)."""
    if writer not in WRITERS:
        raise GenerateError(f"unknown writer {writer!r}; choose one of {', '.join(WRITERS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GenerateError(f"{out} exists and is not an empty folder")
    libraries = _libraries(notes_dir, users)
    made = Generated(out, 0, 0, 0, writer)
    qa: list[items.Item] = []
    pairs: list[dict[str, object]] = []
    conversations: list[dict[str, object]] = []
    if writer == "llm":
        from evals.generate import llm_writer

        written = llm_writer.write_items(libraries, seed, llm_settings)
        qa, made.model, made.dropped = written.items, written.model, written.dropped
        for item in qa:
            how = item["made_by"]
            assert isinstance(how, dict)
            item.setdefault("id", items.stable_id("gen", item["user_id"], how.get("note", ""),
                                                  item["question"], how.get("form")))
    vectors: WordVectors | None = None
    for lib in libraries:
        if writer == "rules":
            vectors = vectors or WordVectors(embed or _project_embedder())
            made_here = items.metadata_items(lib) + items.sentence_items(lib, seed, PER_NOTE)
            qa += made_here + items.synonym_items(made_here, Swapper(lib, vectors))
            qa += absent.unanswerable_items(lib, seed)
        pairs += make_pairs(lib, seed, PER_KIND)
        conversations += follow_ups.conversations(lib, seed)
    report = made.report
    report.dropped.update(made.dropped)
    qa = keep(qa, {lib.user: lib for lib in libraries}, report)
    pairs = keep_pairs(pairs, report)
    made.dropped = report.dropped
    if not qa:
        raise GenerateError(f"no question passed the checks (dropped: {dict(made.dropped)})")
    made.splits = _with_splits(qa, seed)
    _with_splits(pairs, seed)
    _with_splits(conversations, seed)
    for lib in libraries:
        shutil.copytree(notes_dir / lib.user, out / "notes" / lib.user,
                        ignore=shutil.ignore_patterns(".*"))
    _write_lines(out / "qa.jsonl", qa)
    _write_lines(out / "semantic_pairs.jsonl", pairs)
    if conversations:
        _write_lines(out / CONVERSATIONS, conversations)
    report_file.write(out, report)
    made.questions, made.pairs = len(qa), len(pairs)
    made.unanswerable = sum(bool(i["expect_no_context"]) for i in qa)
    return made
