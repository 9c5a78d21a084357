"""The wording probe: do the decisions before the model hold however a question is worded?
``python -m evals.decisions.wording_probe [--state-dir DIR] [--sets ...] [--out FILE.md]``.

Every answerable labelled question of the golden test split, the external set
(``../shared/eval-external``, or ``$RAG_SHARED_DIR/eval-external``, where present) and the
``init-dataset`` example is rewritten by the rules of ``evals.decisions.rewrites``, then each
wording is asked as the service asks it: embedded, searched in the user's notes through the
real store (the filters the question names, hybrid retrieval, the service's top k), and decided
by the no-context judge the service builds (``parts.judges``). Figures:

- **meaning kept**: per rewrite, the questions it applies to and how many are refused "nothing
  in your notes" before the model, with the 95 % Wilson interval of that rate, and how many of
  them the original wording was answered for (refused only for the wording);
- **meaning changed**, the other direction: the original cached, the rewrite asked, each decided
  by the semantic cache's modes as a user with that one entry meets it (``strict``, the
  default, and ``loose``): a reuse serves the answer of another question. Strict must reuse
  none. The same modes' reuse of the meaning-keeping rewrites is shown beside them.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evals.datasets import external, golden
from evals.decisions import rewrites as rw
from evals.decisions.decisions_eval import EXAMPLE, EXTERNAL, GOLDEN, mode_policies
from evals.judge.questions import wilson
from evals.quality.relevance_eval import judged_items
from rag_core.decisions import semantic_rules as rules
from rag_core.pipeline import Pipeline
from rag_core.types import Chunk

ORIGINAL = "original"
SETS = (GOLDEN, EXTERNAL, EXAMPLE)


@dataclass(frozen=True)
class Wording:
    """One question as one rewrite words it (``rewrite`` "original": as the set wrote it)."""

    set: str
    item_id: str
    user_id: str
    original: str
    rewrite: str
    keeps: bool
    question: str


def answerable(pipeline: Pipeline, sets: Sequence[str] = SETS) -> pd.DataFrame:
    """The answerable labelled questions of each set asked for (``set``, ``id``, ``user_id``,
    ``question``), its notes ingested into the pipeline's store."""
    frames = []
    if GOLDEN in sets:
        golden.ensure_ingested(pipeline)
        frames.append(golden.load_qa(split="test").assign(set=GOLDEN))
    if EXTERNAL in sets and external.available():
        external.ensure_ingested(pipeline)
        frames.append(external.load_qa().assign(set=EXTERNAL))
    if EXAMPLE in sets:
        from evals.datasets.example import EXAMPLE_DIR
        from evals.datasets.loader import load_dataset

        external.ensure_ingested(pipeline, EXAMPLE_DIR)
        frames.append(load_dataset(EXAMPLE_DIR).qa.assign(set=EXAMPLE))
    items = pd.concat([judged_items(f) for f in frames], ignore_index=True)
    return items[~items["expect_no_context"]][["set", "id", "user_id", "question"]] \
        .reset_index(drop=True)


def wordings(items: pd.DataFrame, rewrites: Sequence[rw.Rewrite] = rw.ALL) -> list[Wording]:
    """Each item as written and as each rewrite that applies to it words it."""
    out = []
    for item in items.to_dict("records"):
        q = str(item["question"])
        base = (str(item["set"]), str(item["id"]), str(item["user_id"]), q)
        out.append(Wording(*base, ORIGINAL, True, q))
        out += [Wording(*base, r.name, r.keeps, new) for r in rewrites
                if (new := r(q)) is not None]
    return out


def ask(pipeline: Pipeline, asked: Sequence[Wording]) -> pd.DataFrame:
    """Every wording retrieved and decided as the service does; a row per wording with
    ``refused`` (the no-context judge's verdict and first failing rule) and, for rewrites,
    whether each semantic mode would reuse the original's answer for it."""
    parts = pipeline.parts
    texts = list(dict.fromkeys(w.question for w in asked))
    vectors = dict(zip(texts, parts.embedder.embed(texts), strict=True))
    settings = parts.settings
    judge = pipeline.judges.no_context
    policies = mode_policies(settings)
    found: dict[tuple[str, str], list[Chunk]] = {}
    versions: dict[str, int] = {}
    for w in asked:
        key = (w.user_id, w.question)
        if key not in found:
            found[key] = parts.store.search(
                w.user_id, vectors[w.question], settings.retrieval.top_k, query_text=w.question,
                params=settings.retrieval,
                filters=pipeline.scope.filters_for(w.user_id, w.question))
        if w.user_id not in versions:
            versions[w.user_id] = parts.store.notes_version(w.user_id)
    rows = []
    for w in asked:
        chunks = found[(w.user_id, w.question)]
        decision = judge.decide(w.question, chunks, w.user_id, versions[w.user_id])
        row: dict[str, object] = {
            "set": w.set, "id": w.item_id, "rewrite": w.rewrite, "keeps": w.keeps,
            "question": w.question, "refused": not decision.answer,
            "reason": decision.reason}
        if w.rewrite != ORIGINAL:
            cached = found[(w.user_id, w.original)]
            similarity = float(np.dot(vectors[w.question], vectors[w.original]))
            for mode, policy in policies.items():
                d = rules.decide(w.question, w.original, similarity, policy,
                                 rules.Evidence.of(chunks, policy.evidence_depth),
                                 rules.Evidence.of(cached, policy.evidence_depth))
                row[f"{mode}_reuse"] = d.hit
        rows.append(row)
    return pd.DataFrame(rows)


def _count(k: int, n: int) -> str:
    return f"{k}/{n}" if n else "-"


def table(frame: pd.DataFrame, sets: Sequence[str] | None = None) -> pd.DataFrame:
    """A row per rewrite (the original wording first): per set and in all, questions refused
    of those it applies to, the 95 % Wilson interval of the pooled rate, refusals of questions
    whose original wording was answered, and reuses in ``strict`` and ``loose``."""
    sets = list(sets or dict.fromkeys(frame["set"]))
    first = frame[frame["rewrite"] == ORIGINAL].set_index(["set", "id"])["refused"]
    names = list(dict.fromkeys(frame["rewrite"]))
    rows = []
    for name in names:
        part = frame[frame["rewrite"] == name]
        keeps = bool(part["keeps"].iloc[0])
        row: dict[str, object] = {"rewrite": name,
                                  "meaning": "kept" if keeps else "changed"}
        for s in sets:
            here = part[part["set"] == s]
            row[s] = _count(int(here["refused"].sum()), len(here))
        k, n = int(part["refused"].sum()), len(part)
        low, high = wilson(k, n)
        row["refused"] = _count(k, n)
        row["rate"] = round(k / n, 3) if n else None
        row["95 %"] = f"{low:.2f}-{high:.2f}"
        was = part.set_index(["set", "id"]).index.map(lambda key: bool(first.get(key, False)))
        row["only for the wording"] = int((part["refused"].to_numpy() & ~np.asarray(was)).sum())
        for mode in ("strict", "loose"):
            col = f"{mode}_reuse"
            row[f"{mode} reuses"] = _count(int(part[col].fillna(False).astype(bool).sum()), n) \
                if col in part and name != ORIGINAL else "-"
        rows.append(row)
    return pd.DataFrame(rows)


def refused_examples(frame: pd.DataFrame, limit: int = 40) -> pd.DataFrame:
    """The meaning-keeping rewrites refused where the original wording was answered, with the
    rule that refused them: what a fix has to look at."""
    first = frame[frame["rewrite"] == ORIGINAL].set_index(["set", "id"])["refused"]
    kept = frame[frame["keeps"] & (frame["rewrite"] != ORIGINAL) & frame["refused"]]
    was = [bool(first.get((s, i), False)) for s, i in zip(kept["set"], kept["id"], strict=True)]
    return kept[[not w for w in was]][["set", "id", "rewrite", "reason", "question"]] \
        .head(limit)


def reused_changes(frame: pd.DataFrame) -> pd.DataFrame:
    """The meaning-changing rewrites some mode reused the original's answer for."""
    changed = frame[~frame["keeps"]]
    hits = changed[[bool(a) or bool(b) for a, b in zip(changed.get("strict_reuse", False),
                                                       changed.get("loose_reuse", False),
                                                       strict=True)]]
    return hits[["set", "id", "rewrite", "strict_reuse", "loose_reuse", "question"]]


def markdown(tables: Mapping[str, pd.DataFrame]) -> str:
    from evals.report.tables import md_table

    def text(t: pd.DataFrame) -> str:
        cells = [["-" if v is None or v != v else str(v) for v in r]
                 for r in t.itertuples(index=False)]
        return md_table([str(c) for c in t.columns], cells) if cells else "(none)"

    return "\n\n".join(f"## {title}\n\n{text(t)}" for title, t in tables.items()) + "\n"


def main(argv: list[str] | None = None) -> None:
    from evals.quality import evaluate as quality

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", default="", help="embedded services' folder")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--out", default="", help="also write the tables to this file (.md)")
    parser.add_argument("--similarity-threshold", type=float, default=None,
                        help="the no-context floor (default: the service's)")
    args = parser.parse_args(argv)
    settings = quality.eval_settings(state_dir=args.state_dir or None,
                                     similarity_threshold=args.similarity_threshold)
    pipeline = quality.build_pipeline(settings)
    frame = ask(pipeline, wordings(answerable(pipeline, args.sets)))
    text = markdown({"Refusals and reuses per rewrite": table(frame, args.sets),
                     "Refused only for the wording": refused_examples(frame),
                     "Meaning changed and reused": reused_changes(frame)})
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
