"""A seeded synthetic query log that behaves like a real one, for the cache replay.

Each synthetic user reads one golden user's library (its notes and its golden questions) and
asks ``requests_per_user_per_day`` questions a day in one to three sessions around an hour of
the day of its own. A request is

- ``repeat``: a question of the user's popular pool, drawn with Zipf weights ``1 / rank**s``
  (each user ranks the pool in its own seeded order);
- ``paraphrase``: the same draw, reworded: a labelled paraphrase from ``golden/semantic_pairs``
  when the question has one, else one of our own rewordings (a suffix such as "in my notes",
  word substitutions) that keep what the semantic cache's false-hit guard looks at (the
  question word, names, numbers);
- ``novel``: a question the user has never asked: first the library's golden questions left out
  of the pool, then questions made from the notes' titles, speakers, tags and scripture.

``edit`` events (``edit_rate`` a user a day on average, Poisson) append a sentence to one of the
user's notes. Everything here is pure: the same libraries, config and seed give the same log.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evals.datasets.arrays import Weights
from evals.jsonish import array

KINDS = ("repeat", "paraphrase", "novel", "edit")
DAY_S = 86_400
POOL_SCENARIOS = ("factual", "synthesis", "metadata", "no_context")

# Rewordings that keep the question word at the start and add no capitalised word, number,
# month, negation or quoted phrase (what the false-hit guard compares).
_SUFFIXES = (" in my notes", ", according to my notes", " in my sermon notes",
             ", as far as my notes go", ", if I remember right")
_SUBSTITUTIONS = (
    (r"\bsermon\b", "message"), (r"\bsermons\b", "messages"), (r"\btalk about\b", "speak about"),
    (r"\btold\b", "shared"), (r"\bstory\b", "anecdote"), (r"\bexplain\b", "describe"),
    (r"\bpoint\b", "idea"), (r"\bmention\b", "bring up"), (r"\bmentioned\b", "brought up"),
    (r"\bpassage\b", "text"), (r"\bchurch\b", "congregation"), (r"\bkind of\b", "sort of"),
)
_NOVEL_TEMPLATES = (
    "What was the main point of the sermon '{title}'?",
    "What application for the week came with '{title}'?",
    "Which scripture did '{title}' draw on?",
    "Who preached '{title}'?",
    "When did I hear '{title}'?",
    "What story did the speaker tell in '{title}'?",
    "What do my notes say about {tag}?",
    "Summarise what my notes say about {scripture}.",
    "What did {speaker} teach about {tag}?",
    "Which series did '{title}' belong to?",
)
_EDIT_SENTENCES = (
    "Follow-up from small group: we agreed to pray for one another this week.",
    "Added later: the verse came back to me during the week and I wrote it on a card.",
    "Correction after checking the recording: the closing prayer was led by an elder.",
    "Note to self: share this point with the youth group on Friday.",
    "Update: the church announced a second service on this theme next month.",
    "Later thought: this connects to what we read in the morning devotional.",
)


@dataclass(frozen=True)
class Library:
    """One golden user's material: questions (id, text), paraphrases, notes."""

    name: str
    questions: tuple[tuple[str, str], ...]
    paraphrases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    note_ids: tuple[str, ...] = ()
    note_fields: tuple[Mapping[str, object], ...] = ()


@dataclass(frozen=True)
class LogConfig:
    users: int = 8
    days: int = 1
    requests_per_user_per_day: int = 10
    zipf_s: float = 1.1
    paraphrase_share: float = 0.15
    novel_share: float = 0.15
    edit_rate: float = 0.2  # note edits per user per day (mean)
    pool_share: float = 0.6  # share of a library's questions in a user's popular pool
    seed: int = 7
    user_prefix: str = "sim"

    def __post_init__(self) -> None:
        if self.users < 1 or self.days < 1 or self.requests_per_user_per_day < 0:
            raise ValueError("users and days must be >= 1, requests >= 0")
        if not 0 <= self.paraphrase_share + self.novel_share <= 1:
            raise ValueError("paraphrase_share + novel_share must lie in [0, 1]")
        if self.paraphrase_share < 0 or self.novel_share < 0 or self.edit_rate < 0:
            raise ValueError("shares and edit_rate must not be negative")
        if not 0 < self.pool_share <= 1:
            raise ValueError("pool_share must lie in (0, 1]")


@dataclass(frozen=True)
class Event:
    t: float  # simulated seconds since the start of the log
    user: str  # synthetic user id
    library: str  # the golden user whose notes and questions it has
    kind: str  # repeat, paraphrase, novel or edit
    text: str  # the question, or the sentence an edit appends
    source: str = ""  # pool question id (repeat, paraphrase), note id (edit)
    seen: bool = False  # the user asked this exact text before

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# --- the pieces --------------------------------------------------------------------------


def zipf_weights(n: int, s: float) -> Weights:
    """Probabilities of ranks 1..n, proportional to ``1 / rank**s``."""
    if n < 1:
        raise ValueError("need at least one item")
    w = 1.0 / np.arange(1, n + 1, dtype=float) ** s
    return np.asarray(w / w.sum())


def reword(question: str, rng: np.random.Generator) -> str:
    """One of our own paraphrases: word substitutions and/or a suffix, never the same text."""
    text = question.strip()
    mark = "?" if text.endswith("?") else ("." if text.endswith(".") else "")
    body = text.rstrip("?.! ")
    subs = [(p, r) for p, r in _SUBSTITUTIONS if re.search(p, body)]
    changed = body
    if subs and rng.random() < 0.6:
        pattern, repl = subs[int(rng.integers(len(subs)))]
        changed = re.sub(pattern, repl, changed, count=1)
    if changed == body or rng.random() < 0.5:
        changed += _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]
    return changed + (mark or "?")


def novel_candidates(library: Library) -> list[str]:
    """Questions made from the notes' fields (deduplicated, in a fixed order)."""
    out: list[str] = []
    for fields in library.note_fields:
        tags = array(fields.get("tags"))
        scripture = array(fields.get("scripture"))
        values = {"title": fields.get("title") or "", "speaker": fields.get("speaker") or "",
                  "tag": tags[0] if tags else "", "scripture": scripture[0] if scripture else ""}
        for template in _NOVEL_TEMPLATES:
            names = re.findall(r"{(\w+)}", template)
            if all(values[n] for n in names):
                out.append(template.format(**values))
    return list(dict.fromkeys(out))


def _sessions(rng: np.random.Generator, n: int, day: int, hour: float) -> list[float]:
    """Times of ``n`` requests on ``day``: 1-3 sessions near ``hour``, ~90 s apart inside."""
    if n == 0:
        return []
    k = min(n, 1 + int(rng.integers(0, 3)))
    sizes = np.bincount(rng.integers(0, k, size=n), minlength=k)
    times: list[float] = []
    for size in sizes:
        start_h = float(np.clip(hour + rng.normal(0, 2.0), 0.0, 23.5))
        t = day * DAY_S + start_h * 3600
        for _ in range(int(size)):
            times.append(min(t, (day + 1) * DAY_S - 1))
            t += 10 + float(rng.exponential(80))
    return sorted(times)


# --- the log -----------------------------------------------------------------------------


def user_ids(libraries: Sequence[Library], config: LogConfig) -> list[tuple[str, Library]]:
    """Synthetic users, libraries assigned round robin: ``sim-amara-000``, ``sim-ben-001``..."""
    return [(f"{config.user_prefix}-{libraries[i % len(libraries)].name}-{i:03d}",
             libraries[i % len(libraries)]) for i in range(config.users)]


def generate_log(libraries: Sequence[Library], config: LogConfig) -> list[Event]:
    """The whole log, sorted by time (ties by user)."""
    if not libraries:
        raise ValueError("no libraries")
    root = np.random.default_rng(config.seed)
    events: list[Event] = []
    for uid, lib in user_ids(libraries, config):
        rng = np.random.default_rng(root.integers(2**63))
        events += _user_events(uid, lib, config, rng)
    return sorted(events, key=lambda e: (e.t, e.user, e.kind))


def _user_events(uid: str, lib: Library, config: LogConfig,
                 rng: np.random.Generator) -> list[Event]:
    order = rng.permutation(len(lib.questions))
    n_pool = max(1, int(round(config.pool_share * len(order))))
    pool = [lib.questions[i] for i in order[:n_pool]]
    reserve = [lib.questions[i][1] for i in order[n_pool:]]
    made = novel_candidates(lib)
    reserve += [made[i] for i in rng.permutation(len(made))]
    weights = zipf_weights(len(pool), config.zipf_s)
    hour = float(rng.uniform(7, 22))
    asked: set[str] = set()
    out: list[Event] = []
    for day in range(config.days):
        for t in _sessions(rng, config.requests_per_user_per_day, day, hour):
            u = rng.random()
            if u < config.novel_share:
                text = _next_novel(reserve, asked, rng)
                kind, source = "novel", ""
            else:
                qid, question = pool[int(rng.choice(len(pool), p=weights))]
                source = qid
                if u < config.novel_share + config.paraphrase_share:
                    kind = "paraphrase"
                    labelled = list(lib.paraphrases.get(question, ()))
                    options = labelled + [""]  # "" = make one of our own
                    pick = options[int(rng.integers(len(options)))]
                    text = pick or reword(question, rng)
                else:
                    kind, text = "repeat", question
            out.append(Event(t, uid, lib.name, kind, text, source, text in asked))
            asked.add(text)
        if lib.note_ids:
            for _ in range(int(rng.poisson(config.edit_rate))):
                t = day * DAY_S + float(np.clip(hour + rng.normal(0, 3.0), 0, 23.9)) * 3600
                note = lib.note_ids[int(rng.integers(len(lib.note_ids)))]
                sentence = _EDIT_SENTENCES[int(rng.integers(len(_EDIT_SENTENCES)))]
                out.append(Event(t, uid, lib.name, "edit", sentence, note))
    return out


def _next_novel(reserve: list[str], asked: set[str], rng: np.random.Generator) -> str:
    while reserve:
        text = reserve.pop(0)
        if text not in asked:
            return text
    return f"Is there anything else in my notes worth reading again, item {rng.integers(10**6)}?"


# --- from the golden set --------------------------------------------------------------------


def load_semantic_pairs(golden_dir: str | Path | None = None,
                        split: str | None = None) -> list[dict[str, object]]:
    """Every labelled pair of ``golden/semantic_pairs/*.jsonl`` (``evals.datasets.golden``)."""
    from evals.datasets import golden

    return golden.load_semantic_pairs(golden_dir, split)


def libraries_from_golden(qa: pd.DataFrame, notes: pd.DataFrame,
                          pairs: Iterable[Mapping[str, object]] = (),
                          scenarios: Sequence[str] = POOL_SCENARIOS) -> list[Library]:
    """One library per golden user: its QA questions of ``scenarios`` plus the ``a`` side of
    its labelled paraphrase pairs, whose ``b`` sides become their paraphrases."""
    by_user: dict[str, dict[str, str]] = {}
    for row in qa[qa["scenario"].isin(scenarios)].itertuples():
        by_user.setdefault(str(row.user_id), {}).setdefault(str(row.question), str(row.id))
    paraphrases: dict[str, dict[str, list[str]]] = {}
    for pair in pairs:
        if pair.get("label") != "paraphrase":
            continue
        user = str(pair["user_id"])
        by_user.setdefault(user, {}).setdefault(str(pair["a"]), str(pair["id"]))
        paraphrases.setdefault(user, {}).setdefault(str(pair["a"]), []).append(str(pair["b"]))
    out = []
    for user in sorted(by_user):
        mine = notes[notes["user_id"] == user].sort_values("id")
        fields = tuple({k: r.get(k) for k in ("title", "speaker", "tags", "scripture")}
                       for r in mine.to_dict("records"))
        out.append(Library(
            name=user,
            questions=tuple((qid, q) for q, qid in by_user[user].items()),
            paraphrases={q: tuple(v) for q, v in paraphrases.get(user, {}).items()},
            note_ids=tuple(mine["id"]),
            note_fields=fields,
        ))
    return out


# --- describing a log ---------------------------------------------------------------------------


def first_users(events: Sequence[Event], n: int) -> list[Event]:
    """The events of the first ``n`` users (by the number that ends a user id, so that the
    libraries keep taking turns); ``n <= 0``: all."""
    names = sorted({e.user for e in events}, key=lambda u: (u.rsplit("-", 1)[-1], u))
    keep = set(names if n <= 0 else names[:n])
    return [e for e in events if e.user in keep]


def repeat_ceiling(events: Sequence[Event], ttl_s: float | None = None) -> float:
    """The best hit rate an exact-match cache could reach on this log: the share of requests
    whose text (case and trailing punctuation aside) the same user asked while an answer of
    it, stored at the last miss, was younger than ``ttl_s`` (None: never expires). Edits are
    ignored, so the real L1 can only be lower."""
    stored: dict[tuple[str, str], float] = {}
    hits = requests = 0
    for e in sorted((e for e in events if e.kind != "edit"), key=lambda e: e.t):
        requests += 1
        key = (e.user, " ".join(e.text.casefold().split()).rstrip("?!.,;: "))
        at = stored.get(key)
        if at is not None and (ttl_s is None or e.t - at < ttl_s):
            hits += 1
        else:
            stored[key] = e.t
    return hits / requests if requests else 0.0


def to_frame(events: Sequence[Event]) -> pd.DataFrame:
    columns = list(Event.__dataclass_fields__)
    return pd.DataFrame([e.to_dict() for e in events], columns=columns)


def kind_shares(events: Sequence[Event]) -> dict[str, float]:
    """Share of each kind among the requests (edits are not requests)."""
    kinds = Counter(e.kind for e in events if e.kind != "edit")
    total = sum(kinds.values())
    return {k: (kinds[k] / total if total else 0.0) for k in KINDS if k != "edit"}


def top_share(events: Sequence[Event]) -> float:
    """Mean over users of the share of their pool draws taken by their most drawn question."""
    shares = []
    for _, group in to_frame(events).query("kind in ('repeat', 'paraphrase')").groupby("user"):
        shares.append(group["source"].value_counts().iloc[0] / len(group))
    return float(np.mean(shares)) if shares else 0.0


def describe(events: Sequence[Event]) -> pd.DataFrame:
    """One row per kind: events, share of requests, share already asked verbatim."""
    frame = to_frame(events)
    requests = frame[frame["kind"] != "edit"]
    rows = []
    for kind in KINDS:
        part = frame[frame["kind"] == kind]
        rows.append({"kind": kind, "events": len(part),
                     "share_of_requests": (round(len(part) / len(requests), 3)
                                           if kind != "edit" and len(requests) else None),
                     "asked_before": round(float(part["seen"].mean()), 3) if len(part) else None})
    return pd.DataFrame(rows)
