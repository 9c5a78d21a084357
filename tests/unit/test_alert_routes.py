"""Alerts reach someone: docker-compose's ``observability`` profile runs an Alertmanager with
the routes of ``deploy/alertmanager/alertmanager.yml``, Prometheus sends to it, and every
severity the alert rules use is routed to its own receiver (checked by Alertmanager's own
``amtool``). No Docker engine here: compose is checked by parsing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from promtool import tool

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
AM_HINT = "install Debian's prometheus-alertmanager package (make tools)"


def severities() -> set[str]:
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    return {r["labels"]["severity"] for g in rules["groups"] for r in g["rules"]
            if "alert" in r}


def test_compose_runs_alertmanager_with_the_routes_and_prometheus_sends_to_it() -> None:
    spec = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    am = spec["services"]["alertmanager"]
    assert am["profiles"] == ["observability"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in am["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in am["command"]
    assert "alertmanager" in spec["services"]["prometheus"]["depends_on"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = scrape["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


def test_each_severity_goes_to_its_own_receiver_with_a_webhook() -> None:
    amtool = tool("amtool", AM_HINT)
    check = subprocess.run([amtool, "check-config", str(CONFIG)], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    config = yaml.safe_load(CONFIG.read_text())
    hooks = {r["name"]: r.get("webhook_configs", []) for r in config["receivers"]}
    routed = {}
    for severity in severities():
        found = subprocess.run([amtool, "config", "routes", "test",
                                f"--config.file={CONFIG}", f"severity={severity}",
                                "alertname=Any"], capture_output=True, text=True, timeout=60)
        routed[severity] = found.stdout.strip()
    assert routed == {"page": "pager", "ticket": "tickets"}
    assert all(hooks[name] and hooks[name][0]["url"].startswith("http") for name in
               routed.values())
