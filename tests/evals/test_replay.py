"""``python -m evals replay``'s pure parts: reading a log (both forms, bad lines counted, never
a traceback), mapping users, classifying answers, the report's figures and goodput, the
bundled synthetic log, and the command's errors. The replay through the app is
tests/app/test_replay_app.py."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from evals.cli import main as evals_main
from evals.replay.logs import Problems, UserMap, read_asks, seconds_of
from evals.replay.report import Slo, summarise, write
from evals.replay.run import highest_holding, limits_statement
from evals.replay.send import Sent, outcome_of
from evals.replay.synthetic import BUNDLED, SynthConfig, generate, repeat_share

USERS = UserMap(["amara", "ben", "chloe", "david"])


def lines(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_both_forms_are_read_at_their_offsets(tmp_path: Path) -> None:
    log = lines(tmp_path / "log.jsonl", [
        {"ts": "2026-11-01T10:00:00+00:00", "user": "a1b2", "question": "Who?",
         "outcome": "llm", "cost_usd": 0.001},
        {"ts": 1793527205.5, "user_id": "amara", "question": "When?"},  # 10:00:05.5 UTC
        {"ts": "2026-11-01T10:00:09", "user_id": "ben", "question": "Why?"},  # naive: UTC
    ])
    problems = Problems()
    asks = list(read_asks(log, USERS, 1000, problems))
    assert [a.offset_s for a in asks] == [0.0, 5.5, 9.0]
    assert [a.question for a in asks] == ["Who?", "When?", "Why?"]
    assert all(a.user in USERS.users for a in asks) and not problems.counts


def test_bad_lines_are_counted_and_skipped_never_raised(tmp_path: Path) -> None:
    log = lines(tmp_path / "log.jsonl", [
        {"ts": 100, "user_id": "u1", "question": "first"},
        "not json at all",
        {"user_id": "u1", "question": "no time"},
        {"ts": "yesterday", "user_id": "u1", "question": "bad time"},
        {"ts": 101, "question": "nobody"},
        {"ts": 102, "user_id": "u1", "question": "  "},
        {"ts": 103, "user_id": "u1", "question": "x" * 1001},
        {"ts": 104, "user_id": "u1", "question": "late"},
        {"ts": 90, "user_id": "u1", "question": "out of order"},
        "[1, 2]",
        {"ts": 105, "user": "u1", "note_id": "n1", "event": "edit"},  # notebook 03's edits
    ])
    problems = Problems()
    asks = list(read_asks(log, USERS, 1000, problems))
    assert [a.question for a in asks] == ["first", "late", "out of order"]
    assert asks[-1].offset_s == asks[-2].offset_s == 4.0  # sent at once, never back in time
    assert dict(problems.counts) == {"not_json": 2, "no_timestamp": 2, "no_user": 1,
                                     "no_question": 1, "too_long": 1, "out_of_order": 1}
    assert problems.first_line["no_timestamp"] == 3
    assert any("too_long: 1 line(s), first at line 7" in d for d in problems.describe())


def test_users_map_by_hash_onto_the_dataset_or_are_kept(tmp_path: Path) -> None:
    mapped = [USERS(f"prod-user-{i}") for i in range(40)]
    assert set(mapped) == set(USERS.users)  # every dataset user gets some
    assert USERS("prod-user-3") == USERS("prod-user-3")  # stable
    kept = UserMap(["amara", "ben"], keep=True)
    log = lines(tmp_path / "log.jsonl", [{"ts": 1, "user_id": "amara", "question": "q"},
                                         {"ts": 2, "user_id": "zed", "question": "q"}])
    problems = Problems()
    assert [a.user for a in read_asks(log, kept, 1000, problems)] == ["amara"]
    assert problems.counts["unknown_user"] == 1


def test_timestamps_in_either_form() -> None:
    assert seconds_of("1970-01-01T00:01:00Z") == 60.0
    assert seconds_of("60") == 60.0
    assert seconds_of(True) is None and seconds_of("") is None and seconds_of(None) is None


@pytest.mark.parametrize(("status", "body", "outcome", "layer"), [
    (200, {"cache": {"query": "hit"}, "cost_usd": 0.0}, "hit", "query"),
    (200, {"cache": {"query": "semantic_hit"}}, "hit", "semantic"),
    (200, {"cache": {"query": "miss"}, "cost_usd": 0.002}, "miss", ""),
    (200, {"cache": {"query": "miss"}, "no_context": True}, "no-context", ""),
    (200, {"cache": {"query": "miss"}, "stale": True}, "degraded", "stale"),
    (429, {"error": {"code": "RATE_LIMITED"}}, "limited", ""),
    (503, {"error": {"code": "OVERLOADED"}}, "limited", ""),
    (503, {"error": {"code": "LLM_UNAVAILABLE"}}, "degraded", ""),
    (401, {"error": {"code": "UNAUTHORIZED"}}, "refused", ""),
    (500, b"<html>", "error", ""),
])
def test_each_answer_has_one_outcome(status: int, body: object, outcome: str,
                                     layer: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    got = outcome_of(status, raw)
    assert (got[0], got[1]) == (outcome, layer)


def sent(outcome: str, latency: float, *, at: float = 0.0, layer: str = "", status: int = 200,
         cost: float = 0.0) -> Sent:
    return Sent(1, "amara", at, at, at + latency / 2, at + latency, status, outcome, layer, cost)


def test_goodput_counts_each_request_against_its_own_slo(tmp_path: Path) -> None:
    requests = [sent("hit", 0.2, layer="query"), sent("hit", 1.5, layer="query", at=1),
                sent("miss", 4.0, at=1, cost=0.002), sent("miss", 6.0, at=2, cost=0.002),
                sent("no-context", 0.5, at=2), sent("limited", 0.01, at=3, status=429),
                sent("degraded", 0.3, layer="stale", at=3)]
    report = summarise(requests, Problems(), log="l", server="s", speed=2.0, cold=False,
                       limits="none", slo=Slo())
    assert report.goodput == round(4 / 7, 4)  # hit 0.2, miss 4.0, no-context, stale 0.3
    assert report.sent == 7 and report.answered == 6
    assert report.hit_rate == round(2 / 6, 4)
    assert report.dollars_per_1000 == pytest.approx(0.004 / 7 * 1000, rel=1e-4)
    assert {o.outcome: o.count for o in report.outcomes} == {
        "hit": 2, "miss": 2, "no-context": 1, "limited": 1, "degraded": 1}
    assert [(s.offered, s.answered) for s in report.seconds][:2] == [(1, 1), (2, 0)]
    loose = summarise(requests, Problems(), log="l", server="s", speed=2.0, cold=False,
                      limits="none", slo=Slo(miss_s=10, cached_s=2))
    assert loose.goodput == round(6 / 7, 4)  # all but the limited one
    paths = write(report, requests, tmp_path / "out")
    with paths["requests"].open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 7 and {"send_s", "first_byte_s", "last_byte_s", "status", "outcome",
                               "cache_layer"} <= set(rows[0])
    assert "goodput 57.1%" in paths["markdown"].read_text(encoding="utf-8")


def test_the_highest_speed_holding_the_goodput_target() -> None:
    def at(speed: float, goodput: float) -> object:
        report = summarise([sent("hit", 0.1, layer="query")], Problems(), log="l", server="s",
                           speed=speed, cold=False, limits="", slo=Slo())
        report.goodput = goodput
        return report

    reports = [at(1, 1.0), at(10, 0.995), at(30, 0.9)]
    assert highest_holding(reports, 0.99) == 10  # type: ignore[arg-type]
    assert highest_holding(reports[2:], 0.99) is None  # type: ignore[arg-type]


def test_the_bundled_log_is_the_generators_with_enough_repeats() -> None:
    made = generate(SynthConfig())
    bundled = [json.loads(line) for line in BUNDLED.read_text(encoding="utf-8").splitlines()]
    assert bundled == made
    assert len(made) >= 100 and repeat_share(made) >= 0.10
    assert set(made[0]) == {"ts", "user", "question", "outcome", "cost_usd"}
    hours = [str(r["ts"])[11:16] for r in made]
    assert hours.count("10:00") > len(made) / 3  # the burst after the hour


def test_the_limits_a_run_stands_under_are_stated() -> None:
    assert "none set here" in limits_statement({})
    stated = limits_statement({"RAG_RATE_LIMIT_PER_MINUTE": "0", "RAG_USER_MAX_IN_FLIGHT": "4"})
    assert stated == "request limits: RAG_RATE_LIMIT_PER_MINUTE=0, RAG_USER_MAX_IN_FLIGHT=4"


def test_the_command_says_what_is_wrong_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = lines(tmp_path / "log.jsonl", [{"ts": 1, "user_id": "u", "question": "q"}])
    monkeypatch.delenv("RAG_JWT_SECRET", raising=False)
    args = ["replay", str(log), "--server", "http://127.0.0.1:9", "--out", str(tmp_path / "o")]
    assert evals_main(args) == 2
    assert "error NO_JWT_SECRET" in capsys.readouterr().err
    monkeypatch.setenv("RAG_JWT_SECRET", "replay-test-secret-0123456789abcdef0123456789abcdef")
    assert evals_main(["replay", str(tmp_path / "none.jsonl"), *args[2:]]) == 2
    assert "error LOG_NOT_FOUND" in capsys.readouterr().err
    assert evals_main([*args, "--speed", "0"]) == 2
    assert "error INVALID_SPEED" in capsys.readouterr().err
    assert evals_main(args) == 3  # nothing listens on port 9
    assert "error SERVER_UNREACHABLE" in capsys.readouterr().err


def test_the_notebooks_figures_are_the_first_speeds_and_the_best() -> None:
    from evals.load.replay_load import ReplayLoad, replay_table

    def at(speed: float, goodput: float) -> object:
        report = summarise([sent("hit", 0.1, layer="query"), sent("miss", 2.0, at=1)],
                           Problems(), log="l", server="s", speed=speed, cold=False,
                           limits="", slo=Slo())
        report.goodput = goodput
        return report

    done = ReplayLoad("log.jsonl", [at(30, 1.0), at(60, 0.97)], best_speed=30.0)  # type: ignore[list-item]
    figures = done.figures()
    assert figures["replay_goodput"] == 1.0 and figures["replay_best_speed"] == 30.0
    assert figures["replay_hit_rate"] == 0.5 and figures["replay_requests"] == 2
    assert figures["replay_answered_share"] == 1.0
    assert figures["replay_miss_p99_ms"] == 2000.0 and figures["replay_limited"] == 0
    table = replay_table(done).splitlines()
    assert len(table) == 4 and table[2].startswith("| 30x |") and "| 0.970 |" in table[3]


def test_a_replay_runs_where_an_event_loop_already_runs(tmp_path: Path) -> None:
    """A notebook's kernel runs a loop: the replay then runs its own in a thread."""
    import asyncio

    from evals.replay.run import ReplayError, Setup, replay_log
    from rag_core.config import Settings

    log = lines(tmp_path / "log.jsonl", [{"ts": 1, "user_id": "u", "question": "q"}])
    settings = Settings(jwt_secret="replay-test-secret-0123456789abcdef0123456789abcdef")

    async def inside_a_loop() -> str:
        try:
            replay_log(log, "http://127.0.0.1:9", 1.0, None, Setup(), settings)
        except ReplayError as exc:
            return exc.code
        return "answered"

    assert asyncio.run(inside_a_loop()) == "SERVER_UNREACHABLE"
