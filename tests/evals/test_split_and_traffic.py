"""The dev/test split of the golden set, and reading a team's own query log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from evals.datasets import golden, split, traffic
from evals.decisions import semantic_eval
from evals.paths import GOLDEN_DIR
from rag_core.types import Note


def _lines(pattern: str) -> list[dict]:
    return [json.loads(x) for p in sorted(GOLDEN_DIR.glob(pattern))
            for x in p.read_text().splitlines() if x.strip()]


def test_every_item_and_pair_has_a_split() -> None:
    for row in _lines("qa/*.jsonl") + _lines("semantic_pairs/*.jsonl"):
        assert row.get("split") in split.SPLITS, row["id"]


@pytest.mark.parametrize("pattern", ["qa/amara_ben.jsonl", "semantic_pairs/amara_ben.jsonl"])
def test_stored_split_is_the_documented_assignment(pattern: str) -> None:
    kind = pattern.split("/")[0]
    rows = [r for r in _lines(f"{kind}/*.jsonl")
            if not r["id"].startswith(("q-dx", "sp-dx")) and r["id"][:5] in ("q-ab-", "q-cd-",
                                                                             "sp-ab", "sp-cd")]
    assigned = split.assign(rows)
    assert all(r["split"] == assigned[r["id"]] for r in rows)


def test_indirect_items_carry_the_documented_assignment() -> None:
    rows = _lines("qa/indirect.jsonl")
    assigned = split.assign(rows)
    assert rows and all(r["split"] == assigned[r["id"]] for r in rows)
    for user in {r["user_id"] for r in rows}:  # one of each user's four items is dev
        assert [r["split"] for r in rows if r["user_id"] == user].count("dev") == 1


def test_assignment_is_stratified_and_deterministic() -> None:
    items = [{"id": f"i{n}", "scenario": s, "attack": None, "user_id": u}
             for n, (s, u) in enumerate((s, u) for s in ("a", "b") for u in ("x", "y")
                                        for _ in range(9))]
    out = split.assign(items)
    assert out == split.assign(list(reversed(items)))
    per = Counter((i["scenario"], i["user_id"], out[i["id"]]) for i in items)
    assert all(per[(s, u, "dev")] == 3 for s in ("a", "b") for u in ("x", "y"))


def test_loaders_filter_by_split() -> None:
    dev, test, every = (golden.load_qa(split=s) for s in ("dev", "test", None))
    assert len(dev) + len(test) == len(every) and set(dev["split"]) == {"dev"}
    assert {p["split"] for p in golden.load_semantic_pairs(split="test")} == {"test"}
    with pytest.raises(ValueError):
        golden.load_qa(split="train")


def test_same_note_negatives_stay_inside_a_split() -> None:
    pairs = semantic_eval.same_note_pairs(golden.load_qa())
    assert pairs and all(p["label"] == "near_miss" for p in pairs)
    qa = golden.load_qa().set_index("id")
    for p in pairs[:200]:
        left, right = p["id"].split("~")
        assert qa.loc[left, "split"] == qa.loc[right, "split"] == p["split"]


def test_score_counts() -> None:
    frame = pd.DataFrame([
        {"label": "paraphrase", "hit": True}, {"label": "paraphrase", "hit": False},
        {"label": "near_miss", "hit": False}, {"label": "near_miss", "hit": True}])
    out = semantic_eval.score(frame)
    assert out["recall"] == 0.5 and out["false_hits"] == 1 and out["precision"] == 0.5


def test_read_log_iso_and_epoch_with_edits(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps(r) for r in [
        {"ts": "2026-01-05T09:00:00Z", "user": "kim", "question": "Who preached on Ruth?"},
        {"ts": 1767603660, "user": "kim", "question": "who preached on ruth"},
        {"ts": "2026-01-05T09:02:00+00:00", "user": "kim", "note_id": "kim-1",
         "event": "edit"},
    ]) + "\n")
    events = traffic.read_log(log)
    assert [e.kind for e in events] == ["novel", "repeat", "edit"]
    assert events[1].t == pytest.approx(60.0) and events[1].seen
    assert events[2].source == "kim-1" and events[0].library == "kim"
    traffic.check_notes(events, {"kim": [Note(id="kim-1", title="t", body="b")]})
    with pytest.raises(ValueError, match="no notes folder"):
        traffic.check_notes(events, {})


@pytest.mark.parametrize("line", ['{"user": "kim", "question": "q"}',
                                  '{"ts": "yesterday", "user": "kim", "question": "q"}',
                                  '{"ts": 1, "user": "kim"}', "not json",
                                  '{"ts": 1, "user": "kim", "event": "edit"}'])
def test_read_log_says_what_is_wrong(tmp_path: Path, line: str) -> None:
    log = tmp_path / "bad.jsonl"
    log.write_text(line + "\n")
    with pytest.raises(ValueError, match="line 1"):
        traffic.read_log(log)


def test_summary_shows_the_dev_figure_beside_a_gated_test_figure(tmp_path: Path) -> None:
    from evals.gates import GateResult
    from evals.report import markdown as report_md
    from evals.report import summary as report
    from evals.report.run_report import RunReport

    summary = report.build_summary("ci", "now", None, [], {
        "quality.no_context_accuracy": 0.8, "quality.dev.no_context_accuracy": 0.9})
    result = GateResult("quality.no_context_accuracy", 0.8, 0.7, "ge", "passed")
    text = report_md.render_markdown(RunReport(summary, [result], []), tmp_path)
    assert "| `quality.no_context_accuracy` | 80.0 % | 90.0 % | >= | 70.0 % |" in text
    assert report_md.dev_name("cache.semantic_recall") == "cache.dev.semantic_recall"


def test_questions_without_attacks_leave_the_adversarial_users_out_of_the_mix():
    from loadtests import traffic

    items = [{"user_id": "rosa", "question": f"q{i}?", "expect_no_context": False}
             for i in range(3)]
    bank = traffic.QuestionBank.from_items(items)
    assert traffic.user_classes_for("mixed", bank) == {"repeat": 6, "novel": 3}
    with pytest.raises(ValueError, match="adversarial QA items"):
        traffic.user_classes_for("adversarial", bank)
    golden_bank = traffic.QuestionBank.from_items(traffic.load_items())
    assert "adversarial" in traffic.user_classes_for("mixed", golden_bank)


def test_the_load_test_reads_a_datasets_items_from_a_file(tmp_path):
    import json

    from loadtests import traffic

    path = tmp_path / "qa.jsonl"
    path.write_text(json.dumps({"user_id": "kim", "question": "When?",
                                "expect_no_context": False}) + "\n")
    assert traffic.QuestionBank.from_items(traffic.load_items(qa_file=path)).users == ["kim"]
