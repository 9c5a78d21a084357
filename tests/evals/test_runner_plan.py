"""The plan of a run decides, before any notebook starts, what a run on one's own data measures:
the dataset's notes, not the retrieval benchmark's synthetic corpus or the public collections,
unless the command asks for them."""

import pytest

from evals import profiles
from evals.runs.plan import RunOptions, make_plan


@pytest.fixture
def own_data(tmp_path, monkeypatch):
    from evals.datasets.example import write_example

    for name in ("DATABASE_URL", "RAG_DATABASE_URL", "REDIS_URL", "RAG_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    return write_example(tmp_path / "bike-coop")


def _plan(tmp_path, **kw):
    return make_plan(RunOptions(reports_dir=tmp_path / "reports", baseline=None, **kw))


def _params(plan, name, profile="ci"):
    spec = next(s for s in plan.specs if s.name == name)
    return profiles.parameters(spec, profile, "out", plan.per_overrides[name])


@pytest.mark.parametrize("profile", ["ci", "tune"])
def test_a_dataset_run_leaves_out_the_synthetic_corpus_and_the_public_sets(own_data, tmp_path,
                                                                           profile):
    plan = _plan(tmp_path, profile=profile, dataset=str(own_data))
    names = [s.name for s in plan.specs]
    assert "retrieval" not in names and "quality" in names
    assert plan.left_out == ["retrieval"]
    assert all(p.get("dataset") == str(own_data) for p in plan.per_overrides.values())
    # a parameter of the notebook left out is not silently dropped: the command is refused
    with pytest.raises(ValueError, match="public_sets"):
        _plan(tmp_path, profile=profile, dataset=str(own_data),
              overrides={"public_sets": ["medline"]})


def test_a_dataset_run_that_names_the_retrieval_notebook_measures_them(own_data, tmp_path):
    plan = _plan(tmp_path, profile="ci", dataset=str(own_data), only=["quality", "retrieval"])
    assert [s.name for s in plan.specs] == ["quality", "retrieval"] and not plan.left_out
    params = _params(plan, "retrieval")
    assert params["corpus_size"] > 0 and params["public_sets"]
    assert params["dataset"] == str(own_data)


def test_the_golden_runs_keep_the_retrieval_benchmark(own_data, tmp_path):
    plan = _plan(tmp_path, profile="ci")
    assert "retrieval" in [s.name for s in plan.specs] and not plan.left_out
    params = _params(plan, "retrieval")
    assert params["corpus_size"] > 0 and params["public_sets"]
