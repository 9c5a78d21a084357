"""Build and load the labelled safety sets under ``golden/safety/``.

``questions.jsonl`` (the sanitiser's set) and ``outputs.jsonl`` (the leak filter's set) are made
from written sources in ``golden/safety/sources/`` plus variants that disguise written items
(``evals.safety.transforms``). Every row: ``id``, ``kind``, ``category``, ``text``, ``split``
(``dev`` or ``test``), ``source`` and ``group`` (the written item a variant comes from; a group
never straddles the split).

The split is stratified by category: within each category the written items are ordered by a
hash of their id and alternately assigned dev, test. Variants inherit their group's split and
are drawn equally from dev and test groups for each transform. The attacker's probe
(``sources/redteam_probe.jsonl``, the 47 lines of the security issue, ids kept) is all dev: it
was read while the rules were written.

Rebuild after editing a source (or the system prompt, for the generated echoes):
``python -m evals.safety.outputs``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from evals.paths import GOLDEN_DIR
from evals.safety import transforms as tf

SAFETY_DIR = GOLDEN_DIR / "safety"
SOURCES = SAFETY_DIR / "sources"
QUESTIONS = SAFETY_DIR / "questions.jsonl"
# written by someone who had not seen the defences or the sets above; measured, never tuned on
HELDOUT = SAFETY_DIR / "heldout.jsonl"
OUTPUTS = SAFETY_DIR / "outputs.jsonl"
SPLITS = ("dev", "test")
SEED = 14
# Written attacks that the obfuscating transforms disguise.
DISGUISABLE = ("override", "override-synonym", "leak", "leak-indirect", "role-override",
               "output-hijack", "policy-override", "leak-roleplay")
VARIANTS_PER_SPLIT = 3
HONEST_VARIANTS_PER_SPLIT = 4


def parse_source(path: Path) -> list[tuple[str, str]]:
    """``(category, text)`` per line of a source file (``## name`` lines set the category)."""
    out: list[tuple[str, str]] = []
    category = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        if not line or line.startswith("# "):
            continue
        if line.startswith("## "):
            category = line[3:].strip()
            continue
        if not category:
            raise ValueError(f"{path}: a line before the first '## category'")
        out.append((category, line.replace("\\n", "\n")))
    return out


def _rank(key: str) -> str:
    return hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest()


def assign_splits(rows: list[dict[str, str]]) -> None:
    """Set ``split`` on rows without one: per category, groups alternate dev/test in hash
    order (so each category is halved, the odd one going to dev)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if "split" not in row and row["group"] not in groups[row["category"]]:
            groups[row["category"]].append(row["group"])
    split_of: dict[str, str] = {}
    for members in groups.values():
        for i, group in enumerate(sorted(members, key=_rank)):
            split_of[group] = SPLITS[i % 2]
    for row in rows:
        row.setdefault("split", split_of[row["group"]])


def written(kind: str, source: str, prefix: str) -> list[dict[str, str]]:
    rows = []
    counts: dict[str, int] = defaultdict(int)
    for category, text in parse_source(SOURCES / source):
        counts[category] += 1
        row_id = f"{prefix}-{category}-{counts[category]:03d}"
        rows.append({"id": row_id, "kind": kind, "category": category, "text": text,
                     "source": "written", "group": row_id})
    return rows


def _probe() -> list[dict[str, str]]:
    rows = []
    for line in (SOURCES / "redteam_probe.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        rows.append({"id": item["id"], "kind": item["kind"], "category": item["category"],
                     "text": item["text"], "source": "redteam-probe", "group": item["id"],
                     "split": "dev"})
    return rows


def pick(rows: Sequence[dict[str, str]], split: str, n: int,
          rng: random.Random) -> list[dict[str, str]]:
    pool = [r for r in rows if r["split"] == split]
    return rng.sample(pool, min(n, len(pool)))


def build_questions() -> list[dict[str, str]]:
    """The sanitiser's labelled set: written attacks and honest questions, the probe, and
    disguised variants of both."""
    rng = random.Random(SEED)
    attacks = written("attack", "attacks.txt", "att")
    honest = written("honest", "honest_questions.txt", "hon")
    # The later waves (written after the first rules were measured) is not disguised, so that
    # adding it left the first wave's variants as they were.
    wave2 = (written("attack", "attacks_2.txt", "att2")
             + written("honest", "honest_questions_2.txt", "hon2")
             + written("attack", "attacks_3.txt", "att3")
             + written("honest", "honest_questions_3.txt", "hon3"))
    assign_splits(attacks + honest + wave2)
    cores = [r for r in attacks if r["category"] in DISGUISABLE]
    plain = [r for r in honest if r["category"] in ("plain", "trigger-words")]
    variants: list[dict[str, str]] = []
    for name, transform in tf.ATTACK_TRANSFORMS.items():
        for split in SPLITS:
            for i, core in enumerate(pick(cores, split, VARIANTS_PER_SPLIT, rng)):
                variants.append(_variant(core, f"att-{name}-{split}-{i}", f"disguised/{name}",
                                         transform(core["text"], rng)))
    for name, combine in tf.COMPOUND_TRANSFORMS.items():
        for split in SPLITS:
            picked = pick(cores, split, VARIANTS_PER_SPLIT, rng)
            hosts = pick(plain, split, len(picked), rng)
            for i, (core, host) in enumerate(zip(picked, hosts, strict=True)):
                text = combine(host["text"], core["text"], rng)
                variants.append(_variant(core, f"att-{name}-{split}-{i}", f"hidden/{name}", text))
    for name, transform in tf.HONEST_TRANSFORMS.items():
        for split in SPLITS:
            for i, host in enumerate(pick(honest, split, HONEST_VARIANTS_PER_SPLIT, rng)):
                variants.append(_variant(host, f"hon-{name}-{split}-{i}", f"artefact/{name}",
                                         transform(host["text"], rng)))
    return _probe() + attacks + honest + wave2 + variants


def _variant(base: dict[str, str], row_id: str, category: str, text: str) -> dict[str, str]:
    return {"id": row_id, "kind": base["kind"], "category": category, "text": text,
            "source": "generated", "group": base["group"], "split": base["split"]}


def write_jsonl(path: Path, rows: Iterable[dict[str, str]]) -> int:
    keys = ("id", "kind", "category", "split", "source", "group", "text")
    lines = [json.dumps({k: row[k] for k in keys}, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def load(path: Path | str, split: str | None = None) -> list[dict[str, str]]:
    """Rows of a safety set, optionally one split."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]
