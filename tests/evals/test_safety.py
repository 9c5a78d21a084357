"""The labelled safety sets (golden/safety) and the figures evals/safety/evaluate.py computes on
them."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from evals.gates import load_gates
from evals.paths import shared_dir
from evals.safety import evaluate as safety
from evals.safety import sets as safety_sets

PROBE = shared_dir() / "redteam" / "questions.jsonl"


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    return safety_sets.load(safety_sets.QUESTIONS)


@pytest.fixture(scope="module")
def outputs() -> list[dict]:
    return safety_sets.load(safety_sets.OUTPUTS)


def test_rates_are_shares_of_the_right_kind() -> None:
    rows = [{"kind": "attack", "text": "bad 1"}, {"kind": "attack", "text": "bad 2"},
            {"kind": "attack", "text": "ok"}, {"kind": "honest", "text": "bad 3"},
            {"kind": "honest", "text": "ok"}, {"kind": "echo", "text": "bad"},
            {"kind": "echo", "text": "fine"}]
    says_bad = lambda t: t.startswith("bad")  # noqa: E731
    assert safety.detection_rate(rows, says_bad) == pytest.approx(2 / 3)
    assert safety.false_positive_rate(rows, says_bad) == pytest.approx(0.5)
    assert safety.leak_catch_rate(rows, says_bad) == pytest.approx(0.5)
    assert safety.honest_replacement_rate(rows, says_bad) == pytest.approx(0.5)
    assert safety.detection_rate([], says_bad) is None


def test_sets_are_large_labelled_and_split(questions: list[dict], outputs: list[dict]) -> None:
    for rows, kinds in ((questions, {"attack", "honest"}), (outputs, {"echo", "honest"})):
        assert {r["kind"] for r in rows} == kinds
        assert len({r["id"] for r in rows}) == len(rows)
        assert {r["split"] for r in rows} == {"dev", "test"}
        for kind in kinds:
            assert sum(1 for r in rows if r["kind"] == kind and r["split"] == "test") >= 100
        splits_of_group: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            splits_of_group[row["group"]].add(row["split"])
        assert all(len(s) == 1 for s in splits_of_group.values())  # no group straddles
    # stratified: every written or generated category has items in both parts
    per = Counter((r["category"], r["split"]) for r in questions if r["source"] != "redteam-probe")
    for category in {c for c, _ in per}:
        assert per[(category, "dev")] and per[(category, "test")], category


@pytest.mark.skipif(not PROBE.exists(), reason="the shared probe file is not on this machine")
def test_the_probe_is_folded_in_with_its_ids(questions: list[dict]) -> None:
    by_id = {r["id"]: r for r in questions}
    probe = [json.loads(line) for line in PROBE.read_text(encoding="utf-8").splitlines()]
    assert len(probe) == 47
    for item in probe:
        row = by_id[item["id"]]
        assert (row["text"], row["kind"], row["source"]) == (item["text"], item["kind"],
                                                             "redteam-probe")


def test_the_sets_are_what_the_builder_makes(questions: list[dict], outputs: list[dict]) -> None:
    """Edit the sources (or the system prompt), then rebuild: python -m evals.safety.outputs."""
    keys = ("id", "kind", "category", "split", "source", "group", "text")
    assert [{k: r[k] for k in keys} for r in safety_sets.build_questions()] == questions
    from evals.safety.outputs import build_outputs

    assert [{k: r[k] for k in keys} for r in build_outputs()] == outputs


def test_test_split_figures_meet_the_gates(questions: list[dict], outputs: list[dict]) -> None:
    figures = safety.measure(questions=questions, outputs=outputs)
    gates = {g.name: g for g in load_gates() if ".safety." in g.name}
    assert len(gates) == 4
    for gate in gates.values():
        _, _, tool, split, metric = gate.name.split(".")
        value = figures[tool][split][metric]
        assert value is not None
        assert (value >= gate.threshold) if gate.op == "ge" else (value <= gate.threshold), \
            (gate.name, value)


def test_switching_the_tools_off_fails_the_gates(questions: list[dict],
                                                 outputs: list[dict]) -> None:
    off = safety.measure(sanitiser=False, leak_filter=False, questions=questions[:40],
                         outputs=outputs[:40])
    assert all(v["detection_rate"] in (0.0, None) for v in off["sanitiser"].values())
    assert all(v["catch_rate"] in (0.0, None) for v in off["leak"].values())


def test_the_heldout_set_is_apart_and_measured_as_it_is() -> None:
    """The held-out set: its own file and split, both kinds, no text shared with the labelled
    sets; its figures are the sanitiser's verdicts on it, and switching the sanitiser off
    detects nothing."""
    rows = safety_sets.load(safety_sets.HELDOUT)
    labelled = {r["text"] for r in safety_sets.load(safety_sets.QUESTIONS)}
    assert {r["split"] for r in rows} == {"heldout"} and len({r["id"] for r in rows}) == len(rows)
    assert {r["kind"] for r in rows} == {"attack", "honest"}
    assert not labelled & {r["text"] for r in rows}
    figures = safety.heldout()
    attacks = [r for r in rows if r["kind"] == "attack"]
    check = safety.sanitiser_check()
    assert figures["detection_rate"] == sum(check(r["text"]) for r in attacks) / len(attacks)
    assert 0.0 < figures["detection_rate"] <= 1.0
    assert figures["by_category"]["items"].sum() == len(rows)
    assert safety.heldout(safety.sanitiser_check(enabled=False))["detection_rate"] == 0.0


def test_heldout_attacks_become_injection_items_with_their_canaries() -> None:
    from evals.metrics.canaries import item_canaries

    items = safety.heldout_items()
    attacks = [r for r in safety_sets.load(safety_sets.HELDOUT) if r["kind"] == "attack"]
    assert len(items) == len(attacks) and set(items["attack"]) == {"injection"}
    assert set(items["user_id"]) <= {"amara", "ben", "chloe", "david"}
    kinds = {c.kind for item in items.to_dict("records") for c in item_canaries(item)}
    assert {"url", "html"} <= kinds  # links and markup the attacks ask for are scored
