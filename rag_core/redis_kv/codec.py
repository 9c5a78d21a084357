"""Compact values for the caches: msgpack for structures, raw float32 bytes for vectors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import msgpack

if TYPE_CHECKING:
    import numpy as np


def pack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


def pack_vector(vector: np.ndarray) -> bytes:
    import numpy as np

    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def unpack_vector(raw: bytes, dim: int) -> np.ndarray:
    import numpy as np

    vector = np.frombuffer(raw, dtype="<f4")
    if vector.shape[0] != dim:
        raise ValueError(f"cached vector has {vector.shape[0]} dimensions, expected {dim}")
    return vector.copy()


@overload
def reply_bytes(value: bytes | str) -> bytes: ...


@overload
def reply_bytes(value: bytes | str | None) -> bytes | None: ...


def reply_bytes(value: bytes | str | None) -> bytes | None:
    """A Redis reply as bytes: redis-py answers bytes, or str from a client made with
    ``decode_responses``; None (no such key) stays None."""
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)
