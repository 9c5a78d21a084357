"""Public retrieval benchmarks in the BEIR layout, loaded from a local folder.

A set lives in ``data/beir/<name>/`` or in the team's shared folder ``../shared/beir/<name>/``
beside the checkout (``find_data_dir``; kept out of git)::

    corpus.jsonl     {"_id": ..., "title": ..., "text": ...}
    queries.jsonl    {"_id": ..., "text": ...}
    qrels/<split>.tsv  query-id <TAB> corpus-id <TAB> score   (a header line first)

``load_beir`` reads one split (only the queries that split judges); ``subset`` cuts a set to a
size that embeds in minutes on a busy two-core machine (every judged document of the kept
queries stays, random documents fill up to the cap); ``to_notes`` turns the documents into notes
of the project.  ``convert_nfcorpus_release`` builds the BEIR layout of NFCorpus from the
original release's files (see the README).  Scoring follows BEIR: graded nDCG@10 (trec_eval's
linear gain), recall@100 and MRR@10, per query, averaged over the queries.

BEIR SciFact is held out from the team (it checks the work from outside), so it is refused.
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from evals.metrics import retrieval
from evals.paths import REPO_ROOT
from rag_core.types import Note

DATA_DIR = REPO_ROOT / "data" / "beir"
HELD_OUT = frozenset({"scifact"})

# The plain BM25 reference of ../shared/beir/README.md (nDCG@10 on the test qrels: lowercase,
# split on non-alphanumerics, no stemming, 33 stop words, k1 0.9, b 0.4): a floor to be at or
# above, shown beside the BM25 row (the gates hold the same figures in evals/gates.toml).
BM25_REFERENCE_NDCG10 = {"cranfield": 0.331, "cisi": 0.311, "medline": 0.663, "npl": 0.381}

# nDCG@10 of sentence-transformers/all-MiniLM-L6-v2 on the MTEB leaderboard (BEIR test splits,
# whole corpora, title + text embedded, 256-token truncation).
PUBLISHED_DENSE_NDCG10 = {
    "nfcorpus": 0.3159,
    "fiqa": 0.3687,
    "arguana": 0.5017,
    "scidocs": 0.2164,
    "trec-covid": 0.4725,
}


@dataclass
class BeirSet:
    name: str
    split: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    notes: dict[str, str] = field(default_factory=dict)  # how the set was made or cut

    @property
    def published_dense(self) -> float | None:
        return PUBLISHED_DENSE_NDCG10.get(self.name)

    def describe(self) -> dict[str, object]:
        judged = sum(len(v) for v in self.qrels.values())
        return {"set": self.name, "split": self.split, "documents": len(self.corpus),
                "queries": len(self.queries), "judgements": judged, **self.notes}


def data_dirs() -> list[Path]:
    """Where sets are looked for, in order: ``data/beir`` of the checkout, then ``shared/beir``
    beside it or beside the folder that holds it (a git worktree one level down)."""
    return [DATA_DIR, *(up / "shared" / "beir" for up in REPO_ROOT.parents[:2])]


def find_data_dir(names: Sequence[str] = ()) -> Path:
    """The first of ``data_dirs()`` holding any of ``names`` (any set when empty); ``DATA_DIR``
    when none does (the sets then skip with the reason)."""
    for root in data_dirs():
        if root.is_dir() and any((root / n).is_dir() for n in names or
                                 [p.name for p in root.iterdir()]):
            return root
    return DATA_DIR


def check_name(name: str) -> None:
    if name.lower() in HELD_OUT:
        raise ValueError(f"{name} is held out from the team's work; it is not loaded here")


def data_status(folder: str | Path, split: str = "test") -> tuple[bool, str]:
    """Whether ``folder`` holds a usable set, and why not (printed by the notebook)."""
    folder = Path(folder)
    if folder.name.lower() in HELD_OUT:
        return False, f"{folder.name} is held out; not used"
    missing = [p for p in ("corpus.jsonl", "queries.jsonl", f"qrels/{split}.tsv")
               if not (folder / p).is_file()]
    if missing:
        return False, f"{folder}: missing {', '.join(missing)} (see README: public benchmarks)"
    return True, f"{folder}: present"


def read_jsonl(path: Path) -> Iterable[dict[str, object]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip():
                item = json.loads(line)
                if not isinstance(item, dict) or "_id" not in item:
                    raise ValueError(f"{path}:{n}: each line needs an object with '_id'")
                yield item


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as fh:
        rows = csv.reader(fh, delimiter="\t")
        for n, row in enumerate(rows, start=1):
            if n == 1 and row and not row[-1].lstrip("-").isdigit():
                continue  # header
            if len(row) != 3:
                raise ValueError(f"{path}:{n}: expected query-id, corpus-id, score")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    return qrels


def load_beir(folder: str | Path, split: str = "test", name: str | None = None) -> BeirSet:
    folder = Path(folder)
    name = name or folder.name
    check_name(name)
    ok, why = data_status(folder, split)
    if not ok:
        raise FileNotFoundError(why)
    qrels = read_qrels(folder / "qrels" / f"{split}.tsv")
    queries = {str(q["_id"]): str(q.get("text", "")) for q in read_jsonl(folder / "queries.jsonl")
               if str(q["_id"]) in qrels}
    corpus = {str(d["_id"]): {"title": str(d.get("title") or ""), "text": str(d.get("text", ""))}
              for d in read_jsonl(folder / "corpus.jsonl")}
    qrels = {q: {d: s for d, s in docs.items() if d in corpus}
             for q, docs in qrels.items() if q in queries}
    return BeirSet(name, split, corpus, queries, qrels)


def subset(ds: BeirSet, max_queries: int = 0, max_docs: int = 0, seed: int = 0) -> BeirSet:
    """At most ``max_queries`` judged queries (0: all) and ``max_docs`` documents (0: all):
    the judged documents of the kept queries first, then random others."""
    rng = random.Random(seed)
    qids = sorted(q for q, docs in ds.qrels.items() if any(s > 0 for s in docs.values()))
    if max_queries and len(qids) > max_queries:
        qids = sorted(rng.sample(qids, max_queries))
    judged = sorted({d for q in qids for d in ds.qrels[q]})
    keep = set(judged)
    if max_docs and len(keep) > max_docs:
        raise ValueError(f"the kept queries judge {len(keep)} documents, more than {max_docs}")
    others = sorted(set(ds.corpus) - keep)
    room = len(others) if not max_docs else max(0, max_docs - len(keep))
    keep.update(rng.sample(others, min(room, len(others))))
    notes = dict(ds.notes)
    if len(qids) < len(ds.queries) or len(keep) < len(ds.corpus):
        notes["cut"] = (f"{len(qids)} of {len(ds.queries)} queries, {len(keep)} of "
                        f"{len(ds.corpus)} documents (seed {seed})")
    return BeirSet(ds.name, ds.split, {d: ds.corpus[d] for d in sorted(keep)},
                   {q: ds.queries[q] for q in qids}, {q: ds.qrels[q] for q in qids}, notes)


def to_notes(ds: BeirSet) -> list[Note]:
    """Each document as one note: its title (may be empty) and its text."""
    return [Note(id=doc_id, title=doc["title"], body=doc["text"] or doc["title"] or doc_id)
            for doc_id, doc in ds.corpus.items()]


# --- scoring --------------------------------------------------------------------------------


def score_query(ranked: Sequence[str], judged: Mapping[str, int], query_id: str = "",
                ignore_identical: bool = True) -> dict[str, float | None]:
    """nDCG@10, recall@100 and MRR@10 of one ranked list of document ids.

    With ``ignore_identical`` a document whose id is the query's is dropped from the list, as
    BEIR does (ArguAna's queries are documents of the corpus).
    """
    ranked = [d for d in retrieval.notes_in_rank_order(ranked)
              if not (ignore_identical and d == query_id)]
    relevant = [d for d, s in judged.items() if s > 0]
    return {
        "ndcg_at_10": retrieval.graded_ndcg_at_k(ranked, judged, 10),
        "recall_at_100": retrieval.recall_at_k(ranked, relevant, 100),
        "mrr_at_10": retrieval.reciprocal_rank(ranked[:10], relevant),
    }


# --- NFCorpus from its original release -----------------------------------------------------


def convert_nfcorpus_release(release: str | Path, queries_jsonl: str | Path,
                             out: str | Path) -> dict[str, int]:
    """BEIR layout of NFCorpus from the original release's ``{dev,test}.docs`` and
    ``{dev,test}.2-1-0.qrel`` (the judgements BEIR uses, levels 2 and 1) and BEIR's
    ``queries.jsonl``.  The release's documents are its preprocessed text (lower-cased, stop
    words and punctuation removed, title and abstract in one field); they are written as the
    text with an empty title, and the set records that it differs from BEIR's raw text."""
    release, out = Path(release), Path(out)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    docs: dict[str, str] = {}
    for split in ("dev", "test"):
        for line in (release / f"{split}.docs").read_text(encoding="utf-8").splitlines():
            doc_id, _, text = line.partition("\t")
            if doc_id and text:
                docs[doc_id] = text.strip()
    with (out / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for doc_id in sorted(docs):
            fh.write(json.dumps({"_id": doc_id, "title": "", "text": docs[doc_id]}) + "\n")
    counts = {"documents": len(docs)}
    wanted: set[str] = set()
    for split in ("dev", "test"):
        rows = [r.split() for r in
                (release / f"{split}.2-1-0.qrel").read_text(encoding="utf-8").splitlines()]
        rows = [r for r in rows if len(r) == 4 and int(r[3]) > 0 and r[2] in docs]
        with (out / "qrels" / f"{split}.tsv").open("w", encoding="utf-8") as fh:
            fh.write("query-id\tcorpus-id\tscore\n")
            for qid, _, doc_id, grade in rows:
                fh.write(f"{qid}\t{doc_id}\t{grade}\n")
        wanted.update(r[0] for r in rows)
        counts[f"{split}_judgements"] = len(rows)
    queries = [q for q in read_jsonl(Path(queries_jsonl)) if str(q["_id"]) in wanted]
    with (out / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q in queries:
            fh.write(json.dumps({"_id": q["_id"], "text": q.get("text", "")}) + "\n")
    counts["queries"] = len(queries)
    (out / "SOURCE.txt").write_text(
        "NFCorpus rebuilt from the original release (preprocessed document text, dev and test "
        "documents) with BEIR's queries; see evals/datasets/beir.py convert_nfcorpus_release.\n",
        encoding="utf-8")
    return counts
