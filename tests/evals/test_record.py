import json
import math

import numpy as np
import pytest

from evals.report import record


def test_record_writes_flat_prefixed_metrics(tmp_path):
    plot = tmp_path / "plot.png"
    path = record.record("quality", {"recall_at_5": np.float64(0.9), "n": np.int64(3),
                                     "factual": {"mrr": 0.5}, "rouge_l": math.nan},
                         tmp_path, artifacts=[plot], params={"top_k": 5},
                         notes={"llm_judge": "skipped"})
    assert path == tmp_path / "quality.results.json"
    data = json.loads(path.read_text())
    assert data["metrics"] == {"quality.recall_at_5": 0.9, "quality.n": 3,
                               "quality.factual.mrr": 0.5, "quality.rouge_l": None}
    assert data["artifacts"] == ["plot.png"]
    assert data["notes"] == {"llm_judge": "skipped"}
    assert record.load_results(tmp_path)[0]["metrics"]["quality.n"] == 3


def test_non_numbers_are_refused(tmp_path):
    with pytest.raises(TypeError):
        record.record("x", {"a": "high"}, tmp_path)


def test_clear_results(tmp_path):
    record.record("x", {"a": 1}, tmp_path)
    record.clear_results(tmp_path)
    assert record.load_results(tmp_path) == []
