"""The locustfile's settings, read once when a run starts (Locust's ``events.init``).

Each is a command-line option of ``locust`` (``--rag-load-mix`` ...) whose default is the
environment variable the scripts already set (``RAG_LOAD_MIX`` ...), so ``RAG_LOAD_MIX=novel
locust -f loadtests/locustfile.py`` and ``locust -f loadtests/locustfile.py --rag-load-mix
novel`` are the same run. This module does not import Locust (which patches the interpreter
with gevent), so tests read it in-process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from loadtests import traffic

# option, environment variable, default, help
OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    ("--rag-load-mix", "RAG_LOAD_MIX", "mixed",
     "which user classes run: repeat|novel|adversarial|stream|mixed"),
    ("--rag-load-shape", "RAG_LOAD_SHAPE", "",
     "a load shape: ramp|sustained|spike|steps (empty: plain -u/-r/-t)"),
    ("--rag-load-steps", "RAG_LOAD_STEPS", "", "user counts of the steps shape, as 1,2,4,8"),
    ("--rag-load-step-s", "RAG_LOAD_STEP_S", "10", "seconds per step of the steps shape"),
    ("--rag-load-tokens", "RAG_LOAD_TOKENS", "",
     'JSON file {"user": "jwt"}; else tokens are issued with RAG_JWT_SECRET'),
    ("--rag-load-events", "RAG_LOAD_EVENTS", "",
     "prefix of the per-request JSON lines (cost, stale, timing); empty: none"),
    ("--rag-load-wait", "RAG_LOAD_WAIT", "", "think time min,max in seconds (default 0.5,1.5)"),
    ("--rag-load-users", "RAG_LOAD_USERS", "", "only these golden users, as amara,ben"),
    ("--rag-load-seed", "RAG_LOAD_SEED", "",
     "the n-th user of a kind draws the same library, questions and think times every run"),
    ("--rag-load-stop-after", "RAG_LOAD_STOP_AFTER", "0",
     "quit once this many requests have finished (0: run to the end of -t)"),
    ("--rag-load-qa", "RAG_LOAD_QA", "",
     "a QA JSON-lines file whose questions the users ask (a dataset's; empty: the golden set)"),
    ("--rag-load-retry-after", "RAG_LOAD_RETRY_AFTER", "on",
     "on: a user refused by a request limit waits its Retry-After before asking again; off: "
     "its usual think time"),
    ("--rag-load-cache", "RAG_LOAD_CACHE", "warm",
     "warm (the caches as the run fills them) or cold (every question with cache.no_cache)"),
    ("--rag-load-novel-pool", "RAG_LOAD_NOVEL_POOL", "0",
     "N > 0: the novel and streaming users ask again from N new questions per user, as real "
     "traffic repeats itself (a soak reaches a steady state); 0: every novel question new"),
)


class ArgumentParser(Protocol):
    def add_argument(self, *names: str, **kwargs: Any) -> object: ...


def add_arguments(parser: ArgumentParser) -> None:
    """The options on Locust's parser (``events.init_command_line_parser``); Locust's parser
    (configargparse) reads each option's environment variable when the option is not given."""
    for option, env_var, default, help_text in OPTIONS:
        parser.add_argument(option, type=str, env_var=env_var, default=default,
                            help=f"{help_text} (env {env_var})")


def _attribute(option: str) -> str:
    return option.removeprefix("--").replace("-", "_")


@dataclass(frozen=True)
class LoadConfig:
    """What the locustfile needs for the run, parsed and checked once."""

    weights: Mapping[str, int]  # user kind -> weight (the mix)
    shape: str | None
    steps: tuple[int, ...]
    step_s: float
    tokens_file: str | None
    events_base: str | None
    wait: tuple[float, float]
    users: tuple[str, ...]  # empty: every golden user
    seed: int | None
    stop_after: int  # 0: run to the end of -t
    qa_file: str | None = None  # the questions asked; None: the golden set
    mix: str = "mixed"  # the mix named; ``weights`` before the questions are known
    retry_after: bool = True  # a limited user waits the server's Retry-After
    cold: bool = False  # every question sent with ``"cache": {"no_cache": true}``
    novel_pool: int = 0  # new questions per user the novel users draw from (0: each one new)

    @classmethod
    def from_values(cls, values: Mapping[str, str | None]) -> LoadConfig:
        """From option values by attribute name (``rag_load_mix`` ...); a value left out or
        None takes the option's default."""
        raw = {_attribute(o): default for o, _, default, _ in OPTIONS}
        raw.update({k: v for k, v in values.items() if v is not None})
        shape = raw["rag_load_shape"] or None
        cache = raw["rag_load_cache"] or "warm"
        if cache not in ("warm", "cold"):
            raise ValueError(f"RAG_LOAD_CACHE is warm or cold, not {cache!r}")
        if shape is not None and shape not in SHAPE_NAMES:
            raise ValueError(f"unknown load shape {shape!r}; choose one of "
                             f"{', '.join(SHAPE_NAMES)}")
        return cls(
            weights=traffic.user_classes_for(raw["rag_load_mix"] or "mixed"),
            shape=shape,
            steps=tuple(traffic.step_list(raw["rag_load_steps"])) if shape == "steps" else (),
            step_s=float(raw["rag_load_step_s"] or 10),
            tokens_file=raw["rag_load_tokens"] or None,
            events_base=raw["rag_load_events"] or None,
            wait=traffic.wait_range(raw["rag_load_wait"] or ""),
            users=tuple(traffic.user_list(raw["rag_load_users"])),
            seed=traffic.seed_of(raw["rag_load_seed"]),
            stop_after=int(raw["rag_load_stop_after"] or 0),
            qa_file=raw["rag_load_qa"] or None,
            mix=raw["rag_load_mix"] or "mixed",
            retry_after=_switch(raw["rag_load_retry_after"] or "on"),
            cold=cache == "cold",
            novel_pool=_count(raw["rag_load_novel_pool"] or "0"),
        )

    def body(self, question: str, **more: object) -> dict[str, object]:
        """A question's JSON body, cold (``no_cache``) when the run is."""
        return {"query": question, **more,
                **({"cache": {"no_cache": True}} if self.cold else {})}

    @classmethod
    def from_options(cls, options: object) -> LoadConfig:
        """From Locust's ``environment.parsed_options``."""
        return cls.from_values({_attribute(o): getattr(options, _attribute(o), None)
                                for o, *_ in OPTIONS})


SHAPE_NAMES = ("ramp", "sustained", "spike", "steps")


def _switch(text: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "1", "true", "yes"):
        return True
    if value in ("off", "0", "false", "no"):
        return False
    raise ValueError(f"RAG_LOAD_RETRY_AFTER must be on or off, not {text!r}")


def _count(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"RAG_LOAD_NOVEL_POOL must be a whole number >= 0, not {text!r}")
    return value
