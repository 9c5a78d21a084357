"""What the load test's users ask and how an answer is classified; plain Python, no Locust.

The locustfile only wires these into Locust users, so that everything that decides a number of
the report (which questions, which request name an answer gets, which answers count as the
service's documented refusals) is importable and tested without gevent.

Request names: every answer of ``POST /v1/query`` is reported under ``/v1/query <outcome>``
with outcome one of :data:`OUTCOMES`. ``503 documented`` is a 503 with ``Retry-After`` and the
code ``LLM_UNAVAILABLE`` (every model failed, no stale answer exists and ``RAG_LLM_FALLBACK`` is
``none``): the spec's way to refuse, so it is reported as a success under its own name, never
mixed with real failures. ``limited`` is a refusal by a request limit (429 ``RATE_LIMITED``,
503 ``OVERLOADED``, each with ``Retry-After``): an outcome of its own too, neither an answer nor
an error. ``degraded`` is an answer made from the notes without a model while every model
failed (``degraded: true``).
"""

from __future__ import annotations

import json
import os
import random
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QA_GLOB = "golden/qa/*.jsonl"
QUERY_PATH = "/v1/query"
MIXES = ("repeat", "novel", "adversarial", "stream", "conversation", "mixed")
# outcome labels; the first four are answers with a body, the rest refusals and failures
ANSWERED = ("hit", "semantic_hit", "miss", "no_context", "stale", "degraded")
DOCUMENTED = ("503 documented",)
LIMITED = ("limited",)
LIMIT_CODES = {429: "RATE_LIMITED", 503: "OVERLOADED"}
OUTCOMES = ANSWERED + DOCUMENTED + LIMITED + ("error",)
CACHE_HITS = ("hit", "semantic_hit")
# weights of the user classes in the "mixed" mix: repeat, novel, adversarial
MIXED_WEIGHTS = {"repeat": 6, "novel": 3, "adversarial": 1}


def request_name(outcome: str) -> str:
    return f"{QUERY_PATH} {outcome}"


def outcome_of_name(name: str) -> str | None:
    """The outcome label of a request name written by :func:`request_name` (else None)."""
    prefix = f"{QUERY_PATH} "
    return name[len(prefix):] if name.startswith(prefix) else None


# --- questions -----------------------------------------------------------------------------


def load_items(root: str | Path = ROOT, qa_file: str | Path | None = None
               ) -> list[dict[str, Any]]:
    """The golden QA items, or those of ``qa_file`` (``RAG_LOAD_QA``: a dataset's items in
    the golden columns, written by the harness)."""
    items: list[dict[str, Any]] = []
    paths = [Path(qa_file)] if qa_file else sorted(Path(root).glob(QA_GLOB))
    for path in paths:
        items += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return items


@dataclass(frozen=True)
class QuestionBank:
    """Golden questions per user: popular (answerable), all answerable, adversarial."""

    popular: Mapping[str, Sequence[str]]
    answerable: Mapping[str, Sequence[str]]
    adversarial: Mapping[str, Sequence[str]]
    # per user, the new questions the novel and streaming users draw from (empty: each one new)
    novel_pool: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @property
    def users(self) -> list[str]:
        return sorted(self.answerable)

    def with_novel_pool(self, size: int, seed: int | None = None) -> QuestionBank:
        """This bank with ``size`` new questions per user (``RAG_LOAD_NOVEL_POOL``), made once
        and the same for every Locust process of a seed: the novel users ask them again and
        again, as real traffic repeats itself, so that what the app memoises per question
        reaches a steady state (the soak). ``size`` 0: this bank, every novel question new."""
        if size <= 0:
            return self
        pool = {}
        for user in self.users:
            rng = random.Random(f"{seed}:novel-pool:{user}")
            pool[user] = tuple(dict.fromkeys(_new_question(self, user, rng)
                                             for _ in range(size)))
        return replace(self, novel_pool=pool)

    @classmethod
    def from_items(cls, items: Sequence[Mapping[str, Any]], popular_per_user: int = 8,
                   seed: int = 7, only: Sequence[str] = ()) -> QuestionBank:
        answerable: dict[str, list[str]] = {}
        adversarial: dict[str, list[str]] = {}
        for item in items:
            user, question = str(item["user_id"]), str(item["question"])
            if only and user not in only:
                continue
            if item.get("scenario") == "adversarial":
                adversarial.setdefault(user, []).append(question)
            elif not item.get("expect_no_context"):
                answerable.setdefault(user, []).append(question)
        rng = random.Random(seed)
        popular = {u: rng.sample(qs, min(popular_per_user, len(qs)))
                   for u, qs in sorted(answerable.items())}
        return cls(popular, answerable, adversarial)


def user_list(text: str | None) -> list[str]:
    """``"amara,ben"`` (``RAG_LOAD_USERS``) as a list; empty: all users."""
    return [u.strip() for u in (text or "").split(",") if u.strip()]


def popular_question(bank: QuestionBank, user: str, rng: random.Random) -> str:
    """A popular question of ``user``, the first ones far more often (Zipf-like, s = 1)."""
    pool = bank.popular[user]
    weights = [1.0 / (rank + 1) for rank in range(len(pool))]
    return rng.choices(pool, weights=weights)[0]


_FOLLOW_UPS = (
    "How does that connect with {q}?",
    "Compare it with what was said here: {q}",
    "Also, {q} Answer both briefly.",
    "In two sentences: {q} And what should I take from it this week ({n})?",
)


def novel_question(bank: QuestionBank, user: str, rng: random.Random) -> str:
    """A question not asked before (``_new_question``), or, when the bank has a pool of them
    (``QuestionBank.with_novel_pool``), one of the user's pool."""
    pool = bank.novel_pool.get(user)
    return rng.choice(pool) if pool else _new_question(bank, user, rng)


def _new_question(bank: QuestionBank, user: str, rng: random.Random) -> str:
    """A question not asked before: two of the user's questions joined by a random frame and a
    random tag, so that neither the exact nor (usually) the semantic cache has it."""
    pool = bank.answerable[user]
    first, second = rng.sample(pool, 2) if len(pool) > 1 else (pool[0], pool[0])
    tag = "".join(rng.choices(string.ascii_lowercase, k=6))  # letters: a number is a fact
    frame = rng.choice(_FOLLOW_UPS).format(q=second.rstrip("?") + "?", n=tag)
    return f"{first} {frame}"[:990]


def adversarial_question(bank: QuestionBank, user: str, rng: random.Random) -> str:
    pool = bank.adversarial.get(user) or [q for qs in bank.adversarial.values() for q in qs]
    return rng.choice(pool)


def question_for(kind: str, bank: QuestionBank, user: str, rng: random.Random) -> str:
    # streaming users ask novel questions: the LLM streams every answer (their own random
    # source, so they never repeat what the novel users of the same seed asked)
    pick = {"repeat": popular_question, "novel": novel_question, "stream": novel_question,
            "adversarial": adversarial_question}[kind]
    return pick(bank, user, rng)


def csv_request_count(path: str | Path) -> int:
    """The Aggregated request count of a Locust ``*_stats.csv`` (0 when not written yet)."""
    import csv

    try:
        with open(path, newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("Name") == "Aggregated":
                    return int(row.get("Request Count") or 0)
    except (OSError, ValueError):
        return 0
    return 0


def seed_of(text: str | None) -> int | None:
    """``RAG_LOAD_SEED`` as an int; empty or unset: None (fresh randomness every run)."""
    return int(text) if text and text.strip() else None


def user_rng(seed: int | None, kind: str, number: int, worker: int = 0) -> random.Random:
    """The random source of the ``number``-th user of ``kind`` that one Locust process spawns
    (``worker``: the index the master gave that process in a distributed run; 0 alone).

    With a seed, the n-th user of a kind gets the same library, the same questions and the same
    think times in every run (Locust spawns the classes of a mix in a fixed order), so what moves
    between two runs is the timing, not the draw; the users of worker 0 draw what a single
    process draws, and other workers draw users of their own. Without a seed, fresh
    randomness."""
    if seed is None:
        return random.Random()
    if worker:
        return random.Random(f"{seed}:w{worker}:{kind}:{number}")
    return random.Random(f"{seed}:{kind}:{number}")


def user_classes_for(mix: str, bank: QuestionBank | None = None) -> dict[str, int]:
    """User kinds and their weights for a mix (``RAG_LOAD_MIX``). A ``bank`` without
    adversarial questions (a dataset with no attack items) leaves the adversarial users out
    of the mixed mix: they would have nothing to ask."""
    if mix not in MIXES:
        raise ValueError(f"unknown mix {mix!r}; choose one of {', '.join(MIXES)}")
    if mix == "adversarial" and bank is not None and not any(bank.adversarial.values()):
        raise ValueError("the adversarial mix needs adversarial QA items; these have none")
    weights = dict(MIXED_WEIGHTS) if mix == "mixed" else {mix: 1}
    if bank is not None and not any(bank.adversarial.values()):
        weights.pop("adversarial", None)
    return weights


def wait_range(text: str, default: tuple[float, float] = (0.5, 1.5)) -> tuple[float, float]:
    """``"min,max"`` seconds of think time (``RAG_LOAD_WAIT``); empty: ``default``."""
    if not text.strip():
        return default
    low, high = (float(x) for x in text.split(","))
    if not 0 <= low <= high:
        raise ValueError(f"RAG_LOAD_WAIT must be min,max with 0 <= min <= max, got {text!r}")
    return low, high


# --- tokens --------------------------------------------------------------------------------


def tokens_for(users: Sequence[str], path: str | Path | None = None,
               ttl_s: int = 6 * 3600) -> dict[str, str]:
    """A JWT per user: from the JSON file the orchestrator wrote, else issued here with
    ``rag_core.api.auth`` and the ``RAG_JWT_SECRET`` of the environment (as ``rag-core token``)."""
    if path and Path(path).is_file():
        given = json.loads(Path(path).read_text())
        return {u: given[u] for u in users}
    from rag_core.api.auth import issue_token
    from rag_core.config import Settings

    settings = Settings()
    return {u: issue_token(settings, u, ttl_s=ttl_s) for u in users}


def write_tokens(tokens: Mapping[str, str], path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(dict(tokens)))
    path.chmod(0o600)
    return path


# --- answers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    label: str
    failure: str | None = None  # why this is a real failure; None: a success
    cost_usd: float = 0.0
    stale: bool = False
    model: str = ""  # the model that wrote the answer (its ``model`` field)
    # the tokens the answer was billed for (its ``usage``); None without an answer
    in_tokens: int | None = None
    billed_out_tokens: int | None = None
    usage_source: str = ""  # provider | counted: whose token counts were billed ("" no answer)
    retry_after: float = 0.0  # a limited request: the server's Retry-After (seconds)


def classify(status: int, headers: Mapping[str, str], body: Any,
             error: object = None) -> Outcome:
    """The outcome of one ``POST /v1/query`` from its status, headers and parsed JSON body
    (``error``: the client's exception when there was no response)."""
    lower = {str(k).lower(): v for k, v in headers.items()}
    if status == 200 and isinstance(body, Mapping) and "answer" in body:
        query = str((body.get("cache") or {}).get("query", ""))
        label = ("stale" if body.get("stale") else "degraded" if body.get("degraded")
                 else query if query in CACHE_HITS else
                 "no_context" if body.get("no_context") else "miss")
        return _answered(label, body)
    code = ""
    if isinstance(body, Mapping):
        code = str((body.get("error") or {}).get("code", ""))
    if status == 503 and lower.get("retry-after") and code == "LLM_UNAVAILABLE":
        return Outcome("503 documented")
    # a request limit (rag_core/limits), which always says when to retry
    if LIMIT_CODES.get(status) == code and lower.get("retry-after"):
        return Outcome("limited", retry_after=_seconds(lower.get("retry-after")))
    if status == 200:
        return Outcome("error", failure="200 without an answer body")
    if status == 0:
        why = f": {type(error).__name__}" if error is not None else ""
        return Outcome("error", failure=f"no response (connection refused, reset or timed "
                                        f"out){why}")
    return Outcome("error", failure=f"HTTP {status} {code}".strip())


def read_reply(resp: Any) -> tuple[Outcome, Any]:
    """A Locust reply to ``POST /v1/query`` (FastHttpUser's or HttpUser's): its outcome,
    ``classify`` of its status, its headers as they are (never ``dict()`` of them: a
    FastHttpUser reply's headers map each lower-cased name to a (name, value) pair, and its
    Retry-After would read as 0), its body and its error; and the parsed JSON body (None when
    it is not JSON)."""
    try:
        body = resp.json()
    except Exception:  # not JSON: a proxy page, a cut connection
        body = None
    return classify(int(resp.status_code or 0), resp.headers or {}, body,
                    getattr(resp, "error", None)), body


def _answered(label: str, body: Mapping[str, Any]) -> Outcome:
    """An answer's outcome, with what it cost, the model that wrote it and its tokens."""
    usage = body.get("usage") or {}
    return Outcome(label, cost_usd=float(body.get("cost_usd") or 0.0), stale=label == "stale",
                   model=str(body.get("model") or ""),
                   in_tokens=int(usage.get("input_tokens") or 0),
                   billed_out_tokens=int(usage.get("output_tokens") or 0),
                   usage_source=str(body.get("usage_source") or ""))


def _seconds(text: object) -> float:
    try:
        return max(0.0, float(str(text)))
    except ValueError:
        return 0.0


def event_line(started: float, elapsed_ms: float, kind: str, outcome: Outcome,
               status: int, extra: Mapping[str, Any] | None = None) -> str:
    """One JSON line of the per-request log (``RAG_LOAD_EVENTS``) that the chaos analysis,
    the warm-up cut and the cost figure read; Locust's CSVs have no per-request rows.
    ``extra``: a streamed answer's figures (``loadtests.streaming.stream_fields``)."""
    return json.dumps({"t": round(started, 4), "ms": round(elapsed_ms, 2), "kind": kind,
                       "outcome": outcome.label, "status": status, "failure": outcome.failure,
                       "cost_usd": outcome.cost_usd, "stale": outcome.stale,
                       "model": outcome.model, "degraded": outcome.label == "degraded",
                       "in_tokens": outcome.in_tokens,
                       "billed_out_tokens": outcome.billed_out_tokens,
                       "usage_source": outcome.usage_source, **(extra or {})})


def events_path(base: str | None) -> str | None:
    """Where this process writes its per-request lines (one file per process, so that
    distributed workers never share one)."""
    if not base:
        return None
    return f"{base}.{os.getpid()}.jsonl"


# --- load shapes (the arithmetic; loadtests/shapes.py wraps it for Locust) ------------------

SHAPES = ("ramp", "sustained", "spike")
SPIKE_WINDOW = (0.4, 0.6)  # the spike runs over this share of the run
SPIKE_BASE_SHARE = 0.2  # users outside the spike, as a share of the peak


def shape_target(shape: str, t: float, users: int, spawn_rate: float,
                 duration_s: float) -> tuple[int, float] | None:
    """(users, spawn rate) that ``shape`` wants ``t`` seconds into the run; None ends it.

    ramp: linear from 1 user to ``users`` over the run; sustained: ``users`` (reached at
    ``spawn_rate``) for the whole run; spike: a fifth of ``users``, then all of them at once
    (spawned within a second) for the middle fifth of the run, then back.
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {', '.join(SHAPES)}")
    if t >= duration_s:
        return None
    users = max(1, int(users))
    if shape == "ramp":
        return max(1, round(users * t / duration_s)), spawn_rate
    if shape == "sustained":
        return users, spawn_rate
    start, end = (duration_s * share for share in SPIKE_WINDOW)
    base = max(1, round(users * SPIKE_BASE_SHARE))
    if start <= t < end:
        return users, float(max(spawn_rate, users))
    return base, float(max(spawn_rate, users))


def step_list(text: str | None) -> list[int]:
    """``"1,2,4,8"`` (``RAG_LOAD_STEPS``): the user counts of a concurrency sweep."""
    steps = [int(x) for x in (text or "").split(",") if x.strip()]
    if not steps or min(steps) < 1:
        raise ValueError(f"RAG_LOAD_STEPS must be user counts >= 1, got {text!r}")
    return steps


def steps_target(steps: Sequence[int], step_s: float, t: float) -> tuple[int, float] | None:
    """(users, spawn rate) of a concurrency sweep ``t`` seconds in: ``steps[i]`` users for
    ``step_s`` seconds each, every change made at once; None after the last step."""
    index = int(t // step_s)
    if index >= len(steps):
        return None
    return int(steps[index]), float(max(steps))
