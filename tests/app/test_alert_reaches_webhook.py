"""A real alert reaches a person's webhook: Prometheus (Debian's) evaluates the real rules of
``deploy/prometheus/alerts.yml`` against an app it cannot scrape, so ``RagCoreDown`` fires; it
sends the alert to Alertmanager (Debian's ``prometheus-alertmanager``) running the real routes
of ``deploy/alertmanager/alertmanager.yml``, which posts it to the ``pager`` receiver's webhook:
here a local HTTP server of the test.

Only what a test cannot wait for is changed: the alert's ``for:`` (2 minutes) and the route's
``group_wait`` (30 s) are shortened to a second, and the receivers' URLs name the local
webhook. Every step waits on a condition with a generous deadline.
"""

from __future__ import annotations

import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from promtool import DEPLOY, tool
from served_app import free_port, kill_group, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALERT = "RagCoreDown"
AM_HINT = "install Debian's prometheus-alertmanager package (make tools)"


@dataclass
class Webhook:
    """A local receiver: every JSON body posted to it, with the path it came to."""

    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [a for p, body in self.received if p == path for a in body["alerts"]]


@pytest.fixture
def webhook() -> Iterator[tuple[str, Webhook]]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                hook.received.append((self.path, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hook
    server.shutdown()
    server.server_close()


def alertmanager_config(path: Path, hook_url: str) -> None:
    """The real routes, with the receivers posting to ``hook_url`` and no 30 s group wait."""
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    config["route"]["group_wait"] = "1s"
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = hook_url + "/alerts/" + hook["url"].rsplit("/", 1)[1]
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def rules(path: Path) -> None:
    """The real rules, ``RagCoreDown``'s ``for:`` shortened, evaluated every second."""
    data = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    found = 0
    for group in data["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule.get("alert") == ALERT:
                rule["for"] = "1s"
                found += 1
    assert found == 1
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def start(args: list[str], work: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = work / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(args, cwd=work, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log_path


def test_a_firing_page_alert_arrives_at_the_pager_webhook(
        webhook: tuple[str, Webhook], short_tmp: Path) -> None:
    alertmanager_bin = tool("prometheus-alertmanager", AM_HINT)
    prometheus_bin = tool("prometheus")
    hook_url, hook = webhook
    work = short_tmp / f"am{uuid.uuid4().hex[:6]}"
    work.mkdir()
    alertmanager_config(work / "alertmanager.yml", hook_url)
    rules(work / "alerts.yml")
    am_port, prom_port, dead_port = free_port(), free_port(), free_port()
    (work / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "alerts.yml")],
        "alerting": {"alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        # nothing listens there: the app is down, as RagCoreDown says
        "scrape_configs": [{"job_name": "rag_core", "metrics_path": "/metrics",
                            "static_configs": [{"targets": [f"127.0.0.1:{dead_port}"]}]}],
    }))
    procs = []
    try:
        am, am_log = start([alertmanager_bin, f"--config.file={work / 'alertmanager.yml'}",
                            f"--storage.path={work / 'am-data'}",
                            f"--web.listen-address=127.0.0.1:{am_port}",
                            "--cluster.listen-address="], work, "alertmanager")
        procs.append(am)
        wait_for("Alertmanager to be ready", lambda: httpx.get(
            f"http://127.0.0.1:{am_port}/-/ready", timeout=5).status_code == 200,
            deadline_s=120, log=am_log)
        prom, prom_log = start([prometheus_bin, f"--config.file={work / 'prometheus.yml'}",
                                f"--storage.tsdb.path={work / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{prom_port}"], work,
                               "prometheus")
        procs.append(prom)
        paged = wait_for(f"{ALERT} to reach the pager webhook",
                         lambda: [a for a in hook.alerts("/alerts/page")
                                  if a["labels"]["alertname"] == ALERT] or None,
                         deadline_s=240, log=prom_log)
    finally:
        for proc in procs:
            kill_group(proc)
    alert = paged[0]
    assert alert["status"] == "firing" and alert["labels"]["severity"] == "page"
    assert alert["annotations"]["runbook_url"] == "docs/runbook.md#ragcoredown"
    assert hook.alerts("/alerts/ticket") == []  # a page goes to the pager only
