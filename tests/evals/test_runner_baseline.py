"""A dataset run judged against its own baseline, end to end with a real kernel: a tiny
notebook named ``quality`` writes the rows the quality notebook writes; the first run writes
``baseline.json`` and passes, a worse run names its newly failing questions (exit 1), compare
lists them before its metrics, the JUnit file holds them, and a tune run writes no report."""

import io
import xml.etree.ElementTree as ET

import pytest

from evals import cli, runner
from tests.evals_tiny import tiny_quality

pytestmark = pytest.mark.slow

GATES = """
[[gate]]
name = "quality.cross_user_leaks"
op = "eq"
value = 0
reason = "golden: 0 of 226 (tenancy is absolute)"

[[gate]]
name = "quality.leak_rate"
op = "eq"
value = 0
reason = "golden: 0 of 226"

[[gate]]
name = "quality.semantic_similarity"
op = "ge"
value = 0.99
reason = "measured on the golden sermons: fits no other data"
"""

@pytest.fixture
def setup(tmp_path):
    from evals.datasets.example import write_example

    spec = tiny_quality(tmp_path)
    gates = tmp_path / "gates.toml"
    gates.write_text(GATES)
    data = write_example(tmp_path / "coop")
    return spec, gates, tmp_path / "reports", data


def _run(setup, profile="ci", **kw):
    spec, gates, reports, data = setup
    return runner.run(runner.RunOptions(profile=profile, notebooks=[spec], gates_file=gates,
                                        reports_dir=reports, stream=io.StringIO(),
                                        dataset=str(data), **kw))


def test_a_dataset_is_judged_against_its_own_baseline(setup, tmp_path, capsys):
    _, _, reports, _ = setup
    first = _run(setup)
    assert first.exit_code == 0  # the golden similarity threshold does not apply here
    assert (reports / "coop" / "baseline.json").is_file()
    assert {g.name for g in first.gates} >= {"quality.cross_user_leaks", "quality.recall_at_5"}
    assert "quality.semantic_similarity" not in {g.name for g in first.gates}
    # a rate over questions carries its count and 95 % interval in the gate table
    assert first.report.counts["quality.leak_rate"] == (0, 30)
    assert ("| `quality.leak_rate` | 0.0 % | 0 of 30 (0 %, 95 % interval 0-11 %) |"
            in (reports / "coop" / "summary.md").read_text())

    worse = _run(setup, overrides={"misses": 3}, junit_xml=tmp_path / "junit.xml")
    assert worse.exit_code == 1
    failing = [f.id for f in worse.judged.verdict.newly_failing]
    assert failing == ["coop-qa-001", "coop-qa-002", "coop-qa-003"]
    lines = worse.judged.console_lines()
    assert lines[0] == "newly failing: coop-qa-001 coop-qa-002 coop-qa-003"
    assert any("before: answer 0 found" in line for line in lines)
    assert any("after:  answer 0 lost" in line for line in lines)
    text = (reports / "coop" / "summary.md").read_text()
    assert "## Questions that flipped against the baseline" in text
    assert "passed every check: 27 of 30" in text

    page = (reports / "coop" / "index.html").read_text()
    flipped = page.split("<h2>Questions that flipped")[1].split("<h2>Every question")[0]
    assert all(f'id="q-{qid}"' in flipped for qid in failing)
    assert page.count('data-state="fail"') == 3 + 3  # the flips, then among every question

    suites = {s.get("name"): s for s in ET.parse(tmp_path / "junit.xml").getroot()}
    names = {c.get("name") for c in suites["questions"]}
    assert {n.rsplit(" [", 1)[1].rstrip("]") for n in names} == set(failing)
    assert "Where is the spoke tension meter kept? [coop-qa-002]" in names  # its text first
    assert "baseline.newly_failing_questions" in {c.get("name") for c in suites["gates"]}

    code = cli.main(["compare", first.summary.run.id, worse.summary.run.id,
                     "--reports-dir", str(reports)])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.index("Newly failing (3)") < printed.index("## Metrics")
    assert "within noise" in printed or "beyond noise" in printed

    # the baseline stays the first run's; --no-baseline skips it
    assert _run(setup, overrides={"misses": 3}, baseline=None).exit_code == 0


def test_a_tune_run_on_a_dataset_writes_only_its_own_run(setup):
    _, _, reports, _ = setup
    result = _run(setup, profile="tune")
    assert not (reports / "coop" / "summary.json").exists()
    assert not (reports / "coop" / "baseline.json").exists()
    assert result.paths["json"].parent.parent.name == "runs"
