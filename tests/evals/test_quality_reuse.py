"""What a tuning loop reuses between runs: only what the changed knob cannot change."""

import pandas as pd

from evals.quality import reuse
from rag_core.config import Settings

QA = pd.DataFrame({"id": ["q1", "q2"], "question": ["Who spoke?", "When?"]})
NOTES = pd.DataFrame({"id": ["n1"], "body": ["A note."]})


def _key(settings, qa=QA, notes=NOTES, **kw):
    return reuse.sweep_key(settings, qa, notes, [1, 5], [300, 1200], sample=60, seed=7, **kw)


def test_the_sweep_is_reused_across_the_fields_it_sets_and_no_other(tmp_path):
    base = Settings(profile="ci", state_dir=tmp_path)
    assert _key(base) == _key(base.with_overrides(top_k=8, context_token_budget=600))
    assert _key(base) != _key(base.with_overrides(retrieval_mode="lexical"))
    assert _key(base) != _key(base, qa=QA.iloc[:1])
    assert _key(base) != _key(base, notes=NOTES.assign(body=["A changed note."]))
    assert _key(base) != reuse.sweep_key(base, QA, NOTES, [1, 5], [300, 1200], sample=60,
                                         seed=8)


def test_a_result_is_measured_once_and_read_back_until_its_key_changes(tmp_path, monkeypatch):
    calls = []

    def measure():
        calls.append(1)
        return pd.DataFrame({"top_k": [1, 5], "recall_at_5": [0.5, float("nan")]})

    def run(key):
        return reuse.reused(tmp_path, "sweep", key, measure,
                            lambda f: {"rows": f.to_dict("list")},
                            lambda d: pd.DataFrame(d["rows"]))

    first, was = run("a")
    assert not was and len(calls) == 1
    again, was = run("a")
    assert was and len(calls) == 1
    pd.testing.assert_frame_equal(first, again)
    _, was = run("b")
    assert not was and len(calls) == 2
    (tmp_path / "sweep-c.json").write_text("{not json")  # a broken entry is measured again
    _, was = run("c")
    assert not was and len(calls) == 3 and run("c")[1]


def test_the_key_follows_the_environment(tmp_path, monkeypatch):
    base = Settings(profile="ci", state_dir=tmp_path)
    before = _key(base)
    monkeypatch.setenv("RAG_SANITISER_EXTRA", "x")
    assert _key(base) != before
