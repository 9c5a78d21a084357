"""``benchmarks/bench_tracing.orders``: the rounds' orders of the modes balance the places in a
round and what comes right before each mode (a Williams design), for any number of modes; the
rounds take them in a new shuffle each block."""

from __future__ import annotations

import random
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_tracing import orders, sequence  # noqa: E402 (benchmarks/, put on the path)


@pytest.mark.parametrize("n", range(2, 8))
def test_each_mode_is_as_often_in_each_place_and_after_each_other_mode(n: int) -> None:
    modes = [f"m{i}" for i in range(n)]
    rows = orders(modes)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(row) == modes for row in rows)
    places = Counter((place, mode) for row in rows for place, mode in enumerate(row))
    assert len(places) == n * n and len(set(places.values())) == 1
    after = Counter(pair for row in rows for pair in zip(row, row[1:], strict=False))
    assert len(after) == n * (n - 1) and len(set(after.values())) == 1


def test_off_comes_first_in_the_first_round() -> None:
    assert orders(["off", "again", "on"])[0] == ["off", "again", "on"]


def test_each_block_of_the_sequence_holds_every_order_once_and_no_cycle_repeats() -> None:
    modes = ["off", "again", "on"]
    block = len(orders(modes))
    found = sequence(modes, 20 * block + 2, random.Random(0))
    assert len(found) == 20 * block + 2
    blocks = [found[n:n + block] for n in range(0, 20 * block, block)]
    assert all(sorted(map(tuple, b)) == sorted(map(tuple, orders(modes))) for b in blocks)
    assert len({tuple(map(tuple, b)) for b in blocks}) > 1  # shuffled anew: not one cycle
    assert sequence(modes, 12, random.Random(0)) == found[:12]  # the seed decides it
