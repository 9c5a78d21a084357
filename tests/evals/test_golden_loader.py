import pandas as pd

from evals.datasets import golden


def test_notes_load_with_owners():
    notes = golden.load_notes()
    assert len(notes) >= 60
    assert len(golden.users(notes)) >= 3
    assert {"id", "title", "date", "speaker", "series", "tags", "scripture", "body",
            "user_id"} <= set(notes.columns)
    owners = golden.owner_map(notes)
    assert len(owners) == len(notes)
    assert all(owners[i] == u for i, u in zip(notes["id"], notes["user_id"], strict=True))


def test_qa_loads_with_pandas_and_every_scenario_is_present():
    qa = golden.load_qa()
    assert len(qa) >= 150
    assert set(golden.SCENARIOS) <= set(qa["scenario"])
    assert set(golden.ATTACKS) <= set(qa["attack"].dropna())
    assert qa["id"].is_unique
    assert qa["attack"].isna().sum() == (qa["scenario"] != "adversarial").sum()


def test_qa_loads_with_datasets_and_agrees_with_pandas():
    qa = golden.load_qa()
    ds = golden.load_qa_dataset()
    assert ds.num_rows == len(qa)
    assert set(golden.QA_COLUMNS) <= set(ds.column_names)
    assert list(ds["id"]) == list(qa["id"])
    assert list(ds["reference_note_ids"])[:5] == [list(x) for x in qa["reference_note_ids"][:5]]


def test_scenario_counts_sum_to_all_items():
    qa = golden.load_qa()
    counts = golden.scenario_counts(qa)
    assert counts["items"].sum() == len(qa)
    assert list(counts["scenario"])[0] == "factual"


def _toy(n_per: dict[str, int]) -> pd.DataFrame:
    rows = [{"id": f"{s}-{i}", "scenario": s} for s, n in n_per.items() for i in range(n)]
    return pd.DataFrame(rows)


def test_sample_is_stratified_exact_and_deterministic():
    toy = _toy({"factual": 50, "synthesis": 10, "no_context": 3})
    picked = golden.sample_qa(toy, 12, seed=1)
    assert len(picked) == 12
    assert set(picked["scenario"]) == {"factual", "synthesis", "no_context"}
    assert picked["id"].tolist() == golden.sample_qa(toy, 12, seed=1)["id"].tolist()
    assert picked["id"].tolist() != golden.sample_qa(toy, 12, seed=2)["id"].tolist()


def test_sample_zero_or_too_big_means_all():
    toy = _toy({"factual": 3, "metadata": 2})
    assert len(golden.sample_qa(toy, 0)) == 5
    assert len(golden.sample_qa(toy, 99)) == 5


def test_tiny_sample_keeps_every_scenario():
    toy = _toy({"factual": 50, "synthesis": 10, "no_context": 3})
    assert set(golden.sample_qa(toy, 1)["scenario"]) == {"factual", "synthesis", "no_context"}
