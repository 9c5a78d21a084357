"""Read a dataset folder (or a Hugging Face dataset id) into the harness's one shape.

QA items are normalised to the golden columns (``evals.datasets.golden.QA_COLUMNS``), whatever
names the file used:

| golden              | also accepted                                         |
|---------------------|-------------------------------------------------------|
| question            | user_input (ragas)                                    |
| reference_note_ids  | relevant_notes (eval-external), relevant_note_ids     |
| reference_answer    | answer (eval-external), reference (ragas)             |
| reference_chunk_texts | reference_contexts (ragas)                          |
| scenario            | kind (only groups rows)                               |

``expect_no_context`` defaults to "no reference note, no reference context and no answer".
ragas items name their evidence by text, not by note: a reference context is mapped to the
asking user's notes whose body holds it (whitespace and case aside). ``user_id`` may be left
out when the dataset has one user. Items without ``split`` are all evaluated (they count as the
test part, which the gates read: ``split`` is set to ``test``). Semantic pairs keep ``id``,
``user_id``, ``a``, ``b``, ``label`` (``paraphrase`` | ``near_miss``) and optional ``kind``,
``split``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from evals.paths import GOLDEN_DIR

if TYPE_CHECKING:
    import datasets


PAIR_LABELS = ("paraphrase", "near_miss")
# an item without ``split`` is evaluated with the test part, the part the gates read
UNSPLIT = "test"
GOLDEN_SCENARIOS = ("factual", "synthesis", "metadata", "no_context", "adversarial")
QUERY_LOG_NAMES = ("query_log.jsonl", "querylog.jsonl", "log.jsonl")
_ALIASES: dict[str, tuple[str, ...]] = {
    "question": ("question", "user_input"),
    "reference_note_ids": ("reference_note_ids", "relevant_notes", "relevant_note_ids"),
    "reference_answer": ("reference_answer", "answer", "reference"),
    "reference_chunk_texts": ("reference_chunk_texts", "reference_contexts"),
}


class DatasetError(ValueError):
    """A dataset that cannot be read; ``code`` names the kind of problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class EvalDataset:
    """A dataset in the harness's shape; ``qa`` has the golden columns (plus ``group``)."""

    name: str
    root: Path
    qa: pd.DataFrame
    pairs: list[dict[str, object]] = field(default_factory=list)
    query_log: Path | None = None
    gates_file: Path | None = None
    is_golden: bool = False

    @property
    def notes_dir(self) -> Path:
        return self.root / "notes"

    @property
    def users(self) -> list[str]:
        return sorted(p.name for p in self.notes_dir.iterdir() if p.is_dir())

    def notes(self) -> pd.DataFrame:
        from evals.datasets import golden

        return golden.load_notes(self.root)

    def to_hf(self) -> datasets.Dataset:
        """The QA items as a ``datasets.Dataset`` (the golden features)."""
        import datasets

        from evals.datasets import golden

        columns = list(golden.qa_features())
        frame = self.qa.reindex(columns=columns)
        frame = frame.astype(object).where(frame.notna(), None)
        return datasets.Dataset.from_list(frame.to_dict("records"),
                                          features=golden.qa_features())

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "root": str(self.root), "users": self.users,
                "qa_items": len(self.qa), "pairs": len(self.pairs),
                "query_log": str(self.query_log) if self.query_log else None,
                "gates": str(self.gates_file) if self.gates_file else None}


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError("DATASET_BAD_JSON", f"{path}, line {n}: {exc.msg}") from None
        if not isinstance(row, dict):
            raise DatasetError("DATASET_BAD_JSON", f"{path}, line {n}: not an object")
        rows.append({**row, "_file": path.stem, "_line": n})
    return rows


def _files(root: Path, stem: str) -> list[Path]:
    """``<stem>.jsonl`` and ``<stem>/*.jsonl``."""
    single = root / f"{stem}.jsonl"
    return ([single] if single.is_file() else []) + sorted((root / stem).glob("*.jsonl"))


def _first(row: dict[str, object], names: tuple[str, ...]) -> object:
    for name in names:
        if row.get(name) is not None:
            return row[name]
    return None


def _as_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"'{type(value).__name__}' object is not iterable")
    return [str(v) for v in value]


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


def _notes_holding(texts: list[str], bodies: dict[str, str]) -> list[str]:
    """Note ids (of one user) whose body contains one of ``texts``."""
    wanted = [_squash(t) for t in texts if t.strip()]
    return [nid for nid, body in bodies.items() if any(w in body for w in wanted)]


def _controls(text: str, allowed: str = "") -> bool:
    return any((ord(c) < 32 or 127 <= ord(c) < 160) and c not in allowed for c in text)


def _check_text(row: dict[str, object], where: str, question: object) -> None:
    """No control character in an item's id, user or question (they name test cases and
    shell lines); ``expect: fail`` only with a ``reason``."""
    for key, value, allowed in (("id", row.get("id"), ""), ("user_id", row.get("user_id"), ""),
                                ("question", question, "\t\n\r")):
        if value is not None and _controls(str(value), allowed):
            raise DatasetError("DATASET_BAD_TEXT", f"{where}: a control character in {key} "
                               f"{str(value)[:60]!r}")
    expect = row.get("expect")
    if expect is None:
        return
    if expect != "fail":
        raise DatasetError("DATASET_BAD_ITEM", f"{where}: expect must be \"fail\" (a known "
                           f"failure), got {expect!r}")
    reason = row.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise DatasetError("DATASET_BAD_ITEM", f"{where}: expect: fail needs a reason (why "
                           "the question is allowed to fail)")
    if _controls(reason, "\t\n\r"):
        raise DatasetError("DATASET_BAD_TEXT", f"{where}: a control character in reason")


def normalise_item(row: dict[str, object], users: list[str],
                   bodies: dict[str, dict[str, str]]) -> dict[str, object]:
    """One QA row in any accepted naming -> the golden columns (``bodies``: user -> id -> body
    squashed, for ragas contexts)."""
    where = f"{row.get('_file')}.jsonl, line {row.get('_line')}"
    user = row.get("user_id") or (users[0] if len(users) == 1 else None)
    if not user:
        raise DatasetError("DATASET_BAD_ITEM", f"{where}: no user_id (the dataset has "
                           f"{len(users)} users, so it cannot be guessed)")
    question = _first(row, _ALIASES["question"])
    if not str(question or "").strip():
        raise DatasetError("DATASET_BAD_ITEM", f"{where}: no question (or user_input)")
    note_ids = _as_list(_first(row, _ALIASES["reference_note_ids"]))
    contexts = _as_list(_first(row, _ALIASES["reference_chunk_texts"]))
    if not note_ids and contexts:
        note_ids = _notes_holding(contexts, bodies.get(str(user), {}))
    answer = _first(row, _ALIASES["reference_answer"])
    expect = row.get("expect_no_context")
    if expect is None:
        expect = not note_ids and not contexts and not str(answer or "").strip()
    if row.get("assert") is not None:
        from evals.judge.assertions import parse

        try:
            parse(row["assert"])
        except ValueError as exc:
            raise DatasetError("DATASET_BAD_ITEM", f"{where}: {exc}") from None
    _check_text(row, where, question)
    group = row.get("scenario") or row.get("kind")
    attack = row.get("attack") or None
    scenario = row.get("scenario")
    if not scenario:
        scenario = (group if group in GOLDEN_SCENARIOS else
                    "adversarial" if attack else "no_context" if expect else "factual")
    item = {k: v for k, v in row.items() if not k.startswith("_")}
    item.update({
        "id": str(row.get("id") or f"{row.get('_file')}-{row.get('_line')}"),
        "user_id": str(user), "question": str(question), "scenario": str(scenario),
        "group": str(group or scenario), "reference_answer": answer,
        "reference_note_ids": note_ids, "reference_chunk_texts": contexts,
        "attack": attack, "expect_no_context": bool(expect),
        "split": row.get("split") or UNSPLIT,
    })
    return item


def _note_bodies(root: Path) -> dict[str, dict[str, str]]:
    from rag_core.ingest.readers import load_notes

    out: dict[str, dict[str, str]] = {}
    for folder in sorted(p for p in (root / "notes").iterdir() if p.is_dir()):
        out[folder.name] = {n.id: _squash(n.body) for n in load_notes(folder)}
    return out


def load_pairs(root: Path) -> list[dict[str, object]]:
    pairs = []
    for row in [r for p in _files(root, "semantic_pairs") for r in _read_jsonl(p)]:
        where = f"{row['_file']}.jsonl, line {row['_line']}"
        missing = [k for k in ("user_id", "a", "b", "label") if not row.get(k)]
        if missing:
            raise DatasetError("DATASET_BAD_PAIR", f"{where}: lacks {missing}")
        if row["label"] not in PAIR_LABELS:
            raise DatasetError("DATASET_BAD_PAIR", f"{where}: label must be one of "
                               f"{PAIR_LABELS}, got {row['label']!r}")
        pair = {k: v for k, v in row.items() if not k.startswith("_")}
        pair.setdefault("id", f"{row['_file']}-{row['_line']}")
        pair["split"] = pair.get("split") or UNSPLIT
        pairs.append(pair)
    return pairs


def _resolve_root(source: str | Path) -> Path:
    """A folder, or a Hugging Face dataset id fetched (from the local cache when offline)
    with ``huggingface_hub.snapshot_download``."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path.resolve()
    text = str(source)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise DatasetError("DATASET_NOT_FOUND", f"{source}: no such folder (a dataset is a "
                           "folder with notes/<user>/ and qa.jsonl, or a hub id owner/name)")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id=text, repo_type="dataset"))
    except Exception as exc:  # noqa: BLE001 (offline, unknown id, no access: all one answer)
        raise DatasetError("DATASET_NOT_FOUND", f"{source}: not a folder, and the hub dataset "
                           f"could not be fetched ({type(exc).__name__}: {exc})") from None


def name_of(source: str | Path) -> str:
    """The folder's name, or the last part of a hub id."""
    return Path(str(source).rstrip("/")).name


def load_dataset(source: str | Path) -> EvalDataset:
    """Read and check a dataset; every problem is a :class:`DatasetError` with a code."""
    root = _resolve_root(source)
    if not (root / "notes").is_dir() or not any(p.is_dir() for p in (root / "notes").iterdir()):
        raise DatasetError("DATASET_NO_NOTES", f"{root}: needs notes/<user>/ folders")
    files = _files(root, "qa")
    if not files:
        raise DatasetError("DATASET_NO_QA", f"{root}: needs qa.jsonl or qa/*.jsonl")
    try:
        bodies = _note_bodies(root)
    except ValueError as exc:
        raise DatasetError("DATASET_BAD_NOTE", str(exc)) from None
    users = sorted(bodies)
    items = [normalise_item(r, users, bodies) for p in files for r in _read_jsonl(p)]
    if not items:
        raise DatasetError("DATASET_NO_QA", f"{root}: the QA files hold no item")
    strangers = sorted({str(i["user_id"]) for i in items} - set(users))
    if strangers:
        raise DatasetError("DATASET_BAD_ITEM", f"QA items of users without notes/<user>/: "
                           f"{strangers}")
    ids = [str(i["id"]) for i in items]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DatasetError("DATASET_BAD_ITEM", f"QA ids used twice: {dupes[:5]}")
    from evals.datasets import golden

    is_golden = root == GOLDEN_DIR.resolve()
    if is_golden:  # exactly what the golden loaders give (the recorded figures stay the same)
        qa, pairs = golden.load_qa(root), golden.load_semantic_pairs(root)
        qa["group"] = qa["scenario"]
    else:
        qa, pairs = golden._normalise_qa(pd.DataFrame(items)), load_pairs(root)
    log = next((root / n for n in QUERY_LOG_NAMES if (root / n).is_file()), None)
    gates = root / "gates.toml"
    return EvalDataset(name="golden" if is_golden else name_of(source), root=root, qa=qa,
                       pairs=pairs, query_log=log, gates_file=gates if gates.is_file() else None,
                       is_golden=is_golden)


def default_dataset() -> EvalDataset:
    return load_dataset(GOLDEN_DIR)


def resolve(source: str | Path | None) -> EvalDataset:
    """A notebook's ``dataset`` parameter: empty means the golden set."""
    return load_dataset(source) if source else default_dataset()
