"""``python -m evals generate``: a dataset made from notes, deterministic, in the shape the
harness reads; its answerable questions are answered by their reference note, its
unanswerable ones by no note of the asker."""

import json

import pytest

from evals import cli
from evals.datasets import load_dataset
from evals.datasets.example import EXAMPLE_DIR
from evals.generate.facts import Library, text_of
from evals.generate.write import GenerateError, generate
from rag_core.ingest.notes import load_notes

NOTES = EXAMPLE_DIR / "notes"


def _squash(text):
    return " ".join(str(text).casefold().split())


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "coop-gen"
    generate(NOTES, out, seed=7)
    qa = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (out / "semantic_pairs.jsonl").read_text().splitlines()]
    texts = {u.name: {n.id: _squash(text_of(n)) for n in load_notes(u)}
             for u in NOTES.iterdir() if u.is_dir()}
    return out, qa, pairs, texts


def test_the_dataset_loads_and_records_how_each_item_was_made(made):
    out, qa, pairs, _ = made
    dataset = load_dataset(out)  # assertions and pairs are valid
    assert len(dataset.qa) == len(qa) and len(dataset.pairs) == len(pairs)
    forms = {i["made_by"]["form"] for i in qa}
    assert {"who", "when", "which", "keywords", "how_many", "absent_year", "absent_person",
            "missing_detail", "absent_topic"} <= forms
    assert {p["label"] for p in pairs} == {"paraphrase", "near_miss"}
    assert {p["kind"] for p in pairs if p["label"] == "near_miss"} >= {"attribute", "subject",
                                                                        "person"}


def test_answerable_items_are_answered_by_their_reference_note(made):
    _, qa, _, texts = made
    answerable = [i for i in qa if not i["expect_no_context"]]
    assert answerable
    for item in answerable:
        (note,) = item["reference_note_ids"]
        own = texts[item["user_id"]]
        for check in item.get("assert", []):
            assert _squash(check["value"]) in own[note], item
        if item["made_by"]["form"] in ("keywords", "how_many"):
            assert _squash(item["reference_answer"]) in own[note]
            words = item["made_by"]["words"]
            # the query's words are in its note and in no other note of the user
            assert all(w in own[note] for w in words)
            others = [t for nid, t in own.items() if nid != note]
            assert all(not any(f" {w} " in f" {t} " for t in others) for w in words)


def test_unanswerable_items_name_what_no_note_of_the_user_holds(made):
    _, qa, _, texts = made
    unanswerable = [i for i in qa if i["expect_no_context"]]
    assert len(unanswerable) >= 8
    for item in unanswerable:
        made_by, own = item["made_by"], texts[item["user_id"]]
        assert not item["reference_note_ids"]
        if made_by["form"] in ("absent_year", "absent_person", "absent_topic"):
            assert all(_squash(made_by["absent"]) not in t for t in own.values()), item
        if made_by["form"] == "missing_detail":
            lib = Library(item["user_id"], load_notes(NOTES / item["user_id"]))
            from evals.generate.facts import CLOCK, MONEY

            pattern = CLOCK if made_by["absent"] == "a time of day" else MONEY
            assert not pattern.search(lib.texts[made_by["note"]])


def test_the_same_seed_gives_the_same_dataset(made, tmp_path):
    out, _, _, _ = made
    again = generate(NOTES, tmp_path / "again", seed=7)
    for name in ("qa.jsonl", "semantic_pairs.jsonl"):
        assert (again.folder / name).read_text() == (out / name).read_text()
    other = generate(NOTES, tmp_path / "other", seed=8)
    assert (other.folder / "qa.jsonl").read_text() != (out / "qa.jsonl").read_text()


def test_the_command_and_its_errors(tmp_path, capsys):
    assert cli.main(["generate", "--notes", str(NOTES), "--users", "rosa",
                     "--out", str(tmp_path / "rosa")]) == 0
    assert "python -m evals run --dataset" in capsys.readouterr().out
    assert load_dataset(tmp_path / "rosa").users == ["rosa"]
    assert cli.main(["generate", "--notes", str(NOTES), "--users", "nobody",
                     "--out", str(tmp_path / "x")]) == 2
    assert "nobody" in capsys.readouterr().err
    with pytest.raises(GenerateError, match="not an empty folder"):
        generate(NOTES, tmp_path / "rosa")
