"""The ci profile's goodput gate catches a slow server: the bundled log replayed at the ci
profile's speed on the load test's stack whose mock model answers after more than the SLO of
an answer the pipeline makes. Only the cached answers still count (the rest are answered late
or, waiting past the fair queue's 1 s for a thread, shed), and ``load.replay_goodput`` fails
its gate (evals/gates.toml). The pass side of the gate is its measured spread."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals import gates
from evals.jsonish import number
from evals.load.replay_load import run_replay_load
from evals.load.stack import LoadConfig
from evals.paths import GATES_FILE
from evals.profiles import find
from evals.replay.report import Slo


@pytest.mark.integration
@pytest.mark.slow
def test_a_replay_against_a_slowed_server_fails_the_goodput_gate(tmp_path: Path) -> None:
    ci = find("load").profile_params("ci")
    slo = Slo(number(ci.get("slo_miss_s", 5.0)), number(ci.get("slo_cached_s", 1.0)))
    config = LoadConfig(users=int(number(ci["users"])), workers=int(number(ci["workers"])),
                        mock_latency_ms=slo.miss_s * 1000 + 1500,  # slowed past the SLO
                        state_dir=str(tmp_path / "state"), output_dir=str(tmp_path / "out"),
                        warm_up_requests=0, stop_services=True, label="slowed")
    done = run_replay_load(config, str(ci["replay_log"]), [number(ci["replay_speed"])], slo=slo)
    figures = done.figures()
    # every question answered late or refused with Retry-After (a question that cannot get a
    # thread and a work slot within the fair queue's 1 s is shed): none lost, none timed out
    sent = int(number(figures["replay_requests"]))
    answered = round(number(figures["replay_answered_share"]) * sent)
    assert answered + int(number(figures["replay_limited"])) == sent
    [gate] = [g for g in gates.load_gates(GATES_FILE, "ci") if g.name == "load.replay_goodput"]
    [result] = gates.evaluate([gate], {gate.name: figures["replay_goodput"]}, ran=["load"])
    assert result.status == "failed", f"goodput {figures['replay_goodput']} passed {gate}"
    assert number(figures["replay_goodput"]) <= number(figures["replay_hit_rate"])  # hits only
