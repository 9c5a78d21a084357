"""The harness's embeddings, memoised in the process and, across runs, on disk.

An evaluation embeds the same texts in every run of a tuning loop: the questions (asked with the
caches off), the reference answers that semantic similarity compares with, and many answers a
knob leaves as they were. The model is deterministic, so a vector computed once serves every
later run: :class:`MemoEmbedder` keeps each text's vector in the process and, when it has a
:class:`VectorMemo`, in ``<state_dir>/reuse/vectors.sqlite`` (SQLite: several processes may read
and write it at once).

A vector is found again only under the same :func:`model_key`: the embedder's own identity (its
runtime, the model's files, threads, OpenVINO's precision), the installed versions of the
packages that compute it and the source of ``rag_core/embedding``. Another model, runtime,
precision or a changed line of the embedding code misses and embeds afresh; nothing is ever
reused across such a change. A memo that cannot be read or written is left out (the process memo
still works) with one warning. A question whose vector is read back is answered without
embedding it: its ``latency_ms`` in the quality rows leaves the embedding out, as the sweep's
points and the variant runs always did.

Measured (``python -m evals run --profile tune --only quality --param settings='{"top_k": 8}'``,
a second run at load ~4.5 on two cores, the file removed before the run or kept, two such pairs):
asking the 365 questions 103 s -> 49 s and 104 s -> 73 s; the whole run 144 s -> 79 s and
139 s -> 110 s (``top_k`` 6 right after the first pair: 101 s).
"""

from __future__ import annotations

import hashlib
import sqlite3
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np
import numpy.typing as npt

from rag_core.config import Settings
from rag_core.embedding import Embedder

Vector = npt.NDArray[np.float32]
FILE = "vectors.sqlite"
# the packages whose versions a vector depends on (those not installed are left out)
RUNTIME_PACKAGES = ("openvino", "onnxruntime", "torch", "sentence-transformers", "tokenizers",
                    "transformers")
_CHUNK = 500  # keys per SELECT (SQLite's default limit of host parameters is 999+)


@lru_cache(maxsize=1)
def _code_and_versions() -> str:
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[2] / "rag_core" / "embedding"
    for path in sorted(root.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for name in RUNTIME_PACKAGES:
        try:
            h.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            continue
    return h.hexdigest()


def model_key(embedder: object) -> str | None:
    """What the vectors of ``embedder`` follow from, hashed; None for an embedder that does
    not say (a test's fake): its vectors are then memoised in the process only."""
    embedder = getattr(embedder, "in_use", embedder)  # a fallback chain: the runtime it uses
    identity = getattr(embedder, "identity", None)
    if not callable(identity):
        return None
    text = f"{type(embedder).__qualname__}\n{identity()}\n{embedder.dim}\n"  # type: ignore[attr-defined]
    return hashlib.sha256((text + _code_and_versions()).encode()).hexdigest()


class VectorMemo:
    """Vectors of one model by text, in a SQLite file."""

    def __init__(self, path: Path, model: str, dim: int) -> None:
        self.path, self.model, self.dim = Path(path), model, dim
        self._broken = False

    def _key(self, text: str) -> bytes:
        return hashlib.sha256(f"{self.model}\0{text}".encode()).digest()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction, closed after it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("CREATE TABLE IF NOT EXISTS vectors "
                       "(key BLOB PRIMARY KEY, vector BLOB NOT NULL) WITHOUT ROWID")
            with db:  # one transaction: committed, or rolled back on an error
                yield db
        finally:
            db.close()

    def _failed(self, exc: Exception) -> None:
        self._broken = True
        warnings.warn(f"the embedding memo {self.path} is left out: {exc}", stacklevel=3)

    def get(self, texts: Iterable[str]) -> dict[str, Vector]:
        """The vectors stored for ``texts`` (those missing, or of another size, left out)."""
        by_key = {self._key(t): t for t in dict.fromkeys(texts)}
        if self._broken or not by_key:
            return {}
        out: dict[str, Vector] = {}
        keys = list(by_key)
        try:
            with self._connect() as db:
                for i in range(0, len(keys), _CHUNK):
                    part = keys[i:i + _CHUNK]
                    rows = db.execute("SELECT key, vector FROM vectors WHERE key IN "
                                      f"({','.join('?' * len(part))})", part).fetchall()
                    for key, blob in rows:
                        if len(blob) == 4 * self.dim:
                            out[by_key[bytes(key)]] = np.frombuffer(blob, dtype=np.float32)
        except (OSError, sqlite3.Error) as exc:
            self._failed(exc)
        return out

    def put(self, vectors: Mapping[str, Vector]) -> None:
        if self._broken or not vectors:
            return
        rows = [(self._key(t), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in vectors.items()]
        try:
            with self._connect() as db:
                db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        except (OSError, sqlite3.Error) as exc:
            self._failed(exc)


def folder_of(settings: Settings) -> Path:
    """Where a state folder keeps what runs reuse (this memo, ``evals/quality/reuse.py``)."""
    return Path(settings.services.state_dir) / "reuse"


def memo_for(settings: Settings, embedder: Embedder) -> VectorMemo | None:
    """The disk memo of ``embedder``'s vectors in the state folder of ``settings`` (None: the
    embedder has no identity to key them by)."""
    model = model_key(embedder)
    return None if model is None else VectorMemo(folder_of(settings) / FILE, model,
                                                 embedder.dim)


class MemoEmbedder:
    """The real embedder with a memo per text: in the process and, given a
    :class:`VectorMemo`, on disk across runs.

    With the caches off, an evaluation embeds each question again at every sweep point and in
    every variant run, and every run of a tuning loop embeds the same questions and reference
    answers; the model is deterministic, so the memo changes no number and saves those repeats.
    """

    def __init__(self, inner: Embedder, disk: VectorMemo | None = None) -> None:
        self.inner = inner
        self.disk = disk
        self.model_id = inner.model_id
        self.dim = inner.dim
        self._memo: dict[str, Vector] = {}

    @property
    def loaded(self) -> bool:
        return bool(self.inner.loaded)

    def load(self) -> None:
        self.inner.load()

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> Vector:
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing and self.disk is not None:
            self._memo.update(self.disk.get(missing))
            missing = [t for t in missing if t not in self._memo]
        if missing:
            fresh = dict(zip(missing, self.inner.embed(missing, progress=progress),
                             strict=True))
            self._memo.update(fresh)
            if self.disk is not None:
                self.disk.put(fresh)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])
