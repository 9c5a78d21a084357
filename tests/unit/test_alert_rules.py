"""The operator's kit: alert rules checked and unit-tested with promtool at their real windows,
every rule and dashboard panel on metrics the app really exports, a runbook section per alert."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from promtool import DEPLOY, ROOT, exported_names, metric_names, promtool

RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARD = DEPLOY / "grafana" / "rag_core.json"
RUNBOOK = ROOT / "docs" / "runbook.md"
# The alerts the service has had from the start (issue 13): the error rate, slow answers, an open
# breaker, the day's LLM cost, a low cache hit rate, truncated questions and a user over the
# daily budget, by the name each has in alerts.yml.
SEED_ALERTS = {"RagCoreHighErrorRate", "RagCoreSlowAnswers", "LLMCircuitBreakerOpen",
               "DailyLLMCostHigh", "CacheHitRateLow", "QueryTruncationHigh",
               "UserDailyBudgetExceeded"}
PROMETHEUS_SERIES = {"up"}  # made by Prometheus itself


def rules() -> list[dict[str, object]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> list[dict[str, object]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded() -> set[str]:
    """The series the recording rules make (``answer_quality_score``)."""
    return {str(rule["record"]) for rule in rules() if "record" in rule}


def panel_exprs() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"]
            for target in panel.get("targets", [])]  # a row has none


def test_promtool_check_rules() -> None:
    out = promtool("check", "rules", str(RULES))
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(rules())} rules found" in out.stdout


def test_promtool_check_config(tmp_path: Path) -> None:
    """The shipped config, with the secret's path (mounted by compose) pointing at a file here:
    promtool checks that the credentials file exists."""
    folder = DEPLOY / "prometheus"
    config = (folder / "prometheus.yml").read_text()
    assert "/run/secrets/metrics_token" in config
    secret = tmp_path / "metrics_token"
    secret.write_text("a-token\n")
    for extra in folder.iterdir():
        if extra.name != "prometheus.yml" and extra.is_file():
            (tmp_path / extra.name).write_text(extra.read_text())
    copy = tmp_path / "prometheus.yml"
    copy.write_text(config.replace("/run/secrets/metrics_token", str(secret)))
    out = promtool("check", "config", str(copy))
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_test_rules() -> None:
    out = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    fired: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check["exp_alerts"] else silent).add(check["alertname"])
    names = {str(rule["alert"]) for rule in alerts()}
    assert names >= SEED_ALERTS
    assert fired == names and silent == names


def test_rules_use_exported_metrics_and_no_user_label() -> None:
    exported = exported_names() | PROMETHEUS_SERIES
    for rule in rules():
        name, expr = rule.get("alert") or rule["record"], str(rule["expr"])
        assert metric_names(expr), name
        # an alert may read a recorded series; a recording rule reads what the app exports
        known = exported | (recorded() if "alert" in rule else set())
        assert metric_names(expr) <= known, (name, metric_names(expr) - known)
        assert "user" not in re.findall(r"\b(\w+)\s*=~?", expr)


def test_every_alert_has_a_runbook_section() -> None:
    headings = {line[3:].strip() for line in RUNBOOK.read_text().splitlines()
                if line.startswith("## ")}
    for rule in alerts():
        name = str(rule["alert"])
        assert name in headings, name
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["runbook_url"] == f"docs/runbook.md#{name.lower()}"
        assert rule["labels"]["severity"] in ("page", "ticket")  # type: ignore[index]


def test_metric_names_reads_promql() -> None:
    assert metric_names('sum by (le) (rate(a_bucket{route=~"/v1/.*", x="y"}[5m])) > 0.05') \
        == {"a_bucket"}
    assert metric_names("max by (name) (b) >= 1 and on(job) up == 0") == {"b", "up"}
    assert metric_names("histogram_quantile(0.99, c_bucket) offset 5m") == {"c_bucket"}


# --- the dashboard -------------------------------------------------------------------------------

SEED_PANELS = {  # what the seeds ask for, and a metric each such panel must show
    "latency percentiles": "assistant_request_duration_seconds_bucket",
    "throughput": "assistant_requests_total",
    "hit rate per layer": "cache_hits_total",
    "errors": "assistant_errors_total",
    "cost per hour": "api_cost_total_dollars",
    "tokens": "api_tokens_used_total",
    "breaker state": "circuit_breaker_state",
}


def test_dashboard_has_the_seeds_panels() -> None:
    used = set().union(*(metric_names(expr) for _, expr in panel_exprs()))
    for panel, metric in SEED_PANELS.items():
        assert metric in used, panel
    titles = [panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"]]
    assert len(titles) == len(set(titles))


def test_dashboard_expressions_parse_and_use_exported_metrics(tmp_path: Path) -> None:
    exported = exported_names() | recorded()
    rules = []
    for n, (title, expr) in enumerate(panel_exprs()):
        assert metric_names(expr) <= exported, (title, metric_names(expr) - exported)
        rules.append({"record": f"dashboard:panel_{n}",
                      "expr": expr.replace("$__rate_interval", "5m")})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    out = promtool("check", "rules", str(path))  # promtool parses every expression
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("bad", ["sum(rate(x[5m])", "rate(x)"])
def test_promtool_refuses_bad_expressions(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "r", "expr": bad}]}]}))
    assert promtool("check", "rules", str(path)).returncode != 0


def test_dashboard_shows_spent_beside_saved() -> None:
    both = set().union(*(metric_names(expr) for title, expr in panel_exprs()
                         if title == "Spent vs saved per hour"))
    assert {"api_cost_total_dollars", "cache_saved_dollars_total"} <= both
