"""Every Settings field a notebook parameter: checking, conflicts, sources, the state folder and
inherited service URLs (evals/knobs.py, evals/runner.py)."""

from __future__ import annotations

import json

import pytest

from evals import knobs, profiles, runner
from evals.quality import evaluate as quality

PARAMS = {"top_k": 5, "context_budget": 1200, "generator": "extractive",
          "similarity_threshold": None, "retrieval_mode": "auto", "state_dir": None}


@pytest.fixture
def clean_env(monkeypatch):
    for name in ("DATABASE_URL", "RAG_DATABASE_URL", "REDIS_URL", "RAG_REDIS_URL",
                 "RAG_STATE_DIR", "RAG_EMBEDDING_CACHE_TTL_S", "RAG_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_an_unknown_field_is_named_with_a_suggestion():
    with pytest.raises(knobs.KnobError, match=r"context_token_budgt \(did you mean "
                                              r"context_token_budget"):
        knobs.check_overrides({"context_token_budgt": 600})


def test_an_invalid_value_names_the_field_and_the_value():
    with pytest.raises(knobs.KnobError, match=r"settings.context_token_budget: .*50.*got 10"):
        knobs.check_overrides({"context_token_budget": 10})
    with pytest.raises(knobs.KnobError, match="mapping"):
        knobs.check_overrides([("top_k", 3)])


def test_a_field_set_both_ways_is_an_error_and_none_leaves_it_to_settings():
    fields = profiles.find("quality").settings_params
    with pytest.raises(knobs.KnobError, match="context_token_budget is set twice: notebook "
                                              "parameter context_budget=800"):
        knobs.merge("quality", {"context_token_budget": 600},
                    {**PARAMS, "context_budget": 800}, fields)
    values, how = knobs.merge("quality", {"context_token_budget": 600},
                              {**PARAMS, "context_budget": None}, fields)
    assert values["context_token_budget"] == 600
    assert how["context_token_budget"] == "settings.context_token_budget"
    assert how["top_k"] == "parameter top_k"


def test_resolve_records_every_field_with_its_source(clean_env, tmp_path):
    clean_env.setenv("RAG_EMBEDDING_CACHE_TTL_S", "1234")
    clean_env.setenv("RAG_STATE_DIR", str(tmp_path / "state"))
    settings = knobs.resolve("quality", {"output_token_budget": 200},
                             {**PARAMS, "context_budget": 600}, harness=quality.EVAL_HARNESS,
                             output_dir=tmp_path)
    assert settings.tokens.context_token_budget == 600
    assert settings.tokens.output_token_budget == 200
    assert settings.services.state_dir == tmp_path / "state"  # RAG_STATE_DIR honoured
    data = json.loads((tmp_path / "quality.settings.json").read_text())
    src = data["sources"]
    assert src["context_token_budget"] == "param"
    assert src["output_token_budget"] == "param"
    assert src["cache_enabled"] == "harness"
    assert src["embedding_cache_ttl_s"] == "env"
    assert data["settings"]["embedding_cache_ttl_s"] == 1234
    assert src["context_cache_ttl_s"] == "profile"  # the ci profile's default
    assert src["rrf_k"] == "default"
    assert src["state_dir"] == "env"
    assert data["settings"]["jwt_secret"] == "**********"
    assert set(src.values()) <= set(knobs.SOURCES)
    assert data["warnings"] == []


def test_an_inherited_database_url_is_recorded_loudly(clean_env, tmp_path):
    clean_env.setenv("DATABASE_URL", "postgresql://u:p@db.example:5432/x")
    settings = knobs.resolve("quality", {}, PARAMS, harness=quality.EVAL_HARNESS,
                             output_dir=tmp_path)
    assert settings.services.database_url
    data = json.loads((tmp_path / "quality.settings.json").read_text())
    assert data["sources"]["database_url"] == "env"
    assert any("DATABASE_URL" in w for w in data["warnings"])


def test_without_rag_state_dir_the_harness_uses_the_projects_folder(clean_env):
    assert knobs.harness_state_dir() == knobs.STATE_DIR


def test_the_runner_refuses_an_inherited_service_url_unless_told(clean_env):
    assert runner.check_environment(False) == []
    clean_env.setenv("REDIS_URL", "redis://:secret@cache.example:6379/0")
    with pytest.raises(runner.UsageError, match="REDIS_URL set in the environment"):
        runner.check_environment(False)
    warnings = runner.check_environment(True)
    assert len(warnings) == 1 and "secret" not in warnings[0] and "cache.example" in warnings[0]


def test_the_runner_checks_settings_and_passes_none_for_the_parameter_it_replaces():
    specs = [profiles.find("quality")]
    with pytest.raises(runner.UsageError, match="no Settings field: top_kk"):
        runner.check_settings_override(specs, {"settings": {"top_kk": 1}})
    with pytest.raises(runner.UsageError, match="context_token_budget is set twice"):
        runner.check_settings_override(specs, {"settings": {"context_token_budget": 600},
                                               "context_budget": 800})
    params = profiles.parameters(specs[0], "ci", "/tmp/out",
                                 {"settings": {"context_token_budget": 600}})
    assert params["context_budget"] is None
    assert params["top_k"] == 5
    assert params["settings"] == {"context_token_budget": 600}


def test_settings_become_server_variables():
    env = knobs.as_env({"breaker_reset_timeout_s": 5.0, "cache_enabled": False,
                        "retrieval_mode": "dense"})
    assert env == {"RAG_BREAKER_RESET_TIMEOUT_S": "5.0", "RAG_CACHE_ENABLED": "false",
                   "RAG_RETRIEVAL_MODE": "dense"}


def test_every_mapped_parameter_is_declared_by_its_notebook():
    for spec in profiles.NOTEBOOKS:
        declared = runner.notebook_parameters(spec.file)
        for param, field in spec.settings_params.items():
            assert param in declared, (spec.name, param)
            assert field in knobs._fields()
        if spec.settings_params:
            assert "settings" in declared, spec.name


def test_every_notebook_takes_a_settings_mapping():
    for spec in profiles.NOTEBOOKS:
        assert runner.notebook_parameters(spec.file)["settings"]["default"] == "{}", spec.name


def test_the_load_stack_lives_in_the_harness_state_folder(clean_env, tmp_path):
    from evals.load import stack as load_stack

    assert load_stack._state_dir(load_stack.LoadConfig()) == knobs.STATE_DIR / "loadtest"
    clean_env.setenv("RAG_STATE_DIR", str(tmp_path))
    assert load_stack._state_dir(load_stack.LoadConfig()) == tmp_path / "loadtest"
    given = load_stack.LoadConfig(state_dir=str(tmp_path / "mine"))
    assert load_stack._state_dir(given) == tmp_path / "mine"
