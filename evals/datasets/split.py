"""The dev/test split of the golden QA items and semantic pairs.

Rules, thresholds and word lists are tuned on the ``dev`` part only; reports and gates read the
``test`` part. The split is a ``split`` field stored in every line of ``golden/qa/*.jsonl`` and
``golden/semantic_pairs/*.jsonl``; :func:`assign` is how it was made, so that the same items
always get the same split:

- items are grouped into strata: QA items by (``scenario``, ``attack``, ``user_id``), pairs by
  (``label``, ``user_id``);
- inside a stratum the items are ordered by ``sha256("golden-split-v1:" + id)``;
- the first ``round(n * DEV_SHARE)`` of a stratum of ``n`` go to ``dev``, the rest to ``test``.

The order depends on nothing but the ids, so no one chose which items went where. Files written
later (their own ``split`` field) and the extra dev files (every line ``dev``) keep theirs.
Run ``python -m evals.datasets.split --write FILE...`` to add the field to files that lack it.
``python -m evals generate`` splits the datasets it writes with the same :func:`assign`, its
salt drawn from ``--seed`` and its strata the generated items' user, scenario and form.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

SPLITS = ("dev", "test")
DEV_SHARE = 1 / 3
SALT = "golden-split-v1:"
QA_STRATUM = ("scenario", "attack", "user_id")
PAIR_STRATUM = ("label", "user_id")


def _order(item_id: str, salt: str = SALT) -> str:
    return hashlib.sha256((salt + item_id).encode()).hexdigest()


def stratum_keys(item: Mapping[str, object]) -> tuple[str, ...]:
    """The fields that define an item's stratum: a QA item has ``scenario``, a pair ``label``."""
    return QA_STRATUM if "scenario" in item else PAIR_STRATUM


def assign(items: Sequence[Mapping[str, object]], dev_share: float = DEV_SHARE, *,
           salt: str = SALT, stratum: Callable[[Mapping[str, object]], object] | None = None
           ) -> dict[str, str]:
    """item id -> ``dev`` or ``test``, stratified as the module docstring says. ``salt``
    changes the order inside a stratum (``generate`` salts it with its seed); ``stratum`` maps
    an item to its stratum (default: the fields of :func:`stratum_keys`)."""
    strata: dict[object, list[str]] = defaultdict(list)
    for item in items:
        key = stratum(item) if stratum else tuple(item.get(k) for k in stratum_keys(item))
        strata[key].append(str(item["id"]))
    out: dict[str, str] = {}
    for ids in strata.values():
        ordered = sorted(ids, key=lambda i: _order(i, salt))
        n_dev = int(round(len(ordered) * dev_share + 1e-9))
        for i, item_id in enumerate(ordered):
            out[item_id] = "dev" if i < n_dev else "test"
    return out


def select(rows: Iterable[Mapping[str, object]], split: str | None) -> list[dict[str, object]]:
    """The rows of one split (``None`` or ``"all"``: every row)."""
    if split in (None, "all"):
        return [dict(r) for r in rows]
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS} or 'all'")
    return [dict(r) for r in rows if r.get("split") == split]


def _read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def write(paths: Sequence[Path]) -> dict[str, int]:
    """Add the ``split`` field to the lines of ``paths`` that lack one (stratified over all the
    files together); returns the count per split of the lines written."""
    files = {p: _read(p) for p in paths}
    todo = [row for rows in files.values() for row in rows if "split" not in row]
    splits = assign(todo)
    counts = dict.fromkeys(SPLITS, 0)
    for path, rows in files.items():
        for row in rows:
            if "split" not in row:
                row["split"] = splits[str(row["id"])]
                counts[str(row["split"])] += 1
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                        encoding="utf-8")
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.datasets.split", description=__doc__)
    parser.add_argument("--write", nargs="+", type=Path, required=True,
                        help="JSON-lines files whose lines without a split get one")
    args = parser.parse_args(argv)
    print(write(args.write))  # counts only: the items themselves are not shown
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
