"""The locustfile's settings (loadtests/config.py): options of ``locust`` whose defaults are the
``RAG_LOAD_*`` environment variables, read once into a typed config."""

from __future__ import annotations

import configargparse
import pytest

from loadtests import traffic
from loadtests.config import OPTIONS, LoadConfig, add_arguments


def _parse(argv: list[str]) -> LoadConfig:
    """As Locust does: its parser is a configargparse parser that reads ``env_var``."""
    parser = configargparse.ArgumentParser()
    add_arguments(parser)
    return LoadConfig.from_options(parser.parse_args(argv))


@pytest.fixture(autouse=True)
def _no_load_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for _, env_var, _, _ in OPTIONS:
        monkeypatch.delenv(env_var, raising=False)


def test_without_options_or_environment_the_defaults_hold() -> None:
    config = _parse([])
    assert config.weights == traffic.user_classes_for("mixed")
    assert config.shape is None and config.steps == () and config.stop_after == 0
    assert config.wait == (0.5, 1.5) and config.users == () and config.seed is None
    assert config.tokens_file is None and config.events_base is None
    assert config.retry_after  # a user refused by a request limit waits its Retry-After
    assert config.novel_pool == 0  # every novel question new
    assert not config.cold and config.body("Who?", stream=True) == {"query": "Who?",
                                                                    "stream": True}


def test_the_environment_variables_of_existing_scripts_still_set_the_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"RAG_LOAD_MIX": "novel", "RAG_LOAD_SHAPE": "steps", "RAG_LOAD_STEPS": "1,2,4",
           "RAG_LOAD_STEP_S": "3", "RAG_LOAD_TOKENS": "t.json", "RAG_LOAD_EVENTS": "ev",
           "RAG_LOAD_WAIT": "0,0.2", "RAG_LOAD_USERS": "amara,ben", "RAG_LOAD_SEED": "7",
           "RAG_LOAD_STOP_AFTER": "20", "RAG_LOAD_QA": "qa.jsonl",
           "RAG_LOAD_RETRY_AFTER": "off", "RAG_LOAD_CACHE": "cold", "RAG_LOAD_NOVEL_POOL": "200"}
    assert set(env) == {e for _, e, _, _ in OPTIONS}  # every variable the locustfile reads
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = _parse([])
    assert config == LoadConfig(weights={"novel": 1}, shape="steps", steps=(1, 2, 4),
                                step_s=3.0, tokens_file="t.json", events_base="ev",
                                wait=(0.0, 0.2), users=("amara", "ben"), seed=7, stop_after=20,
                                qa_file="qa.jsonl", mix="novel", retry_after=False, cold=True,
                                novel_pool=200)
    assert config.body("Who?") == {"query": "Who?", "cache": {"no_cache": True}}


def test_an_option_overrides_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_LOAD_MIX", "novel")
    assert _parse(["--rag-load-mix", "adversarial"]).weights == {"adversarial": 1}


@pytest.mark.parametrize("argv", [["--rag-load-mix", "everything"],
                                  ["--rag-load-shape", "zigzag"],
                                  ["--rag-load-wait", "2,1"],
                                  ["--rag-load-retry-after", "sometimes"],
                                  ["--rag-load-shape", "steps", "--rag-load-steps", "0"],
                                  ["--rag-load-cache", "lukewarm"],
                                  ["--rag-load-novel-pool", "-3"],
                                  ["--rag-load-novel-pool", "many"]])
def test_a_bad_setting_is_refused_when_the_run_starts(argv: list[str]) -> None:
    with pytest.raises(ValueError):
        _parse(argv)
