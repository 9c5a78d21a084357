"""A seeded synthetic corpus in the golden notes' style, for the retrieval benchmark.

Chunk texts are recombined from the sentences of the golden notes: a synthetic note takes a
golden note as its template, swaps its speaker, series and Bible books for others of the golden
set (one mapping per note, so a note stays consistent), and cuts its chunks from windows of the
template's sentences, sometimes shuffled, sometimes with a sentence borrowed from another note.
Notes are given to ``users`` synthetic users with a mild skew (a few heavy users, a long tail).

Generation is a single seeded stream, so the first ``n`` chunks of a larger corpus are the
corpus of size ``n``: one embedding of 100k chunks serves 10k too. Texts are cheap to make
again; the vectors are embedded by the service's runtime (``Settings.embedding_backend``, as
the store embeds notes) and cached under ``<state_dir>/bench/<runtime>/corpus_<n>_<seed>.npz``
(without a state folder: the machine user's cache, ``evals.datasets.vector_cache``), reused when
the cached texts match.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import numpy as np

from evals.datasets.arrays import Embed, Ids, Vectors, Weights
from evals.datasets.vector_cache import cached_embed
from rag_core.config import Settings

GENERATOR_VERSION = "1"

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_BOOK = re.compile(r"^((?:[1-3] )?[A-Z][a-z]+(?: of [A-Z][a-z]+)?)\s+\d")


@dataclass(frozen=True)
class Template:
    """What a synthetic note borrows from one golden note."""

    title: str
    speaker: str
    series: str
    books: tuple[str, ...]
    scripture: tuple[str, ...]
    tags: tuple[str, ...]
    sentences: tuple[str, ...]


class NoteFields(TypedDict):  # a synthetic note besides its chunks' text
    title: str
    speaker: str
    series: str
    tags: list[str]
    scripture: list[str]
    user: int


@dataclass
class Corpus:
    """Chunk texts with their synthetic note and user, and (once embedded) their vectors."""

    texts: list[str]
    note_ids: Ids  # one per chunk
    user_ids: Ids  # one per chunk
    notes: list[NoteFields]  # per note id
    seed: int
    vectors: Vectors | None = None
    source: str = ""  # "cache", "cache-prefix" or "embedded"

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def digest(self) -> str:
        return texts_digest(self.texts)


@dataclass
class Queries:
    texts: list[str]
    kinds: list[str]  # "golden" or "synthetic"
    user_ids: Ids  # the asking user of each query (for filtered search)
    vectors: Vectors | None = None
    source: str = ""
    extra: dict[str, object] = field(default_factory=dict)


# --- pure helpers ----------------------------------------------------------------------------


def split_sentences(body: str) -> list[str]:
    """The sentences of a note body (paragraph breaks are sentence breaks too)."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", body):
        text = " ".join(para.split())
        out += [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 20]
    return out


def book_of(reference: str) -> str | None:
    """``"1 Kings 19:4-8"`` -> ``"1 Kings"``; None when it does not look like a reference."""
    match = _BOOK.match(reference.strip())
    return match.group(1) if match else None


def texts_digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256(GENERATOR_VERSION.encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def substitute(text: str, mapping: dict[str, str]) -> str:
    """Replace whole-word occurrences of the mapping's keys, longest key first, in one pass."""
    if not mapping:
        return text
    keys = sorted((k for k in mapping if k), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(k) for k in keys) + r")\b")
    return pattern.sub(lambda m: mapping[m.group(1)], text)


def user_weights(users: int, skew: float = 0.5) -> Weights:
    """Zipf-like weights ``1 / rank**skew``, normalised: a few heavy users, a long tail."""
    w = 1.0 / np.arange(1, users + 1, dtype=float) ** skew
    return w / w.sum()


# --- the golden material ---------------------------------------------------------------------


def load_templates(golden_dir: str | Path | None = None) -> list[Template]:
    from evals.datasets import golden

    notes = golden.load_notes(golden_dir)
    out = []
    for row in notes.to_dict("records"):
        scripture = tuple(str(s) for s in (row.get("scripture") or []))
        books = tuple(dict.fromkeys(b for b in map(book_of, scripture) if b))
        out.append(Template(
            title=str(row.get("title") or ""), speaker=str(row.get("speaker") or ""),
            series=str(row.get("series") or ""), books=books, scripture=scripture,
            tags=tuple(str(t) for t in (row.get("tags") or [])),
            sentences=tuple(split_sentences(str(row["body"]))),
        ))
    return [t for t in out if len(t.sentences) >= 3]


def _surname(speaker: str) -> str:
    parts = speaker.split()
    return parts[-1] if len(parts) >= 2 else ""


def _note_mapping(tpl: Template, rng: np.random.Generator, speakers: Sequence[str],
                  series: Sequence[str], books: Sequence[str]) -> dict[str, str]:
    """One consistent swap of speaker (and surname), series and books for a synthetic note."""
    mapping: dict[str, str] = {}
    # notes of another domain may have no speaker or series at all: draw only from what exists
    new_speaker = speakers[int(rng.integers(len(speakers)))] if speakers else tpl.speaker
    if tpl.speaker and new_speaker != tpl.speaker:
        mapping[tpl.speaker] = new_speaker
        if _surname(tpl.speaker) and _surname(new_speaker):
            mapping[_surname(tpl.speaker)] = _surname(new_speaker)
    new_series = series[int(rng.integers(len(series)))] if series else tpl.series
    if tpl.series and new_series != tpl.series:
        mapping[tpl.series] = new_series
    for book in tpl.books:
        if rng.random() < 0.6:
            mapping[book] = books[int(rng.integers(len(books)))]
    return mapping


def _chunk_text(tpl: Template, rng: np.random.Generator, others: Sequence[Template],
                mapping: dict[str, str]) -> str:
    size = int(rng.integers(3, 7))
    sents = list(tpl.sentences)
    start = int(rng.integers(0, max(1, len(sents) - size + 1)))
    window = sents[start:start + size]
    if rng.random() < 0.35:  # borrow one sentence from another note
        other = others[int(rng.integers(len(others)))]
        window[int(rng.integers(len(window)))] = other.sentences[
            int(rng.integers(len(other.sentences)))]
    if rng.random() < 0.5:
        rng.shuffle(window)
    return substitute(" ".join(window), mapping)


def generate(n: int, users: int = 20, seed: int = 0,
             templates: Sequence[Template] | None = None) -> Corpus:
    """``n`` unique chunk texts in synthetic notes of 4-8 chunks, owned by ``users`` users."""
    if n < 1 or users < 1:
        raise ValueError("need at least one chunk and one user")
    tpls = list(templates) if templates is not None else load_templates()
    speakers = sorted({t.speaker for t in tpls if t.speaker})
    series = sorted({t.series for t in tpls if t.series})
    books = sorted({b for t in tpls for b in t.books})
    rng = np.random.default_rng(seed)
    weights = user_weights(users)
    texts: list[str] = []
    seen: set[str] = set()
    note_ids: list[int] = []
    user_ids: list[int] = []
    notes: list[NoteFields] = []
    while len(texts) < n:
        tpl = tpls[int(rng.integers(len(tpls)))]
        mapping = _note_mapping(tpl, rng, speakers, series, books)
        user = int(rng.choice(users, p=weights))
        note_id = len(notes)
        notes.append(NoteFields(
            title=substitute(tpl.title, mapping), speaker=mapping.get(tpl.speaker, tpl.speaker),
            series=mapping.get(tpl.series, tpl.series), tags=list(tpl.tags),
            scripture=[substitute(s, mapping) for s in tpl.scripture], user=user))
        for _ in range(int(rng.integers(4, 9))):
            for _attempt in range(20):
                text = _chunk_text(tpl, rng, tpls, mapping)
                if text not in seen:
                    break
            else:
                continue
            seen.add(text)
            texts.append(text)
            note_ids.append(note_id)
            user_ids.append(user)
            if len(texts) == n:
                break
    return Corpus(texts=texts, note_ids=np.asarray(note_ids), user_ids=np.asarray(user_ids),
                  notes=notes, seed=seed)


def generate_queries(n: int, users: int, seed: int = 0, corpus_texts: Sequence[str] = (),
                     templates: Sequence[Template] | None = None,
                     golden_questions: Sequence[str] | None = None) -> Queries:
    """Half golden QA questions (non-adversarial), half held-out synthetic sentences.

    The synthetic ones are one or two sentences with another speaker/book, never a chunk text.
    Every query gets an asking user, uniformly, for the filtered search.
    """
    tpls = list(templates) if templates is not None else load_templates()
    if golden_questions is None:
        from evals.datasets import golden

        qa = golden.load_qa()
        golden_questions = qa.loc[qa["scenario"] != "adversarial", "question"].tolist()
    rng = np.random.default_rng([seed, 1])
    pool = list(dict.fromkeys(golden_questions))
    n_golden = min(len(pool), n // 2)
    picked = [pool[i] for i in sorted(rng.choice(len(pool), size=n_golden, replace=False))]
    speakers = sorted({t.speaker for t in tpls if t.speaker})
    series = sorted({t.series for t in tpls if t.series})
    books = sorted({b for t in tpls for b in t.books})
    taken = set(corpus_texts) | set(picked)
    synthetic: list[str] = []
    attempts = 0  # a small dataset may have fewer distinct sentences than asked: stop short
    while len(synthetic) < n - n_golden and attempts < 50 * n:
        attempts += 1
        tpl = tpls[int(rng.integers(len(tpls)))]
        mapping = _note_mapping(tpl, rng, speakers, series, books)
        k = int(rng.integers(1, 3))
        start = int(rng.integers(0, len(tpl.sentences) - k + 1))
        text = substitute(" ".join(tpl.sentences[start:start + k]), mapping)
        if text not in taken:
            taken.add(text)
            synthetic.append(text)
    texts = picked + synthetic
    return Queries(texts=texts, kinds=["golden"] * n_golden + ["synthetic"] * len(synthetic),
                   user_ids=rng.integers(0, users, size=len(texts)))


def build_corpus(n: int, users: int, seed: int, state_dir: str | Path | None = None,
                 embed: Embed | None = None,
                 progress: bool = True, corpus: Corpus | None = None,
                 settings: Settings | None = None) -> Corpus:
    """The corpus with its vectors (``corpus``: the already generated texts of these args;
    ``settings``: whose embedder, the service's default when None)."""
    corpus = corpus if corpus is not None else generate(n, users, seed)
    corpus.vectors, corpus.source = cached_embed(corpus.texts, f"corpus_{n}_{seed}", state_dir,
                                                 embed, progress, settings)
    return corpus


def build_queries(n: int, users: int, seed: int, corpus: Corpus,
                  state_dir: str | Path | None = None,
                  embed: Embed | None = None,
                  progress: bool = True, queries: Queries | None = None,
                  settings: Settings | None = None) -> Queries:
    queries = queries if queries is not None else generate_queries(n, users, seed, corpus.texts)
    queries.vectors, queries.source = cached_embed(queries.texts, f"queries_{n}_{seed}",
                                                   state_dir, embed, progress, settings)
    return queries


def describe(corpus: Corpus, queries: Queries) -> dict[str, object]:
    """Counts that only depend on the generator and the golden notes (an nbval reference)."""
    per_user = np.bincount(corpus.user_ids)
    return {
        "chunks": len(corpus), "notes": int(len(np.unique(corpus.note_ids))),
        "users": int((per_user > 0).sum()), "chunks_per_user_min": int(per_user.min()),
        "chunks_per_user_max": int(per_user.max()),
        "mean_chars": round(float(np.mean([len(t) for t in corpus.texts])), 1),
        "queries": len(queries.texts), "golden_queries": queries.kinds.count("golden"),
        "synthetic_queries": queries.kinds.count("synthetic"), "digest": corpus.digest[:12],
    }
