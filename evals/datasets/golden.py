"""The golden set: sermon notes per user and the QA items, with pandas and with ``datasets``.

``ensure_ingested`` makes every golden user's library in the pipeline's store exactly the
golden notes: ingestion upserts by content hash (a second call writes nothing and bumps no notes
version) and prunes notes of those users that the golden set does not have.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

import pandas as pd

from evals.datasets.split import SPLITS, select
from evals.paths import GOLDEN_DIR
from rag_core.pipeline import Pipeline

if TYPE_CHECKING:
    import datasets

    from rag_core.ingest.ingestion import IngestReport

SCENARIOS = ("factual", "synthesis", "metadata", "no_context", "adversarial")
ATTACKS = ("injection", "leak", "cross_user", "indirect")
QA_COLUMNS = (
    "id", "user_id", "question", "scenario", "reference_answer", "reference_note_ids",
    "reference_chunk_texts", "attack", "expect_no_context",
)
# Fields that only some QA files carry (``qa/indirect.jsonl``: the injection's channel and
# its canaries; ``split``: dev or test). Missing ones load as None.
OPTIONAL_COLUMNS = ("split", "channel", "canaries")


class Canary(TypedDict):
    kind: str  # marker, url, ...
    value: str


class QAItem(TypedDict):
    """One QA item (a row of ``load_qa``): the ``QA_COLUMNS`` and the optional ones."""

    id: str
    user_id: str
    question: str
    scenario: str
    reference_answer: str | None
    reference_note_ids: list[str]
    reference_chunk_texts: list[str]
    attack: str | None
    expect_no_context: bool
    split: NotRequired[str | None]
    channel: NotRequired[str | None]
    canaries: NotRequired[list[Canary] | None]


def _dir(golden_dir: str | Path | None) -> Path:
    return Path(golden_dir) if golden_dir else GOLDEN_DIR


def qa_files(golden_dir: str | Path | None = None) -> list[Path]:
    return sorted((_dir(golden_dir) / "qa").glob("*.jsonl"))


def load_notes(golden_dir: str | Path | None = None) -> pd.DataFrame:
    """One row per note: id, title, date, speaker, series, tags, scripture, body, user_id, path
    (read by the service's own reader, ``rag_core.ingest.notes``)."""
    from rag_core.ingest.readers import load_notes as read_folder

    rows = []
    for folder in sorted(p for p in (_dir(golden_dir) / "notes").iterdir() if p.is_dir()):
        for note in read_folder(folder):
            rows.append({"id": note.id, **note.metadata(), "body": note.body,
                         "user_id": folder.name, "path": str(folder / f"{note.id}.md")})
    return pd.DataFrame(rows).sort_values("path", ignore_index=True)


def users(notes: pd.DataFrame) -> list[str]:
    return sorted(notes["user_id"].unique())


def owner_map(notes: pd.DataFrame) -> dict[str, str]:
    """note id -> the user whose library holds it."""
    return dict(zip(notes["id"], notes["user_id"], strict=True))


def _normalise_qa(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in QA_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"QA items lack the columns {missing}")
    frame = frame.copy()
    frame["attack"] = frame["attack"].astype(object).where(frame["attack"].notna(), None)
    frame["expect_no_context"] = frame["expect_no_context"].astype(bool)
    for column in OPTIONAL_COLUMNS:
        values = frame[column] if column in frame.columns else pd.Series([None] * len(frame))
        frame[column] = pd.Series([None if _missing(v) else v for v in values],
                                  index=frame.index, dtype=object)
    for column in ("reference_note_ids", "reference_chunk_texts"):
        frame[column] = frame[column].apply(lambda v: list(v) if v is not None else [])
    return frame.reset_index(drop=True)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def load_qa(golden_dir: str | Path | None = None, split: str | None = None) -> pd.DataFrame:
    """The QA items of ``golden/qa/*.jsonl`` with pandas, in file order: all of them, or the
    ``dev`` or ``test`` part (``evals.datasets.split``; tune on dev, report on test)."""
    files = qa_files(golden_dir)
    if not files:
        raise FileNotFoundError(f"no QA files under {_dir(golden_dir) / 'qa'}")
    frame = pd.concat([pd.read_json(p, lines=True, dtype=False) for p in files],
                      ignore_index=True)
    frame = _normalise_qa(frame)
    if split in (None, "all"):
        return frame
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS} or 'all'")
    return frame[frame["split"] == split].reset_index(drop=True)


def load_qa_dataset(golden_dir: str | Path | None = None,
                    split: str | None = None) -> datasets.Dataset:
    """The same items as a ``datasets.Dataset`` (``load_dataset("json", ...)``), optionally
    filtered to one split."""
    import datasets

    files = [str(p) for p in qa_files(golden_dir)]
    if not files:
        raise FileNotFoundError(f"no QA files under {_dir(golden_dir) / 'qa'}")
    ds = datasets.load_dataset("json", data_files=files, split="train",
                               features=qa_features())
    assert isinstance(ds, datasets.Dataset)  # split="train": one split, not a dict of them
    if split in (None, "all"):
        return ds
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS} or 'all'")
    return ds.filter(lambda row: row.get("split") == split)


def load_semantic_pairs(golden_dir: str | Path | None = None,
                        split: str | None = None) -> list[dict[str, object]]:
    """The labelled pairs of ``golden/semantic_pairs/*.jsonl`` (id, user_id, a, b, label,
    optional kind, split), all of them or one split."""
    rows: list[dict[str, object]] = []
    for path in sorted((_dir(golden_dir) / "semantic_pairs").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    return select(rows, split)


def qa_features() -> datasets.Features:
    """The schema of a QA item for ``datasets``: given explicitly, because the files do not all
    carry the optional fields (the json loader then fills them with None)."""
    from datasets import Features, List, Value

    text = Value("string")
    return Features({
        "id": text, "user_id": text, "question": text, "scenario": text,
        "reference_answer": text, "reference_note_ids": List(text),
        "reference_chunk_texts": List(text), "attack": text,
        "expect_no_context": Value("bool"), "split": text, "channel": text,
        "canaries": List({"kind": text, "value": text}),
    })


def planted_note_ids(golden_dir: str | Path | None = None) -> set[str]:
    """The notes that carry a planted instruction: those the indirect-injection items use.
    Sets of honest text made from the notes (``evals.safety.outputs``) leave them out."""
    qa = load_qa(golden_dir)
    return {n for ids in qa.loc[qa["attack"] == "indirect", "reference_note_ids"] for n in ids}


def scenario_counts(qa: pd.DataFrame) -> pd.DataFrame:
    """Items per scenario and attack, in a fixed order (a regression reference for nbval)."""
    attack = qa["attack"].fillna("-")
    counts = (qa.assign(attack=attack).groupby(["scenario", "attack"]).size()
              .rename("items").reset_index())
    order = {s: i for i, s in enumerate(SCENARIOS)}
    counts["_o"] = counts["scenario"].map(order).fillna(len(order))
    return (counts.sort_values(["_o", "attack"]).drop(columns="_o")
            .reset_index(drop=True))


def sample_qa(qa: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` items stratified by scenario (every scenario keeps at least one); 0 = all."""
    if n <= 0 or n >= len(qa):
        return qa.reset_index(drop=True)
    groups = list(qa.groupby("scenario", sort=True))
    n = max(n, len(groups))
    exact = {name: n * len(g) / len(qa) for name, g in groups}
    share = {name: max(1, int(v)) for name, v in exact.items()}
    by_remainder = sorted(exact, key=lambda k: exact[k] - int(exact[k]), reverse=True)
    while sum(share.values()) < n:  # largest remainders first
        for name in by_remainder:
            if sum(share.values()) < n:
                share[name] += 1
    while sum(share.values()) > n:
        share[max(share, key=lambda k: share[k])] -= 1
    parts = [g.sample(n=min(share[name], len(g)), random_state=seed) for name, g in groups]
    picked = pd.concat(parts)
    return qa.loc[sorted(picked.index)].reset_index(drop=True)


def ensure_ingested(pipeline: Pipeline, golden_dir: str | Path | None = None,
                    progress: bool = False, prune: bool = True) -> pd.DataFrame:
    """Ingest every user's library into the pipeline's store; one row per user with the result.

    With ``prune`` (the default) notes of the golden users that are not golden are deleted, so
    that notes added by hand cannot change the evaluation.
    """
    from rag_core.ingest.ingestion import ingest_path

    rows = []
    for user_dir in sorted(p for p in (_dir(golden_dir) / "notes").iterdir() if p.is_dir()):
        result = ingest_path(pipeline.parts, user_dir.name, user_dir, progress=progress,
                             prune=prune)
        rows.append({"user_id": user_dir.name, **_as_row(result)})
    return pd.DataFrame(rows)


def _as_row(result: IngestReport) -> dict[str, object]:
    """``ingest_path``'s report as flat columns for a table (its per-note statuses left out)."""
    return {k: v for k, v in result.to_dict().items() if not isinstance(v, list | dict)}
