"""A synthetic query log in the format ``rag-core querylog export`` writes, for a team without
production traffic (``python -m evals.replay.synthetic --out LOG``).

How it is made (seeded: the same arguments write the same file):

- **users**: ``users`` synthetic users (``syn-01`` ...). Each asks the golden questions of the
  golden user the replay will send it as (``logs.UserMap``: a hash of its name), so every
  question has notes to be answered from. Users are not equally active: user ``i`` is drawn
  with weight ``1 / i``.
- **Zipf-like repeats**: each user ranks its library's questions in an order of its own; a
  ``repeat`` draws from that ranking with weights ``1 / rank**zipf_s``, so a few questions come
  back often (and between users of one library, the same question too).
- **paraphrases**: a ``paraphrase`` asks a labelled paraphrase from ``golden/semantic_pairs``
  of a question of the library (the other side of a ``paraphrase`` pair).
- **edits between asks**: an ``edit`` is a question first asked with a slip (a word dropped)
  and asked again, corrected, a few seconds later: two lines, the second a new question.
- **novel**: a question of the library that the user has not asked.
- **bursts at the hour**: the log starts ``minutes_before`` minutes before an hour;
  ``burst_share`` of the requests fall in the ``burst_s`` seconds after the hour (a service
  ends, everyone asks at once), the rest spread evenly over the whole span.

Lines: ``{"ts", "user", "question", "outcome", "cost_usd"}``; ``outcome`` is ``synthetic``
and ``cost_usd`` 0 (nothing was served yet). ``evals/replay/data/synthetic_log.jsonl`` is
this generator's output with its defaults.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from evals.paths import GOLDEN_DIR, REPO_ROOT
from evals.replay.logs import UserMap, dataset_users

BUNDLED = REPO_ROOT / "evals" / "replay" / "data" / "synthetic_log.jsonl"


@dataclass(frozen=True)
class SynthConfig:
    users: int = 12
    requests: int = 160
    span_s: float = 600.0  # the whole log: 10 minutes
    minutes_before: float = 3.0  # the log starts this long before the hour
    burst_share: float = 0.45  # of the requests in the burst after the hour
    burst_s: float = 60.0
    zipf_s: float = 1.1
    novel_share: float = 0.3
    paraphrase_share: float = 0.1
    edit_share: float = 0.06
    seed: int = 7
    start_day: str = "2026-11-22"


def _library() -> tuple[dict[str, list[str]], dict[str, list[tuple[str, str]]]]:
    """Golden questions per user, and paraphrase pairs per user."""
    questions: dict[str, list[str]] = defaultdict(list)
    for path in sorted((GOLDEN_DIR / "qa").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if item.get("scenario") in ("factual", "synthesis", "metadata"):
                    questions[str(item["user_id"])].append(str(item["question"]))
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for path in sorted((GOLDEN_DIR / "semantic_pairs").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                if item.get("label") == "paraphrase":
                    pairs[str(item["user_id"])].append((str(item["a"]), str(item["b"])))
    return dict(questions), dict(pairs)


def _slip(question: str, rng: random.Random) -> str:
    """The question with one word (not the first) dropped: what a hurried user sends first."""
    words = question.split()
    if len(words) < 4:
        return question.rstrip("?") + " ?"
    del words[rng.randrange(1, len(words) - 1)]
    return " ".join(words)


def _times(config: SynthConfig, rng: random.Random) -> list[float]:
    hour = config.minutes_before * 60
    burst = round(config.requests * config.burst_share)
    times = [hour + rng.uniform(0, config.burst_s) for _ in range(burst)]
    times += [rng.uniform(0, config.span_s) for _ in range(config.requests - burst)]
    return sorted(times)


def generate(config: SynthConfig = SynthConfig()) -> list[dict[str, object]]:
    """The log's lines, in time order."""
    rng = random.Random(config.seed)
    questions, pairs = _library()
    mapped = UserMap(dataset_users(None))
    names = [f"syn-{i + 1:02d}" for i in range(config.users)]
    library = {u: mapped(u) or "" for u in names}
    ranked = {u: rng.sample(questions[library[u]], len(questions[library[u]])) for u in names}
    asked: dict[str, list[str]] = defaultdict(list)
    start = (datetime.fromisoformat(config.start_day).replace(hour=10, tzinfo=UTC)
             - timedelta(minutes=config.minutes_before))
    rows: list[tuple[float, str, str]] = []
    weights = [1 / (i + 1) for i in range(config.users)]
    for t in _times(config, rng):
        user = rng.choices(names, weights)[0]
        pool = ranked[user]
        kind = rng.random()
        if not asked[user] or kind < config.novel_share:
            fresh = [q for q in pool if q not in asked[user]] or pool
            question = fresh[0]
        elif kind < config.novel_share + config.paraphrase_share and pairs.get(library[user]):
            a, b = rng.choice(pairs[library[user]])
            question = b if a in asked[user] else a
        elif kind < config.novel_share + config.paraphrase_share + config.edit_share:
            question = rng.choice(pool)
            rows.append((t, user, _slip(question, rng)))
            t += rng.uniform(3, 10)  # corrected a few seconds later
        else:
            ranks = [1 / (r + 1) ** config.zipf_s for r in range(len(pool))]
            question = rng.choices(pool, ranks)[0]
        asked[user].append(question)
        rows.append((t, user, question))
    rows.sort(key=lambda r: r[0])
    return [{"ts": (start + timedelta(seconds=round(t, 3))).isoformat(), "user": user,
             "question": question, "outcome": "synthetic", "cost_usd": 0.0}
            for t, user, question in rows]


def write(path: Path, config: SynthConfig = SynthConfig()) -> int:
    lines = generate(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines),
                    encoding="utf-8")
    return len(lines)


def repeat_share(lines: list[dict[str, object]]) -> float:
    """The share of lines whose user asked the same text before."""
    seen: set[tuple[object, object]] = set()
    repeats = 0
    for row in lines:
        key = (row["user"], row["question"])
        repeats += key in seen
        seen.add(key)
    return repeats / len(lines) if lines else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.replay.synthetic",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=BUNDLED)
    parser.add_argument("--requests", type=int, default=SynthConfig.requests)
    parser.add_argument("--users", type=int, default=SynthConfig.users)
    parser.add_argument("--span-s", type=float, default=SynthConfig.span_s)
    parser.add_argument("--seed", type=int, default=SynthConfig.seed)
    args = parser.parse_args(argv)
    config = SynthConfig(users=args.users, requests=args.requests, span_s=args.span_s,
                         seed=args.seed)
    written = write(args.out, config)
    print(f"wrote {written} lines to {args.out} "
          f"({repeat_share(generate(config)):.0%} repeats)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
