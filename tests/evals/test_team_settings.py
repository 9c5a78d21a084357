"""The settings under test are the team's: the environment, ``--env-file`` and a dataset's
``settings.env`` in that order, a profile's value only where the team set nothing, ``--param``
over all and said so, and the team's model judged (evals/team_settings.py, evals/knobs.py)."""

from __future__ import annotations

import json
import os

import pytest

from evals import knobs, profiles, team_settings
from evals.quality import evaluate as quality
from evals.quality import generators
from evals.team_settings import TeamSettings, TeamSettingsError

PARAMS = {"top_k": 5, "context_budget": 1200, "similarity_threshold": None,
          "retrieval_mode": "auto", "state_dir": None}
PROVENANCE = {"top_k": "profile", "context_budget": "profile",
              "similarity_threshold": "default", "retrieval_mode": "default",
              "state_dir": "default"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("RAG_") or name in ("HF_TOKEN", "DATABASE_URL", "REDIS_URL"):
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_an_env_file_reads_name_value_lines_quoted_as_a_shell_quotes_them(tmp_path):
    path = tmp_path / "team.env"
    path.write_text("# chosen by evals calibrate\n\nexport RAG_TOP_K=3\n"
                    "RAG_LLM_MODEL='my model'\"'\"'s name'  # a comment\nRAG_RETRIEVAL=lexical\n")
    assert team_settings.read_env_file(path) == {
        "RAG_TOP_K": "3", "RAG_LLM_MODEL": "my model's name", "RAG_RETRIEVAL": "lexical"}


@pytest.mark.parametrize(("line", "says"), [
    ("RAG_TOP_KK=3", "RAG_TOP_KK is no setting (did you mean RAG_TOP_K?)"),
    ("echo hello", "expected NAME=VALUE"),
    ("RAG_LLM_MODEL=two words", "more than one word"),
    ("RAG_LLM_MODEL='a\tb'", "a control character"),
    ("DATABASE_URL=postgresql://x/y", "cannot come from a file"),
])
def test_a_bad_env_file_line_is_refused_with_its_line(tmp_path, line, says):
    path = tmp_path / "team.env"
    path.write_text(f"RAG_TOP_K=3\n{line}\n")
    with pytest.raises(TeamSettingsError, match="SETTINGS_BAD_ENV_FILE") as info:
        team_settings.read_env_file(path)
    assert "line 2" in str(info.value) and says in str(info.value)


def test_the_environment_wins_over_the_env_file_which_wins_over_the_dataset(tmp_path):
    env_file = tmp_path / "team.env"
    env_file.write_text("RAG_TOP_K=2\nRAG_CONTEXT_TOKEN_BUDGET=150\n")
    (tmp_path / "settings.env").write_text("RAG_TOP_K=7\nRAG_CONTEXT_TOKEN_BUDGET=900\n"
                                           "RAG_RETRIEVAL=lexical\n")
    team = team_settings.gather({"RAG_TOP_K": "1"}, env_file, tmp_path)
    got = {k: (s.value, s.source, s.var) for k, s in team.settings.items()}
    assert got == {"top_k": ("1", "env", "RAG_TOP_K"),
                   "context_token_budget": ("150", "env-file", "RAG_CONTEXT_TOKEN_BUDGET"),
                   "retrieval_mode": ("lexical", "dataset", "RAG_RETRIEVAL")}


def test_an_invalid_team_value_is_refused_naming_its_variable(tmp_path):
    with pytest.raises(TeamSettingsError, match=r"SETTINGS_INVALID: RAG_TOP_K=0 \(env\)"):
        team_settings.gather({"RAG_TOP_K": "0"})


def _resolve(tmp_path, team: TeamSettings, params=PARAMS, settings=None):
    team_settings.write(tmp_path, team)
    resolved = knobs.resolve("quality", settings or {}, params,
                             harness=quality.EVAL_HARNESS, output_dir=tmp_path)
    return resolved, json.loads((tmp_path / "quality.settings.json").read_text())


def test_a_profile_value_never_replaces_a_team_setting(clean_env, tmp_path):
    env_file = tmp_path / "team.env"
    env_file.write_text("RAG_CONTEXT_TOKEN_BUDGET=150\n")
    (tmp_path / "settings.env").write_text("RAG_SIMILARITY_THRESHOLD=0.5\n")
    clean_env.setenv("RAG_TOP_K", "1")
    clean_env.setenv("RAG_RETRIEVAL", "lexical")
    team = team_settings.gather(os.environ, env_file, tmp_path)
    team.params = PROVENANCE
    settings, data = _resolve(tmp_path, team)
    assert settings.retrieval.top_k == 1
    assert settings.tokens.context_token_budget == 150
    assert settings.retrieval.retrieval_mode == "lexical"
    assert settings.decisions.similarity_threshold == 0.5
    src = data["sources"]
    assert (src["top_k"], src["retrieval_mode"], src["context_token_budget"],
            src["similarity_threshold"]) == ("env", "env", "env-file", "dataset")
    assert src["cache_enabled"] == "harness" and src["rrf_k"] == "default"


def test_the_profile_value_applies_where_the_team_set_nothing(clean_env, tmp_path):
    team = TeamSettings({}, PROVENANCE)
    settings, data = _resolve(tmp_path, team, {**PARAMS, "top_k": 8})
    assert settings.retrieval.top_k == 8 and data["sources"]["top_k"] == "profile"


def test_a_param_wins_over_the_team_and_is_said_to(clean_env, tmp_path):
    clean_env.setenv("RAG_TOP_K", "1")
    team = team_settings.gather(os.environ)
    team.params = {**PROVENANCE, "top_k": "param"}
    settings, data = _resolve(tmp_path, team, {**PARAMS, "top_k": 3},
                              settings={"output_token_budget": 200})
    assert settings.retrieval.top_k == 3 and data["sources"]["top_k"] == "param"
    assert data["sources"]["output_token_budget"] == "param"
    assert team_settings.overridden(team, {"top_k": 3}) == [
        "--param sets top_k=3 over the team's RAG_TOP_K=1 (env)"]


def test_the_harness_keeps_caches_off_and_says_a_team_value_was_not_used(clean_env, tmp_path):
    clean_env.setenv("RAG_CACHE_ENABLED", "true")
    team = team_settings.gather(os.environ)
    team.params = PROVENANCE
    settings, data = _resolve(tmp_path, team)
    assert settings.caches.cache_enabled is False
    assert any("RAG_CACHE_ENABLED=true (env) not used" in w for w in data["warnings"])


def test_the_runner_passes_none_for_a_parameter_the_team_set():
    spec = profiles.find("quality")
    params = profiles.parameters(spec, "ci", "/tmp/out", {}, team=["top_k"])
    assert params["top_k"] is None and params["context_budget"] == 1200
    given = profiles.parameters(spec, "ci", "/tmp/out", {"top_k": 3}, team=["top_k"])
    assert given["top_k"] == 3


@pytest.mark.parametrize(("env", "given", "name", "why"), [
    ({}, None, "extractive", "no model configured"),
    ({"RAG_LLM": "extractive"}, None, "extractive", "asked for by RAG_LLM=extractive"),
    ({"RAG_LLM": "hf"}, None, "extractive", "names no model to call"),
    ({"RAG_LLM": "hf", "RAG_LLM_BASE_URL": "http://127.0.0.1:9/v1"}, None, "hf",
     "the team's model"),
    ({"RAG_LLM": "hf", "HF_TOKEN": "x"}, "extractive", "extractive", "--param generator"),
])
def test_the_generator_is_the_teams_model_unless_asked_or_missing(env, given, name, why):
    choice = team_settings.choose_generator(team_settings.gather(env), given)
    assert choice.name == name and why in choice.why


def test_the_quality_run_answers_with_the_teams_model_over_http(clean_env, tmp_path):
    """RAG_LLM=hf and its endpoint from an env file: the notebook's settings call the mock
    model over HTTP with the service's prompt."""
    from rag_core.devservers.mock_server import MockLLM
    from rag_core.llm import build_generator
    from rag_core.llm.prompt import build_prompt
    from rag_core.types import Chunk

    with MockLLM(model="team-model") as (url, app):
        env_file = tmp_path / "team.env"
        env_file.write_text(f"RAG_LLM=hf\nRAG_LLM_BASE_URL={url}/v1\nRAG_LLM_MODEL=team-model\n")
        team = team_settings.gather({}, env_file)
        team.params = PROVENANCE
        choice = team_settings.choose_generator(team, None)
        assert choice.name == "hf"
        base, _ = _resolve(tmp_path, team)
        session = generators.start(choice.name, base)
        assert session.settings.generation.llm == "hf"
        assert session.settings.model_calls.llm_base_url == f"{url}/v1"
        generator = build_generator(session.settings)
        chunk = Chunk(chunk_id="c1", note_id="n1", user_id="u1", ordinal=0,
                      text="The kiln fires at 1240 C.", metadata={"title": "Kiln"})
        answer = generator.generate(build_prompt("How hot is the kiln?", [chunk], 64))
        assert answer.model == "team-model" and answer.text
        assert app.state.mock.counts["completed"] >= 1


def test_the_cache_notebook_measures_the_teams_semantic_mode(clean_env, tmp_path):
    clean_env.setenv("RAG_SEMANTIC_MODE", "loose")
    clean_env.setenv("RAG_SEMANTIC_CACHE_THRESHOLD", "0.8")
    team = team_settings.gather(os.environ)
    team.params = {"query_ttl_s": "profile", "semantic_threshold": "profile",
                   "state_dir": "default"}
    team_settings.write(tmp_path, team)
    harness = {**quality.EVAL_HARNESS, "cache_enabled": True, "semantic_cache_enabled": True}
    settings = knobs.resolve("cache", {}, {"query_ttl_s": 86400, "semantic_threshold": None,
                                           "state_dir": None},
                             harness=harness, output_dir=tmp_path)
    assert settings.decisions.semantic_mode == "loose"
    assert settings.decisions.semantic_cache_threshold == 0.8
    quiet, _ = _resolve(tmp_path, team)  # the quality notebook keeps the semantic cache off
    assert quiet.decisions.semantic_mode == "off"


def test_a_server_notebook_gets_the_teams_file_values_as_variables(clean_env, tmp_path):
    env_file = tmp_path / "team.env"
    env_file.write_text("RAG_BREAKER_RESET_TIMEOUT_S=9\nRAG_RETRIEVAL=lexical\n")
    clean_env.setenv("RAG_TOP_K", "2")
    team = team_settings.gather(os.environ, env_file)
    team.params = {"breaker_reset_timeout_s": "profile"}
    team_settings.write(tmp_path, team)
    settings, env = knobs.server_env("chaos", {}, {"breaker_reset_timeout_s": 5.0},
                                     output_dir=tmp_path)
    assert env == {"RAG_BREAKER_RESET_TIMEOUT_S": "9", "RAG_RETRIEVAL": "lexical"}
    assert settings.model_calls.breaker_reset_timeout_s == 9.0  # not the profile's 5
    assert settings.retrieval.top_k == 2  # the environment's, inherited by the servers
    data = json.loads((tmp_path / "chaos.settings.json").read_text())
    assert data["sources"]["breaker_reset_timeout_s"] == "env-file"
    assert data["sources"]["top_k"] == "env"


def test_no_value_of_the_team_is_written_into_the_run_folder(clean_env, tmp_path):
    """A token in the environment or an env file stays out of the report folder: the
    notebook reads the settings again from where they came from."""
    env_file = tmp_path / "team.env"
    env_file.write_text("HF_TOKEN=hf_secret_from_file\nRAG_TOP_K=2\n")
    clean_env.setenv("RAG_LLM_MODEL", "team-model")
    team = team_settings.gather(os.environ, env_file)
    path = team_settings.write(tmp_path, team)
    assert "hf_secret_from_file" not in path.read_text()
    again = team_settings.load(tmp_path)
    assert again.settings["hf_token"].value == "hf_secret_from_file"
    assert again.settings["top_k"].source == "env-file"
    assert again.settings["llm_model"].source == "env"
    assert again.settings["hf_token"].shown() == "HF_TOKEN=*** (env-file)"
