"""How a cached answer is kept: once, compact, within a fixed number of bytes.

An answer's dict (``Answer.to_dict``) names a note's id and title in every retrieved row and
every citation: at ``top_k`` 50 from one note, its title 50 times over, twice. :func:`pack`
writes each (note id, title) pair once in a table; a row names its pair by position and its
chunk id by what follows the note id (chunk ids are ``<note id>:<ordinal>:<hash>``); a citation
of a retrieved chunk names that row. :func:`unpack` gives back the same dict, and reads the
plain form of older entries too.

The answer body is written once, under the stale key (the longest-lived of an answer's keys).
The L1 key holds :data:`IN_STALE` instead (a hit reads the body through it: in the same
script on a single server, ``versioned_read.VersionedRead``), and a semantic entry names the
stale key rather than holding the answer. :data:`MAX_ANSWER_BYTES` bounds what one answer's
writes may hold; :func:`written_bytes` measures a write as Redis will keep it, near enough.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from rag_core.redis_kv import codec
from rag_core.redis_kv.keys import rename_layer
from rag_core.redis_kv.writes import Put

# What an L1 key holds when the answer's body is its stale twin: not a msgpack map (an old
# body), so the two never mix.
IN_STALE = b"@stale"
# The most bytes one answer's cache writes may hold in Redis, all layers together: under the
# 64 KiB of MEMORY USAGE an answer may take, and low enough that at the default bound of
# 10,000 entries per layer a cache full of the largest answers stays under the 80 % alert of
# the compose cap of 512 MiB (48 KiB reached 98 % of the cap: docs/scaling.md). An answer over
# it loses its semantic entry, or when still over, is served but not kept.
MAX_ANSWER_BYTES = 40 * 1024
# The most bytes a free answer ("nothing in your notes": no model was called) may hold in the
# query layer, its one write. It costs nothing to make, so a flood of them must not take the
# room paid answers need: at the default bound of 10,000 entries per layer, a query layer full
# of free answers this large beside a stale layer full of the largest paid ones stays under the
# 80 % alert of the compose cap (docs/scaling.md). A free answer over it (at ``top_k`` 50, many
# notes with long titles) is served but not kept: asked again, it costs a search again.
MAX_FREE_ANSWER_BYTES = 3 * 1024
# Redis's own overhead per key and per index line, as MEMORY USAGE counts it (measured: a
# string key with a short value takes about 60 bytes more than its key and value).
KEY_OVERHEAD = 80
FORMAT = 2
_ROW = ("score", "dense_rank", "lexical_rank", "fused_score")


def pack(answer: dict[str, Any]) -> bytes:
    """The compact form of an answer's dict (``Answer.to_dict``)."""
    notes: list[list[str]] = []
    where: dict[tuple[str, str], int] = {}

    def note(note_id: str, title: str) -> int:
        pair = (note_id, title)
        if pair not in where:
            where[pair] = len(notes)
            notes.append([note_id, title])
        return where[pair]

    rows: list[list[Any]] = []
    row_of: dict[tuple[str, str, str], int] = {}
    for i, row in enumerate(answer.get("retrieved") or []):
        if set(row) != {"chunk_id", "note_id", "title", *_ROW}:
            return codec.pack(answer)  # a shape this form does not know: kept as it is
        n = note(row["note_id"], row["title"])
        rows.append([n, _chunk(row["chunk_id"], row["note_id"]), *(row[k] for k in _ROW)])
        row_of.setdefault((row["chunk_id"], row["note_id"], row["title"]), i)
    cites = []
    for c in answer.get("citations") or []:
        if set(c) != {"n", "chunk_id", "note_id", "title", "score"}:
            return codec.pack(answer)
        at = row_of.get((c["chunk_id"], c["note_id"], c["title"]))
        cites.append([c["n"], c["score"], at] if at is not None else
                     [c["n"], c["score"], -1, note(c["note_id"], c["title"]),
                      _chunk(c["chunk_id"], c["note_id"])])
    rest = {k: v for k, v in answer.items() if k not in ("retrieved", "citations")}
    return codec.pack({"_f": FORMAT, "notes": notes, "rows": rows, "cites": cites, **rest})


def unpack(raw: bytes) -> dict[str, Any]:
    """An answer's dict from :func:`pack` (or from the plain form older entries hold)."""
    data = codec.unpack(raw)
    if not isinstance(data, dict) or data.get("_f") != FORMAT:
        return data  # type: ignore[no-any-return]
    notes = data.pop("notes")
    rows = data.pop("rows")
    cites = data.pop("cites")
    del data["_f"]
    retrieved = []
    for n, chunk, *values in rows:
        note_id, title = notes[n]
        retrieved.append({"chunk_id": _chunk_id(chunk, note_id), "note_id": note_id,
                          "title": title, **dict(zip(_ROW, values, strict=True))})
    citations = []
    for n, score, i, *own in cites:
        if i >= 0:
            row = retrieved[i]
            chunk_id, note_id, title = row["chunk_id"], row["note_id"], row["title"]
        else:
            note_id, title = notes[own[0]]
            chunk_id = _chunk_id(own[1], note_id)
        citations.append({"n": n, "chunk_id": chunk_id, "note_id": note_id, "title": title,
                          "score": score})
    return {**data, "citations": citations, "retrieved": retrieved}


def _chunk(chunk_id: str, note_id: str) -> str | list[str]:
    """A chunk id by what follows its note id, or whole (in a list) when it does not start
    with it."""
    head = f"{note_id}:"
    return chunk_id[len(head):] if chunk_id.startswith(head) else [chunk_id]


def _chunk_id(chunk: str | list[str], note_id: str) -> str:
    return chunk[0] if isinstance(chunk, list) else f"{note_id}:{chunk}"


def written_bytes(puts: Iterable[Put]) -> int:
    """What ``puts`` hold in Redis: keys, values, index lines (a layer index and a user's),
    and Redis's overhead per key; a semantic entry's index line beside it."""
    total = 0
    for put in puts:
        total += len(put.key) + len(put.value) + len(put.field) + len(put.line)
        total += 2 * (len(put.member) + KEY_OVERHEAD) + KEY_OVERHEAD
    return total


def stale_twin(key: str) -> str:
    """The stale twin of an L1 key (or of the head of one): where its body lives."""
    return rename_layer(key, "query", "stale")


W = TypeVar("W", bound=tuple[Any, str, bytes, int])


def fitting(writes: Sequence[W], semantic: Put | None, limit: int = MAX_ANSWER_BYTES
            ) -> tuple[list[W], Put | None] | None:
    """An answer's ``writes`` (layer, key, value, TTL) and ``semantic`` entry within ``limit``
    bytes (:data:`MAX_ANSWER_BYTES`, :data:`MAX_FREE_ANSWER_BYTES` for a free answer): without
    the semantic entry when only that way fits, None when the writes alone are over it (the
    answer is then not kept)."""
    alone = written_bytes(Put(k, v, ttl, "", 0) for _, k, v, ttl in writes)
    if alone > limit:
        return None
    if semantic is not None and alone + written_bytes([semantic]) > limit:
        return list(writes), None
    return list(writes), semantic
