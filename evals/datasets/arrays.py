"""The harness's numpy arrays, typed by what they hold (a bare ``np.ndarray`` is an array of
anything to the type checker)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # unit embeddings, one row per text
Ids = npt.NDArray[np.int64]  # row ids, note ids or user ids
Mask = npt.NDArray[np.bool_]  # a boolean filter over rows
Seconds = npt.NDArray[np.float64]  # timings
Weights = npt.NDArray[np.float64]  # shares that sum to one
Bytes = npt.NDArray[np.uint8]
Embed = Callable[[list[str]], Vectors]  # texts -> their vectors
