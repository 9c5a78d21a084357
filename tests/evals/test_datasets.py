"""One dataset shape for the harness: the loader reads the golden set, the external set's names
and ragas' names into the golden columns, and says plainly what is wrong with a folder."""

import json
from pathlib import Path

import pytest

from evals.datasets import DatasetError, golden, load_dataset
from evals.datasets.example import EXAMPLE_DIR, write_example
from evals.datasets.gating import overlay
from evals.gates import Gate
from evals.paths import GOLDEN_DIR, shared_dir

EXTERNAL = shared_dir() / "eval-external"

NOTE = """---
id: {id}
title: "{title}"
date: 2025-01-0{n}
---

{body}
"""


def _dataset(root: Path, notes: dict[str, dict[str, str]], qa: list[dict],
             pairs: list[dict] | None = None) -> Path:
    for user, by_id in notes.items():
        folder = root / "notes" / user
        folder.mkdir(parents=True)
        for n, (note_id, body) in enumerate(by_id.items(), 1):
            (folder / f"{note_id}.md").write_text(
                NOTE.format(id=note_id, title=note_id.title(), n=n, body=body))
    (root / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa))
    if pairs is not None:
        (root / "semantic_pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return root


def test_the_golden_set_is_the_default_dataset_with_its_own_items():
    ds = load_dataset(GOLDEN_DIR)
    assert ds.name == "golden" and ds.is_golden
    expected = golden.load_qa()
    assert list(ds.qa["id"]) == list(expected["id"])
    assert list(ds.qa["split"]) == list(expected["split"])
    assert len(ds.pairs) == len(golden.load_semantic_pairs())


@pytest.mark.skipif(not EXTERNAL.is_dir(), reason="the external set is not on this machine")
def test_the_external_sets_names_load_as_the_golden_columns():
    ds = load_dataset(EXTERNAL)
    assert ds.name == "eval-external"
    assert ds.users == ["iris", "tomas"]
    raw = [json.loads(line) for line in (EXTERNAL / "qa.jsonl").read_text().splitlines()]
    assert len(ds.qa) == len(raw)
    first = ds.qa.iloc[0]
    assert first["reference_note_ids"] == raw[0]["relevant_notes"]
    assert first["reference_answer"] == raw[0]["answer"]
    # no split field: every item is evaluated, with the part the gates read
    assert set(ds.qa["split"]) == {"test"}
    # a kind only groups rows; the no-context items keep the no_context scenario
    refused = ds.qa[ds.qa["expect_no_context"]]
    assert set(refused["scenario"]) == {"no_context"}
    assert refused["group"].nunique() > 1
    assert {p["label"] for p in ds.pairs} == {"paraphrase", "near_miss"}


def test_ragas_names_map_reference_contexts_to_the_notes_that_hold_them(tmp_path):
    root = _dataset(tmp_path / "shop", {"kim": {
        "kim-1": "The lathe is oiled every Monday morning.\n\nIts belt was replaced in May.",
        "kim-2": "The kiln reaches 1240 degrees for stoneware."}},
        [{"user_input": "When is the lathe oiled?", "reference": "Every Monday.",
          "reference_contexts": ["the lathe is  oiled every Monday morning."]},
         {"user_input": "Who won the cup final?"}])
    ds = load_dataset(root)
    assert ds.name == "shop"
    answerable, refused = ds.qa.iloc[0], ds.qa.iloc[1]
    assert answerable["user_id"] == "kim"  # one user: user_id may be left out
    assert answerable["question"] == "When is the lathe oiled?"
    assert answerable["reference_answer"] == "Every Monday."
    assert answerable["reference_note_ids"] == ["kim-1"]  # case and spaces aside
    assert not answerable["expect_no_context"]
    assert refused["expect_no_context"] and refused["scenario"] == "no_context"
    hf = ds.to_hf()  # and loadable with `datasets`
    assert hf.num_rows == 2 and hf[0]["reference_note_ids"] == ["kim-1"]


def test_qa_and_pairs_may_be_folders_of_jsonl_files(tmp_path):
    root = _dataset(tmp_path / "d", {"a": {"a-1": "One two three four five six seven."},
                                     "b": {"b-1": "Eight nine ten eleven twelve."}}, [])
    (root / "qa.jsonl").unlink()
    (root / "qa").mkdir()
    (root / "qa" / "one.jsonl").write_text(json.dumps(
        {"user_id": "a", "question": "q?", "reference_note_ids": ["a-1"]}) + "\n")
    (root / "qa" / "two.jsonl").write_text(json.dumps(
        {"user_id": "b", "question": "r?", "relevant_notes": ["b-1"], "split": "dev"}) + "\n")
    (root / "semantic_pairs").mkdir()
    (root / "semantic_pairs" / "p.jsonl").write_text(json.dumps(
        {"user_id": "a", "a": "x?", "b": "y?", "label": "near_miss"}) + "\n")
    ds = load_dataset(root)
    assert list(ds.qa["id"]) == ["one-1", "two-1"]  # ids made from file and line when absent
    assert list(ds.qa["split"]) == ["test", "dev"]
    assert ds.pairs[0]["label"] == "near_miss" and ds.pairs[0]["split"] == "test"


@pytest.mark.parametrize("breakage,code", [
    ("no_notes", "DATASET_NO_NOTES"), ("no_qa", "DATASET_NO_QA"),
    ("stranger", "DATASET_BAD_ITEM"), ("bad_label", "DATASET_BAD_PAIR"),
    ("two_users_no_user_id", "DATASET_BAD_ITEM"), ("bad_json", "DATASET_BAD_JSON"),
])
def test_a_broken_dataset_is_refused_with_a_code(tmp_path, breakage, code):
    notes = {"a": {"a-1": "Some body text of a note."}, "b": {"b-1": "Another note body."}}
    qa = [{"user_id": "a", "question": "q?", "reference_note_ids": ["a-1"]}]
    pairs = None
    if breakage == "stranger":
        qa[0]["user_id"] = "zed"
    if breakage == "bad_label":
        pairs = [{"user_id": "a", "a": "x", "b": "y", "label": "similar"}]
    if breakage == "two_users_no_user_id":
        del qa[0]["user_id"]
    root = _dataset(tmp_path / "d", notes, qa, pairs)
    if breakage == "no_notes":
        for path in sorted((root / "notes").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    if breakage == "no_qa":
        (root / "qa.jsonl").unlink()
    if breakage == "bad_json":
        (root / "qa.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError) as err:
        load_dataset(root)
    assert err.value.code == code


def test_a_missing_folder_is_not_found(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_dataset(tmp_path / "absent")
    assert err.value.code == "DATASET_NOT_FOUND"


def test_init_dataset_writes_an_example_that_loads(tmp_path):
    root = write_example(tmp_path / "coop")
    ds = load_dataset(root)
    assert ds.users == ["idris", "rosa"]
    assert len(list((root / "notes").rglob("*.md"))) == 12
    assert ds.query_log == root / "query_log.jsonl" and ds.gates_file == root / "gates.toml"
    answerable = ds.qa[~ds.qa["expect_no_context"]]
    assert answerable["reference_note_ids"].apply(len).min() >= 1
    with pytest.raises(DatasetError, match="DATASET_EXISTS"):
        write_example(root)
    assert (EXAMPLE_DIR / "qa.jsonl").is_file()


@pytest.mark.parametrize(("name", "answerable", "questions"), [
    ("vetclinic", 25, 40), ("robotics", 25, 40), ("gracechapel", 40, 58), ("oncall", 40, 58),
    ("kitchen", 40, 58), ("school", 40, 58), ("renovation", 40, 59), ("biblestudy", 40, 58),
    ("sermons2", 40, 58), ("bookshop", 40, 58), ("cycling", 40, 58), ("choir", 40, 58),
    ("preaching", 40, 58), ("football", 40, 58), ("genealogy", 40, 58), ("worship", 40, 58),
    ("lab", 40, 58), ("foodbank", 40, 58), ("tenants", 40, 58)])
def test_the_sets_written_blind_to_the_rules_are_labelled_and_cite_their_users_notes(
        name, answerable, questions):
    """``evals/datasets/probes``: each answerable question cites notes of the user who asks;
    calibration finds both kinds of question and pair."""
    from evals.decisions.calibrate import check_labelled

    root = Path(__file__).resolve().parents[2] / "evals" / "datasets" / "probes" / name
    ds = load_dataset(root)
    check_labelled(ds)
    owned = {p.stem: p.parent.name for p in (root / "notes").rglob("*.md")}
    asked = ds.qa[~ds.qa["expect_no_context"]]
    assert len(asked) == answerable and len(ds.qa) == questions and len(ds.pairs) == 20
    for _, row in asked.iterrows():
        assert row["reference_note_ids"] and all(
            owned[n] == row["user_id"] for n in row["reference_note_ids"]), row["id"]


def test_a_datasets_gates_file_replaces_adds_and_skips_gates(tmp_path):
    base = [Gate("quality.recall_at_5", "ge", 0.88, "golden", profiles=("ci",)),
            Gate("quality.cross_user.no_context_accuracy", "ge", 1.0, "golden"),
            Gate("cache.hit_rate", "ge", 0.3, "golden")]
    path = tmp_path / "gates.toml"
    path.write_text('''
[[gate]]
name = "quality.recall_at_5"
op = "ge"
value = 0.8
reason = "18 answerable questions"

[[gate]]
name = "quality.cross_user.no_context_accuracy"
skip = true
reason = "no cross-user probes here"

[[gate]]
name = "quality.mrr"
op = "ge"
value = 0.7
reason = "ours"
''')
    gates, sources = overlay(base, path)
    by_name = {g.name: g for g in gates}
    assert by_name["quality.recall_at_5"].threshold == 0.8
    assert by_name["quality.recall_at_5"].profiles == ("ci",)
    assert "quality.cross_user.no_context_accuracy" not in by_name
    assert by_name["cache.hit_rate"].threshold == 0.3  # untouched
    assert by_name["quality.mrr"].threshold == 0.7  # added
    assert sources == {"quality.recall_at_5": str(path), "quality.mrr": str(path)}


def test_a_query_logs_own_rate_is_requests_per_user_per_whole_day():
    from evals.datasets.querylog import Event
    from evals.datasets.traffic import observed_rate

    day = 86400.0
    events = [Event(t, u, u, "novel", "q") for t, u in
              [(0, "a"), (10, "a"), (day + 5, "b"), (2 * day + 3600, "a"), (2 * day + 7200, "b"),
               (2 * day + 7300, "b")]] + [Event(day, "a", "a", "edit", "x", "n-1")]
    # 6 requests, 2 users, spanning into the third day: one per user per day
    assert observed_rate(events) == pytest.approx(1.0)


def test_a_hub_id_is_named_by_its_last_part_and_refused_when_it_cannot_be_fetched(monkeypatch):
    from evals.datasets.loader import name_of

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert name_of("someone/team-notes") == "team-notes"
    with pytest.raises(DatasetError) as err:
        load_dataset("someone/absent-notes-set")
    assert err.value.code == "DATASET_NOT_FOUND"
    assert "could not be fetched" in str(err.value)


@pytest.mark.parametrize("change,code,says", [
    ({"id": "q\x1b[2J1"}, "DATASET_BAD_TEXT", "control character in id"),
    ({"question": "When\x00 is it?"}, "DATASET_BAD_TEXT", "control character in question"),
    ({"expect": "fail"}, "DATASET_BAD_ITEM", "needs a reason"),
    ({"expect": "pass", "reason": "x"}, "DATASET_BAD_ITEM", "expect must be"),
])
def test_an_item_with_control_characters_or_a_bare_expect_fail_is_refused(tmp_path, change,
                                                                          code, says):
    notes = {"a": {"a-1": "Some body text of a note."}}
    qa = [{"user_id": "a", "question": "q?", "reference_note_ids": ["a-1"], **change}]
    root = _dataset(tmp_path / "d", notes, qa)
    with pytest.raises(DatasetError) as err:
        load_dataset(root)
    assert err.value.code == code and says in str(err.value)


def test_a_known_failure_keeps_its_reason(tmp_path):
    notes = {"a": {"a-1": "Some body text of a note."}}
    qa = [{"user_id": "a", "question": "q?", "reference_note_ids": ["a-1"], "expect": "fail",
           "reason": "the notes never say"}]
    ds = load_dataset(_dataset(tmp_path / "d", notes, qa))
    assert ds.qa.iloc[0]["expect"] == "fail" and ds.qa.iloc[0]["reason"] == "the notes never say"
