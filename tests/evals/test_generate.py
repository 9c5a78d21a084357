"""``python -m evals generate``: a dataset made from notes, deterministic, in the shape the
harness reads; its answerable questions are answered by their reference note, its
unanswerable ones by no note of the asker. The synonym form runs the project's embedder
(once, on one golden user's notes); the llm writer asks the mock LLM over HTTP
(tests/evals/test_generate_llm.py)."""

import json
from collections import Counter

import pytest

from evals import cli
from evals.datasets import load_dataset
from evals.datasets.example import EXAMPLE_DIR
from evals.generate.facts import text_of
from evals.generate.synonyms import THRESHOLD, same_family
from evals.generate.write import GenerateError, generate
from evals.paths import GOLDEN_DIR
from rag_core.ingest.readers import load_notes

NOTES = EXAMPLE_DIR / "notes"


def _squash(text):
    return " ".join(str(text).casefold().split())


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return _made(tmp_path_factory.mktemp("gen") / "coop-gen", NOTES)


@pytest.fixture(scope="module")
def golden_made(tmp_path_factory):
    """One golden user's notes, the project's embedder for the synonym form."""
    return _made(tmp_path_factory.mktemp("gen") / "david-gen", GOLDEN_DIR / "notes", ["david"])


def _made(out, notes, users=()):
    generate(notes, out, users, seed=7)
    qa = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    pairs = [json.loads(line) for line in (out / "semantic_pairs.jsonl").read_text().splitlines()]
    texts = {u.name: {n.id: _squash(text_of(n)) for n in load_notes(u)}
             for u in notes.iterdir() if u.is_dir()}
    return out, qa, pairs, texts


def test_the_dataset_loads_and_records_how_each_item_was_made(made):
    out, qa, pairs, _ = made
    dataset = load_dataset(out)  # assertions and pairs are valid
    assert len(dataset.qa) == len(qa) and len(dataset.pairs) == len(pairs)
    forms = {i["made_by"]["form"] for i in qa}
    assert {"who", "when", "which", "topic", "keyword", "absent_year", "absent_date"} <= forms
    assert {p["label"] for p in pairs} == {"paraphrase", "near_miss"}
    assert {p["kind"] for p in pairs if p["label"] == "near_miss"} >= {"attribute", "subject",
                                                                        "person"}
    assert (out / "generate_report.json").is_file() and (out / "generate_report.md").is_file()


@pytest.mark.parametrize("dataset", ["made", "golden_made"])
def test_answerable_items_are_answered_by_their_reference_note(dataset, request):
    _, qa, _, texts = request.getfixturevalue(dataset)
    answerable = [i for i in qa if not i["expect_no_context"]]
    assert answerable
    for item in answerable:
        (note,) = item["reference_note_ids"]
        own = texts[item["user_id"]]
        for check in item.get("assert", []):
            assert _squash(check["value"]) in own[note], item
        if item["made_by"]["form"] in ("topic", "keyword", "synonym"):
            assert _squash(item["reference_answer"]) in own[note]
        if item["made_by"]["form"] in ("topic", "keyword"):
            phrase = _squash(item["made_by"]["phrase"])
            # the phrase is in its sentence, once in its note and in no other note of the user
            assert phrase in _squash(item["made_by"]["sentence"])
            assert own[note].count(phrase) == 1
            assert not any(phrase in t for nid, t in own.items() if nid != note)


def test_a_synonym_swaps_one_word_for_another_of_its_note(golden_made):
    _, qa, _, texts = golden_made
    swapped = [i for i in qa if i["made_by"]["form"] == "synonym"]
    assert len(swapped) >= 1
    keyword = {i["question"]: i for i in qa if i["made_by"]["form"] == "keyword"}
    for item in swapped:
        how = item["made_by"]
        before = keyword[how["from"]]  # a keyword question of the same note, one word changed
        assert before["reference_note_ids"] == item["reference_note_ids"]
        assert [w for w in item["question"].split() if w not in before["question"].split()] \
            == [how["by"]]
        assert how["replaced"] in before["question"].split()
        note = texts[item["user_id"]][how["note"]]
        assert f" {how['by']} " in f" {note} ".replace(".", " ").replace(",", " ")
        assert how["cosine"] >= THRESHOLD and not same_family(how["replaced"], how["by"])


def test_same_family_is_forms_of_one_word():
    assert same_family("children", "child") and same_family("eaten", "eating")
    assert same_family("forgiven", "unforgiving") and same_family("Rosa's", "rosa")
    assert not same_family("labourers", "workers") and not same_family("wealthy", "rich")


@pytest.mark.parametrize("dataset", ["made", "golden_made"])
def test_unanswerable_items_name_what_no_note_of_the_user_holds(dataset, request):
    _, qa, _, texts = request.getfixturevalue(dataset)
    unanswerable = [i for i in qa if i["expect_no_context"]]
    assert len(unanswerable) >= 4
    for item in unanswerable:
        made_by, own = item["made_by"], texts[item["user_id"]]
        assert not item["reference_note_ids"]
        assert made_by["form"] in ("absent_year", "absent_date")
        assert all(_squash(made_by["absent"]) not in t for t in own.values()), item


def test_every_item_has_a_split_stratified_by_form(made, golden_made):
    for _, qa, pairs, _ in (made, golden_made):
        strata = Counter((i["user_id"], i["scenario"], i["made_by"]["form"]) for i in qa)
        dev = Counter((i["user_id"], i["scenario"], i["made_by"]["form"]) for i in qa
                      if i["split"] == "dev")
        assert {i["split"] for i in qa} == {"dev", "test"}
        assert all(dev[k] == round(n / 3 + 1e-9) for k, n in strata.items()), (strata, dev)
        assert {p["split"] for p in pairs} <= {"dev", "test"}


def test_the_harness_selects_a_split_of_a_generated_dataset(made):
    """The quality notebook keeps each item's split in its rows (``score_answer``) and reads
    the rows of its ``split`` parameter; the gated figures are the test part's."""
    from evals.quality import evaluate as quality
    from rag_core.answer import Answer
    from rag_core.types import RetrievedRow, TokenUsage

    out, qa, _, _ = made
    items = load_dataset(out).qa.to_dict("records")
    rows = []
    for item in items:
        refs = list(item["reference_note_ids"])
        retrieved = [RetrievedRow(f"{r}#0", r, r, 0.9) for r in refs]
        answer = Answer(answer="x", citations=[], no_context=not refs, generator="extractive",
                        cache={}, usage=TokenUsage(0, 0), cost_usd=0.0, timings_ms={},
                        request_id="r", retrieved=retrieved)
        rows.append(quality.score_answer(item, answer, {}))
    import pandas as pd

    frame = pd.DataFrame(rows)
    by_split = Counter(i["split"] for i in qa)
    for split in ("dev", "test"):
        assert sorted(frame[frame["split"] == split]["id"]) == sorted(
            i["id"] for i in qa if i["split"] == split)
    figures = quality.split_metrics(frame, "dev")  # a dev run: dev under the plain names
    assert figures["n"] == by_split["dev"] and figures["test.n"] == by_split["test"]


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


def test_follow_up_conversations_are_made_and_the_rules_resolve_them(made):
    from evals.conversations import dataset as conversation_set
    from evals.conversations import score as followups
    from evals.datasets.golden import load_notes as load_note_frame

    out, _, _, _ = made
    notes = load_note_frame(out)
    convs = conversation_set.load(followups.notes_of(notes), out)  # checked as the golden set
    assert {t.kind for c in convs for t in c.turns[1:]} == {"pronoun", "demonstrative"}
    rows = followups.rewrites(convs, notes)
    assert rows["accurate"].mean() == 1.0 and (rows["made_by"] == "rules").all()
