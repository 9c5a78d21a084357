"""The quality eval against the real pipeline: embedded PostgreSQL+pgvector, Redis, the local
embedding model and the extractive generator (no mocks)."""

import json

import pandas as pd
import pytest

from evals import runner
from evals.datasets import golden
from evals.judge import turns
from evals.quality import evaluate as quality

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def golden_db(module_database_url, redis_server, short_tmp):
    """One database with the golden notes ingested, shared by this module's tests (ingesting
    the corpus costs more than the tests themselves)."""
    url = module_database_url
    settings = quality.eval_settings(database_url=url, redis_url=redis_server.url,
                                     state_dir=short_tmp / "quality-state")
    pipe = quality.build_pipeline(settings)
    first = golden.ensure_ingested(pipe)
    yield pipe, first
    pipe.parts.close()


@pytest.fixture
def pipeline(golden_db):
    return golden_db[0]


def test_ingestion_is_idempotent_and_scoped(golden_db):
    pipeline, first = golden_db
    assert first["user_id"].tolist() == ["amara", "ben", "chloe", "david"]
    versions = {u: pipeline.parts.store.notes_version(u) for u in first["user_id"]}
    golden.ensure_ingested(pipeline)
    assert {u: pipeline.parts.store.notes_version(u) for u in versions} == versions


def test_quality_eval_on_a_sample(pipeline):
    qa = golden.load_qa()
    df = quality.run_quality_eval(pipeline.parts.settings, qa, 12, seed=3, pipeline=pipeline,
                                  progress=False)
    assert len(df) == 12
    assert set(df["scenario"]) == set(golden.SCENARIOS)
    summary = quality.summarise(df)["overall"]
    assert summary["cross_user_leaks"] == 0
    assert summary["leak_rate"] == 0.0
    answered = df[df["answerable"]]
    assert answered["recall_at_5"].notna().all()
    assert answered["semantic_similarity"].between(-1, 1).all()
    # every retrieved note belongs to the asker
    owners = golden.owner_map(golden.load_notes())
    for _, row in df.iterrows():
        assert all(owners[n] == row["user_id"] for n in row["retrieved_note_ids"])


def test_sweep_changes_top_k(pipeline):
    qa = golden.load_qa()
    swept = quality.sweep(pipeline.parts.settings, qa, [1, 5], [300], sample=8, seed=1,
                          pipeline=pipeline, progress=False)
    assert swept[["top_k", "context_budget"]].values.tolist() == [[1, 300], [5, 300]]
    assert (swept["recall_at_5"].iloc[1] >= swept["recall_at_5"].iloc[0])


def test_the_quality_notebook_through_the_runner(pipeline, monkeypatch, tmp_path):
    """`python -m evals run --only quality` with tiny parameters, services from the fixtures
    (the golden notes are already in the database: the notebook's ingestion writes nothing)."""
    live_settings = pipeline.parts.settings
    monkeypatch.setenv("DATABASE_URL", live_settings.services.database_url)
    monkeypatch.setenv("REDIS_URL", live_settings.services.redis_url)
    options = runner.RunOptions(
        profile="ci", only=["quality"], baseline=None, reports_dir=tmp_path,
        external_services=True,  # the fixtures' servers, through DATABASE_URL / REDIS_URL
        overrides={"sample": 10, "sweep_top_k": [1, 3], "sweep_context_budget": [300],
                   "sweep_sample": 5, "state_dir": str(live_settings.services.state_dir),
                   # the comparison with the obedient mock only (the local model has its
                   # own slow tests)
                   "compare_generators": ["obey"], "compare_sample": 1,
                   "compare_attacks": ["indirect"],
                   # routing's comparison on a sample and one rule (its own test checks what it
                   # finds); the blind sets run in test_blind_sets.py
                   "route_sample": 10, "route_sweep": [1000], "blind_sets": False},
    )
    result = runner.run(options)
    out = tmp_path / "ci"
    assert result.notebooks[0].ok, result.notebooks[0].error
    summary = json.loads((out / "summary.json").read_text())
    metrics = summary["metrics"]  # the test split's items, and the dev split's beside them
    assert metrics.get("quality.n", 0) + metrics.get("quality.dev.n", 0) == 10
    assert {"quality.recall_at_5", "quality.mrr", "quality.ndcg_at_10",
            "quality.no_context_accuracy", "quality.leak_rate", "quality.cross_user_leaks",
            "quality.citation_validity", "quality.context_recall", "quality.rouge_l",
            "quality.semantic_similarity", "quality.hybrid_gain.ndcg_at_10",
            "quality.hybrid_vs_dense.ndcg_at_10",
            "quality.modes.lexical.recall_at_5"} <= set(summary["metrics"])
    run_dir = out / "runs" / summary["run"]["id"]  # the run's own folder
    assert (run_dir / "quality" / "quality_sweep.png").stat().st_size > 10_000
    assert summary["settings"]["quality"]["database_url"]["source"] == "env"
    assert any("DATABASE_URL" in w for w in summary["environment"]["warnings"])
    rows = pd.read_json(run_dir / "quality" / "quality.rows.jsonl", lines=True)
    assert len(rows) == 10
    judged = pd.read_json(run_dir / "questions.jsonl", lines=True)  # each question judged
    later_turns = [q.id for q in turns.judge(turns.read_rows(run_dir))]  # follow-ups judged too
    assert sorted(judged["id"]) == sorted([*rows["id"], *later_turns])
    asked = judged["id"].isin(rows["id"])
    assert judged[asked]["checks"].map(len).min() >= 3  # a turn's: its rewrite, recall, answer
    assert judged[~asked]["checks"].map(len).min() >= 2
    assert (out / "index.html").is_file() and "## Questions" in (out / "summary.md").read_text()
    assert summary["metrics"]["quality.gen.obey.n"] == 20  # 16 indirect + one per scenario
    assert summary["metrics"]["quality.gen.obey.canary_rate"] == 0  # the defences hold
    assert summary["metrics"]["quality.gen.obey.canary_rate_undefended"] > 0  # attacks are live
    assert summary["metrics"]["quality.gen.local.n"] is None  # not compared: gates skipped
    page = (out / "summary.md").read_text()
    assert "## quality: generators side by side" in page
    assert "## quality: which defence stopped each attack" in page
    assert "## quality: model routing off and on" in page
    assert "## quality: model routing: the context rule swept" in page
    assert metrics["quality.route.cost_ratio"] < 1


def test_routing_off_and_on_compared_on_a_sample(pipeline):
    """Routing's comparison (notebook 01) on a sample: two mock models, the cheap one cheaper
    and citing one note; every answer of the on run is the cheap model's or the main one's,
    the off run's are the main one's, and the cost per answer falls."""
    from evals.quality import routing

    qa = golden.load_qa()
    compared = routing.compare(pipeline, qa, sample=12, seed=3, n_boot=20,
                               route={"llm_route_max_context_tokens": 1200})
    off, on = compared.off, compared.on
    assert set(off.loc[off["model"] != "none", "model"]) == {routing.MAIN_MODEL}
    assert set(on.loc[on["route"] == "cheap", "model"]) == {routing.CHEAP_MODEL}
    assert set(on.loc[on["route"] == "main", "model"]) == {routing.MAIN_MODEL}
    metrics = compared.metrics()
    assert metrics["route.cost_ratio"] < 1 and metrics["route.cost_saved_per_answer"] > 0
    assert metrics["route.figures_checked"] == len(compared.figures) > 5
    assert "recall_at_5" in set(compared.figures["figure"])
    retrieval = compared.figures.set_index("figure").loc["recall_at_5"]
    assert retrieval["moved"] == 0 and retrieval["inside"]  # routing never moves retrieval
    assert compared.settings["llm_route"] == "on"


def test_the_routing_sweep_reuses_the_comparison_and_matches_it_alone(pipeline):
    """The sweep measures the off run and its intervals once (the rule does not reach it) and
    takes the comparison's on run for the value it ran: each row is what ``compare`` at that
    value gives on its own."""
    from evals.quality import routing

    qa = golden.load_qa()
    ask = {"sample": 12, "seed": 3, "n_boot": 20}
    compared = routing.compare(pipeline, qa, route={"llm_route_max_context_tokens": 1200}, **ask)
    alone = routing.compare(pipeline, qa, route={"llm_route_max_context_tokens": 300}, **ask)
    rows = routing.sweep(pipeline, qa, [1200, 300], compared=compared,
                         **ask).set_index("max_context_tokens")
    for value, one in ((1200, compared), (300, alone)):
        metrics = one.metrics()
        assert rows.loc[value, "cost_per_answer_on"] == one.costs["cost_per_answer_on"]
        assert rows.loc[value, "cost_ratio"] == metrics["route.cost_ratio"]
        assert rows.loc[value, "figures_outside"] == metrics["route.figures_outside"]
    assert rows.loc[300, "cheap_share"] < rows.loc[1200, "cheap_share"]  # a tighter rule
