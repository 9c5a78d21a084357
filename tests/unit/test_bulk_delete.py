"""The bound of a bulk delete (``rag_core.ingest.bulk_delete``): the larger of 10 and a fifth of
the user's notes by default, the caller's own bound otherwise, every doomed note named in the
refusal, and ``yes`` past any bound."""

from __future__ import annotations

import pytest

from rag_core.errors import ConfirmationRequired, InvalidArgument
from rag_core.ingest.bulk_delete import confirm_deletes, default_max_delete


@pytest.mark.parametrize("total, bound", [(0, 10), (49, 10), (60, 12), (1_000, 200)])
def test_the_default_bound_is_the_larger_of_10_and_a_fifth(total: int, bound: int) -> None:
    assert default_max_delete(total) == bound
    ids = [f"n{i}" for i in range(bound + 1)]
    confirm_deletes("sync", "u", ids[:bound], total)  # at the bound: no question
    with pytest.raises(ConfirmationRequired) as refused:
        confirm_deletes("sync", "u", ids, total)
    assert refused.value.code == "CONFIRMATION_REQUIRED"
    assert all(i in refused.value.message for i in ids)
    confirm_deletes("sync", "u", ids, total, yes=True)


def test_the_callers_bound_replaces_the_default() -> None:
    confirm_deletes("prune", "u", ["a"] * 30, 40, max_delete=30)
    with pytest.raises(ConfirmationRequired, match="more than the 0 it deletes"):
        confirm_deletes("prune", "u", ["a"], 40, max_delete=0)
    with pytest.raises(InvalidArgument):
        confirm_deletes("prune", "u", [], 40, max_delete=-1)
