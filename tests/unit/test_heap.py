"""A settled worker's heap (``rag_core.heap``): what was there at settling is out of the cyclic
collector's walks until thawed, what came after is collected as before, and a refreeze lets the
collector reclaim a frozen part that was replaced."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from rag_core import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


@pytest.fixture
def settled() -> Iterator[None]:
    gc.unfreeze()
    try:
        yield
    finally:
        heap.thaw()


def test_a_cycle_from_before_settling_waits_until_thawed(settled: None) -> None:
    old = Node()
    gone = weakref.ref(old)
    heap.settle()
    del old
    gc.collect()
    assert gone() is not None  # frozen: not walked
    heap.thaw()
    gc.collect()
    assert gone() is None


def test_a_cycle_made_after_settling_is_collected(settled: None) -> None:
    heap.settle()
    new = Node()
    gone = weakref.ref(new)
    del new
    gc.collect()
    assert gone() is None
    assert gc.get_freeze_count() > 0


def test_refreeze_reclaims_a_replaced_part_and_stays_settled(settled: None) -> None:
    part = Node()
    gone = weakref.ref(part)
    heap.settle()
    del part  # replaced, as spaCy's pipeline is once its vocabulary has grown
    heap.refreeze()
    assert gone() is None
    assert gc.get_freeze_count() > 0


def test_refreeze_leaves_a_process_that_never_settled_alone(settled: None) -> None:
    heap.refreeze()
    assert gc.get_freeze_count() == 0
