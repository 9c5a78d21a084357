"""Vectors of the benchmark's texts, embedded once and cached on disk.

``<state_dir>/bench/<runtime>/<family>_<n>_<seed>.npz`` (no state folder given: the machine
user's cache, ``_cache_dir``) holds texts and their vectors; a file
serves any list of texts that starts as its texts do, so a longer run of one seeded generator
serves a shorter one. One folder per embedding runtime (``runtime_key``): vectors of another
runtime are never mixed with this one's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evals.datasets.arrays import Bytes, Embed, Vectors
from rag_core.config import Settings

FORMAT_VERSION = "1"  # of the .npz files (texts, vectors, version)


def runtime_key(settings: Settings) -> str:
    """The folder of the vectors that ``settings``' embedder makes (one per runtime)."""
    embedding = settings.embedding
    precision = (f"-{embedding.openvino_precision}"
                 if embedding.embedding_backend == "openvino" else "")
    model = settings.embedding.embedding_model.rsplit("/", 1)[-1]
    return f"{model}-{settings.embedding.embedding_backend}{precision}"


def embed_texts(texts: Sequence[str], embed: Embed | None = None,
                batch: int = 512, progress: bool = True, label: str = "embedding",
                settings: Settings | None = None) -> Vectors:
    """Unit vectors of ``texts`` in batches (tqdm on stderr); by default the embedder of
    ``settings`` (the service's runtime)."""
    if embed is None:
        from rag_core.embedding import build_embedder

        embed = build_embedder(settings or Settings()).embed
    parts = []
    starts = range(0, len(texts), batch)
    if progress:
        from tqdm.std import tqdm

        starts = tqdm(starts, desc=label, file=sys.stderr, mininterval=5.0, ncols=90,
                      unit="batch")
    for start in starts:
        parts.append(np.asarray(embed(list(texts[start:start + batch])), dtype=np.float32))
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def _cache_dir(state_dir: str | Path | None, key: str = "") -> Path:
    """``<state_dir>/bench/<key>``; without a ``state_dir``, the machine user's
    ``rag_core/bench/<key>`` beside the exported models (``user_model_cache``), as the public
    sets' vectors are (``evals.retrieval.beir_run.cache_dir_for``): every checkout and state
    folder of the machine, a fresh clone's CI run included, embeds the benchmark's corpus once
    (4,000 chunks: 35 s of a ci run on two cores). A file serves only the texts it holds
    (compared whole) of the runtime it is named by; the harness's state folder where the
    user's cache cannot be written."""
    from evals.knobs import harness_state_dir
    from rag_core.config.settings import user_model_cache

    models = user_model_cache() if state_dir is None else None
    base = models.parent if models is not None else Path(state_dir or harness_state_dir())
    path = base / "bench" / key
    path.mkdir(parents=True, exist_ok=True)
    return path


def _pack(texts: Sequence[str]) -> Bytes:
    return np.frombuffer("\x1e".join(texts).encode("utf-8"), dtype=np.uint8)


def _unpack(blob: Bytes) -> list[str]:
    text = blob.tobytes().decode("utf-8")
    return text.split("\x1e") if text else []


def save_vectors(path: Path, texts: Sequence[str], vectors: Vectors) -> None:
    # a name of this process's own: runs of several checkouts may share the folder
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, texts=_pack(texts), vectors=vectors.astype(np.float32),
             version=np.array(FORMAT_VERSION))
    tmp.replace(path)


def _read(path: Path) -> tuple[list[str], Vectors] | None:
    try:
        with np.load(path) as data:
            if str(data["version"]) != FORMAT_VERSION:
                return None
            return _unpack(data["texts"]), np.asarray(data["vectors"], dtype=np.float32)
    except (OSError, ValueError, KeyError):
        return None


def common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    """How many leading texts two lists share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def cached_embed(texts: Sequence[str], name: str, state_dir: str | Path | None = None,
                 embed: Embed | None = None,
                 progress: bool = True, settings: Settings | None = None,
                 key: str | None = None) -> tuple[Vectors, str]:
    """Vectors of ``texts`` from ``<state>/bench/<key>/<family>_*_<seed>.npz``, else embedded.

    ``name`` is ``<family>_<n>_<seed>``. Any cached file of the family and seed that shares
    leading texts serves them: a 100k corpus serves the 10k one of the same seed, and a 4k one
    leaves only the other 96k to embed. ``key`` names the embedder: by default the runtime of
    ``settings`` (:func:`runtime_key`), or ``custom`` for an ``embed`` of the caller's; vectors
    of another embedder are never reused. Returns the vectors and where they came from.
    """
    if key is None:
        key = "custom" if embed is not None else runtime_key(settings or Settings())
    folder = _cache_dir(state_dir, key)
    path = folder / f"{name}.npz"
    family, _, seed = name.rpartition("_")
    prefix = family.rsplit("_", 1)[0]
    best: tuple[int, Vectors] = (0, np.zeros((0, 0), dtype=np.float32))
    for other in [path, *sorted(folder.glob(f"{prefix}_*_{seed}.npz"))]:
        got = _read(other) if other.exists() else None
        if got is not None and (shared := common_prefix(got[0], texts)) > best[0]:
            best = (shared, got[1][:shared])
            if shared == len(texts):
                return best[1], "cache" if other == path else "cache-prefix"
    done, head = best
    rest = embed_texts(texts[done:], embed, progress=progress, label=name, settings=settings)
    vectors = np.concatenate([head, rest]) if done else rest
    save_vectors(path, texts, vectors)
    return vectors, f"embedded {len(texts) - done}" + (f" (cached {done})" if done else "")
