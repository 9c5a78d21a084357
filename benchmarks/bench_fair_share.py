"""One user's flood of free answers against another user's new questions (issue 61), through a
real ``rag-core serve --workers 2`` in the ``prod`` profile with the per-minute, hour and day
limits and the global hourly limit off and the in-flight limit (4) and the fair queue at their
defaults, so that fairness is measured rather than rate limiting. Figures, not a test.

- the victim (one golden user) asks a new question once a second, answered by ``rag-core
  mock-llm`` at 200 ms;
- the flooder (another golden user) runs ``--clients`` concurrent clients for ``--flood-s``
  seconds, alternating an exact cache hit and a new 1,000-character question about nothing in
  their notes at ``top_k`` 50; each client sends its next question when an answer arrives, and
  50 ms after a refusal (429 ``in_flight``);
- three phases of the same length in one run: quiet (the victim alone), flood, and flood beside a
  CPU-bound job (one process spinning). Reported: the victim's p50/p99 per phase and the ratio
  of the flood's p99 to the quiet p99 (goal: at most 1.5 on a quiet machine), the flooder's
  answers and refusals per second, and the machine's load average at the start.

    python benchmarks/bench_fair_share.py [--short] [--clients 16] [--flood-s 60] [--work-slots N]
                                           [--json out]

``--short``: 8 clients, 20 s phases, for a busy machine.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from evals.load import limits
from evals.load.stack import LoadConfig, running_stack
from loadtests import traffic

VICTIM, FLOODER = "amara", "ben"
LIMITS = {"RAG_PROFILE": "prod", "RAG_RATE_LIMIT_PER_MINUTE": "0", "RAG_RATE_LIMIT_PER_HOUR": "0",
          "RAG_RATE_LIMIT_PER_DAY": "0", "RAG_MAX_QUERIES_PER_HOUR": "0",
          "RAG_USER_MAX_IN_FLIGHT": "4", "RAG_MAX_CONCURRENT_QUERIES": "100"}
OPENINGS = ("", "Please tell me: ", "From my notes, ", "Quick question: ", "Remind me: ",
            "I wonder, ", "Help me remember: ", "One more: ")
FILLER = ("Tell me everything about the orbital mechanics of distant comets, the chemistry of "
          "deep sea vents and the history of medieval shipbuilding ")


def nothing_question(n: int) -> str:
    """A new 1,000-character question that nothing in the notes answers."""
    text = f"Question {n}: " + FILLER * 8
    return text[:1000]


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Victim(threading.Thread):
    """A new question once a second until ``stop``; times every answer."""

    def __init__(self, url: str, token: str, questions: list[str], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.stop, self.questions = url, stop, questions
        self.headers = {"Authorization": f"Bearer {token}"}
        self.times: list[tuple[str, float]] = []  # (phase, ms)
        self.outcomes: Counter[str] = Counter()
        self.phase = "quiet"
        self.counter = itertools.count()

    def run(self) -> None:
        with httpx.Client(timeout=60) as client:
            next_at = time.monotonic()
            while not self.stop.is_set():
                n = next(self.counter)
                # the golden questions, each round with another opening: new to the caches
                opening = OPENINGS[(n // len(self.questions)) % len(OPENINGS)]
                question = opening + self.questions[n % len(self.questions)]
                started = time.perf_counter()
                r = client.post(f"{self.url}/v1/query", json={"query": question},
                                headers=self.headers)
                ms = (time.perf_counter() - started) * 1000
                outcome = traffic.classify(r.status_code, dict(r.headers), _json(r))
                self.outcomes[f"{self.phase}:{outcome.label}"] += 1
                if outcome.failure is None and outcome.label != "limited":
                    self.times.append((self.phase, ms))
                next_at += 1.0
                self.stop.wait(max(0.0, next_at - time.monotonic()))


def _json(r: httpx.Response) -> object:
    try:
        return r.json()
    except ValueError:
        return None


def flood(url: str, token: str, hit: str, stop: threading.Event, tally: Counter[str],
          lock: threading.Lock, seq: itertools.count[int]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60) as client:
        while not stop.is_set():
            n = next(seq)
            body = ({"query": hit} if n % 2 else
                    {"query": nothing_question(n), "top_k": 50})
            r = client.post(f"{url}/v1/query", json=body, headers=headers)
            outcome = traffic.classify(r.status_code, dict(r.headers), _json(r))
            with lock:
                tally[outcome.label] += 1
            if outcome.label == "limited":
                stop.wait(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--flood-s", type=float, default=60.0)
    parser.add_argument("--work-slots", type=int, default=0, metavar="N",
                        help="RAG_WORK_SLOTS of the app (0, the default: the CPUs of each "
                             "worker; a large N lets every admitted question work at once, "
                             "the service before work slots)")
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    clients, phase_s = (8, 20.0) if args.short else (args.clients, args.flood_s)
    out = Path(tempfile.mkdtemp(prefix="fair", dir="/tmp"))
    env = {**LIMITS, "RAG_WORK_SLOTS": str(args.work_slots)}
    config = LoadConfig(workers=2, mock_latency_ms=200.0, warm_up_requests=8,
                        golden_users=(VICTIM, FLOODER), output_dir=str(out), label="fair",
                        extra_env=env)
    print(limits.describe(LIMITS), "| in-flight 4, fair queue on, prod profile, work slots",
          args.work_slots or "auto (CPUs per worker)", flush=True)
    load_at_start = os.getloadavg()
    with running_stack(config, out) as stack:
        tokens = json.loads(Path(stack["tokens"]).read_text())
        bank = traffic.QuestionBank.from_items(traffic.load_items(qa_file=stack["qa_file"]))
        url = stack["app_url"]
        hit = bank.answerable[FLOODER][0]
        httpx.post(f"{url}/v1/query", json={"query": hit},
                   headers={"Authorization": f"Bearer {tokens[FLOODER]}"}, timeout=60)
        stop_victim = threading.Event()
        victim = Victim(url, tokens[VICTIM], list(bank.answerable[VICTIM]), stop_victim)
        victim.start()
        time.sleep(phase_s)  # quiet
        tallies: dict[str, Counter[str]] = {}
        for phase in ("flood", "flood+cpu"):
            victim.phase = phase
            spinner = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                       if phase == "flood+cpu" else None)
            stop, lock, tally = threading.Event(), threading.Lock(), Counter[str]()
            seq = itertools.count()
            threads = [threading.Thread(target=flood, daemon=True,
                                        args=(url, tokens[FLOODER], hit, stop, tally, lock, seq))
                       for _ in range(clients)]
            for t in threads:
                t.start()
            time.sleep(phase_s)
            stop.set()
            for t in threads:
                t.join(timeout=120)
            if spinner is not None:
                spinner.kill()
                spinner.wait()
            tallies[phase] = tally
        stop_victim.set()
        victim.join(timeout=120)
    figures: dict[str, object] = {"clients": clients, "phase_s": phase_s,
                                  "load_average_at_start": [round(x, 2) for x in load_at_start],
                                  "work_slots": args.work_slots, **limits.stated(LIMITS)}
    for phase in ("quiet", "flood", "flood+cpu"):
        ms = [m for ph, m in victim.times if ph == phase]
        figures[f"victim_{phase}_n"] = len(ms)
        figures[f"victim_{phase}_p50_ms"] = round(p(ms, 0.5), 1)
        figures[f"victim_{phase}_p95_ms"] = round(p(ms, 0.95), 1)
        figures[f"victim_{phase}_p99_ms"] = round(p(ms, 0.99), 1)
        figures[f"victim_{phase}_max_ms"] = round(max(ms), 1) if ms else None
    quiet = float(figures["victim_quiet_p99_ms"])  # type: ignore[arg-type]
    for phase in ("flood", "flood+cpu"):
        figures[f"victim_{phase}_p99_over_quiet"] = round(
            float(figures[f"victim_{phase}_p99_ms"]) / quiet, 2)  # type: ignore[arg-type]
        tally = tallies[phase]
        figures[f"flooder_{phase}_answers_per_s"] = round(
            sum(v for k, v in tally.items() if k not in ("limited", "error")) / phase_s, 1)
        figures[f"flooder_{phase}_limited_per_s"] = round(tally["limited"] / phase_s, 1)
        figures[f"flooder_{phase}_errors"] = tally["error"]
    figures["victim_outcomes"] = dict(victim.outcomes)
    figures["victim_median_of_all_ms"] = round(statistics.median(m for _, m in victim.times), 1)
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
