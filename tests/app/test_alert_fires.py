"""A real Prometheus scrapes a running app (``rag-core serve``, real uvicorn) and an artificial
error burst makes ``RagCoreHighErrorRate`` fire.

The rules Prometheus loads are generated from ``deploy/prometheus/alerts.yml``: the same
expressions, with only the alert under test's ``for:`` shortened from 5 minutes to 10 seconds
(``promtool test rules`` covers the real windows). Scrapes and evaluations every second. Every
step waits on a condition with a generous deadline; the timeline is printed (``pytest -s``).
The dashboard's expressions are also evaluated by this Prometheus: each must parse and, but for
the budget panel (no budget was crossed), return data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml
from promtool import DEPLOY, tool
from served_app import ServedApp, clean_env, free_port, kill_group, serve, wait_for

from rag_core.api.auth import issue_token
from rag_core.config import Settings
from rag_core.redis_kv.keys import breaker_prefix
from tests.tags import question_tag

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ALERT = "RagCoreHighErrorRate"
TEST_FOR = "10s"
SECRET = "alert-test-secret-8f229f1d8ea34c598189687873015d1b94da7ebf4e46fc46"


@dataclass
class Timeline:
    start: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    def mark(self, what: str) -> None:
        self.events.append((round(time.monotonic() - self.start, 1), what))

    def __str__(self) -> str:
        return "\n".join(f"  t={t:7.1f} s  {what}" for t, what in self.events)


@dataclass
class Stack:
    app: ServedApp
    prometheus: str
    mock_url: str
    settings: Settings

    def ask(self, question: str) -> httpx.Response:
        token = issue_token(self.settings, "amara")
        return self.app.post("/v1/query", json={"query": question},
                             headers={"Authorization": f"Bearer {token}"})

    def query(self, expr: str) -> dict[str, Any]:
        r = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        body = r.json()
        assert body["status"] == "success", (expr, body)
        return dict(body["data"])

    def scalar(self, expr: str) -> float | None:
        result = self.query(expr)["result"]
        return float(result[0]["value"][1]) if result else None

    def alert(self, name: str) -> dict[str, Any] | None:
        r = httpx.get(f"{self.prometheus}/api/v1/alerts", timeout=10)
        for alert in r.json()["data"]["alerts"]:
            if alert["labels"]["alertname"] == name:
                return dict(alert)
        return None


def test_rules(path: Path) -> None:
    """The real rules with the alert under test's ``for:`` shortened."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    found = 0
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if rule.get("alert") == ALERT:
                assert rule["for"] == "5m"
                rule["for"] = TEST_FOR
                found += 1
    assert found == 1
    path.write_text(yaml.safe_dump(rules, sort_keys=False))


test_rules.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture(scope="module")
def stack(module_database_url: str, redis_server: Any, short_tmp: Path) -> Iterator[Stack]:
    from rag_core.devservers.mock_server import start_mock
    from rag_core.ingest.ingestion import ingest_path
    from rag_core.parts import build_parts

    prometheus_bin = tool("prometheus")
    work = short_tmp / f"al{uuid.uuid4().hex[:6]}"
    notes = work / "notes"
    notes.mkdir(parents=True)
    for i in (1, 2, 3, 4):
        shutil.copy(ROOT / "golden" / "notes" / "amara" / f"amara-00{i}.md", notes)
    settings = Settings(profile="ci", state_dir=work / "state", database_url=module_database_url,
                        redis_url=redis_server.url, jwt_secret=SECRET)
    parts = build_parts(settings)
    ingest_path(parts, "amara", notes, progress=False)
    parts.close()
    mock_url, stop_mock, _ = start_mock()
    env = clean_env(
        RAG_PROFILE="ci", RAG_STATE_DIR=str(work / "state"), DATABASE_URL=module_database_url,
        REDIS_URL=redis_server.url, RAG_JWT_SECRET=SECRET, RAG_LLM="hf",
        RAG_LLM_BASE_URL=f"{mock_url}/v1", RAG_LLM_MAX_RETRIES="0",
        RAG_SEMANTIC_CACHE_ENABLED="false", RAG_DB_POOL_MAX_SIZE="2",
        # the outage must end in 503s for the error-rate alert (degraded answers are 200s)
        RAG_LLM_FALLBACK="none")
    prom_proc: subprocess.Popen[bytes] | None = None
    try:
        with serve(work, env) as app:
            rules = work / "alerts.test.yml"
            test_rules(rules)
            config = work / "prometheus.yml"
            config.write_text(yaml.safe_dump({
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [{"job_name": "rag_core", "metrics_path": "/metrics",
                                    "static_configs": [{"targets": [f"127.0.0.1:{app.port}"]}]}],
            }))
            port = free_port()
            log_path = work / "prometheus.log"
            with open(log_path, "wb") as log:
                prom_proc = subprocess.Popen(
                    [prometheus_bin, f"--config.file={config}",
                     f"--storage.tsdb.path={work / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{port}"],
                    cwd=work, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True)
            url = f"http://127.0.0.1:{port}"
            wait_for("Prometheus to be ready",
                     lambda: httpx.get(f"{url}/-/ready", timeout=5).status_code == 200,
                     deadline_s=120, log=log_path)
            yield Stack(app, url, mock_url, settings)
    finally:
        if prom_proc is not None:
            kill_group(prom_proc)
        stop_mock()
        # the burst opened the shared breaker in the session's Redis: close it for the others
        client = redis.Redis.from_url(redis_server.url)
        for key in client.scan_iter(breaker_prefix("") + "*"):
            client.delete(key)
        client.close()


def test_an_error_burst_makes_the_error_rate_alert_fire(stack: Stack) -> None:
    timeline = Timeline()
    timeline.mark("app and Prometheus ready")

    def target_up() -> bool:
        r = httpx.get(f"{stack.prometheus}/api/v1/targets", timeout=10).json()
        return any(t["health"] == "up" for t in r["data"]["activeTargets"])

    wait_for("the app's target to be up", target_up, deadline_s=120)
    timeline.mark("target up (first scrape of /metrics)")

    good = [f"What did Pastor Okafor say about {topic}?" for topic in (
        "faith", "Abraham leaving Haran", "mango trees", "endurance", "witnesses", "prayer",
        "Noah", "obedience", "the throne of grace", "perseverance")]
    for question in good + good[:5]:  # the repeats are query-cache hits
        r = stack.ask(question)
        assert r.status_code == 200, r.text
    timeline.mark(f"{len(good) + 5} answered questions (200)")
    wait_for("Prometheus to see the answered questions", lambda: (stack.scalar(
        'sum(http_requests_total{route="/v1/query", status="2xx"})') or 0) >= 15,
        deadline_s=60)
    timeline.mark("Prometheus has scraped them")
    rule_state = stack.alert(ALERT)
    assert rule_state is None, rule_state  # nothing pending or firing on healthy traffic

    httpx.post(f"{stack.mock_url}/admin/config", json={"error_rate": 1.0, "error_status": 503},
               timeout=5).raise_for_status()
    codes = [stack.ask(f"{good[n % len(good)]} (burst {question_tag()})").status_code
             for n in range(30)]
    assert codes == [503] * 30
    timeline.mark("burst: 30 questions answered 503 (LLM_UNAVAILABLE; breaker opens after 5)")
    httpx.post(f"{stack.mock_url}/admin/config", json={"error_rate": 0.0}, timeout=5)

    pending = wait_for(f"{ALERT} to be pending or firing", lambda: stack.alert(ALERT),
                       deadline_s=120)
    timeline.mark(f"{ALERT} {pending['state']} (error share {float(pending['value']):.2f})")
    firing = wait_for(f"{ALERT} to fire",
                      lambda: (a := stack.alert(ALERT)) and a["state"] == "firing" and a,
                      deadline_s=180)
    timeline.mark(f"{ALERT} firing, labels {json.dumps(firing['labels'], sort_keys=True)}")
    print(f"\nalert-firing timeline (for: {TEST_FOR} in the test rules):\n{timeline}")
    assert firing["labels"]["severity"] == "page"
    assert float(firing["value"]) > 0.05
    assert firing["annotations"]["runbook_url"] == "docs/runbook.md#ragcorehigherrorrate"
    share = stack.scalar('sum(http_requests_total{route="/v1/query", status="5xx"}) / '
                         'sum(http_requests_total{route="/v1/query"})')
    assert share == pytest.approx(30 / 45)


def test_the_dashboards_expressions_run_on_a_real_prometheus(stack: Stack) -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "rag_core.json").read_text())
    empty = []
    for panel in dashboard["panels"]:  # a panel shows something when one of its lines does
        if panel["type"] == "row":  # a heading, with nothing to show
            continue
        exprs = [target["expr"].replace("$__rate_interval", "2m").replace("$step", ".+")
                 for target in panel["targets"]]
        if not any(stack.query(expr)["result"] for expr in exprs):
            empty.append(panel["title"])
    # no budget was crossed and no verdict given in this run
    assert empty == ["Budget thresholds crossed", "Answer quality from verdicts"]
