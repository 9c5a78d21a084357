"""An operator's first hour, end to end: the app in the prod profile with a generated secret,
notes added over HTTP, questions, an edit, a delete, and the figures before and after.

    .venv/bin/python deploy/walkthrough.py            # embedded servers in a temporary folder

It prints every request and the part of each answer that matters, then the caller's
``/v1/stats`` and the service's counters (``/metrics`` with its token) before and after.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from rag_core.api.auth import issue_token
from rag_core.config import Settings
from rag_core.procs import free_port, wait_http

NOTES = {
    "wall": {"title": "Walls and Gates", "date": "2024-05-05", "speaker": "Pastor Okafor",
             "series": "Nehemiah", "scripture": ["Nehemiah 4:17"],
             "body": "Nehemiah's builders finished the wall of Jerusalem in 52 days. Half of "
                     "them worked while the other half stood guard, and every builder kept a "
                     "sword at his side."},
    "ruth": {"title": "Gleaning", "date": "2024-06-02", "speaker": "Pastor Okafor",
             "series": "Ruth", "scripture": ["Ruth 2:17"],
             "body": "Ruth gleaned in the field of Boaz until evening and beat out about an "
                     "ephah of barley, roughly two weeks of food for two women."},
    "jonah": {"title": "The Plant", "date": "2024-07-14", "speaker": "Elder Whitfield",
              "series": "Jonah", "scripture": ["Jonah 4:6-10"],
              "body": "God made a plant grow over Jonah to shade him, then sent a worm at "
                      "dawn, and the plant withered by the next day."},
}
COUNTERS = ("assistant_requests_total", "assistant_errors_total", "cache_hits_total",
            "cache_misses_total", "api_tokens_used_total", "no_context_responses_total")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="ragwalk", dir="/tmp"))
    secret, scrape = secrets.token_hex(32), secrets.token_hex(16)
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
           "RAG_PROFILE": "prod", "RAG_STATE_DIR": str(work / "state"),
           "RAG_JWT_SECRET": secret, "RAG_METRICS_TOKEN": scrape}
    log = open(work / "serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "rag_core", "serve", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=work,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/readyz", 300, proc=proc, log=work / "serve.log")
        settings = Settings(profile="prod", jwt_secret=secret)
        user = {"Authorization": f"Bearer {issue_token(settings, 'walker')}"}
        metrics = {"Authorization": f"Bearer {scrape}"}
        with httpx.Client(base_url=url, timeout=120) as http:
            show("GET /metrics without its token", http.get("/metrics"))
            before = counters(http.get("/metrics", headers=metrics).text)
            show("GET /v1/stats (before)", http.get("/v1/stats", headers=user))
            for note_id, note in NOTES.items():
                show(f"PUT /v1/notes/{note_id}", http.put(f"/v1/notes/{note_id}", json=note,
                                                          headers=user))
            ask(http, user, "How many days did it take to finish the wall?")
            ask(http, user, "How many days did it take to finish the wall?")
            edited = {**NOTES["wall"], "body": NOTES["wall"]["body"].replace("52", "fifty-two")}
            show("PUT /v1/notes/wall (edited)", http.put("/v1/notes/wall", json=edited,
                                                         headers=user))
            ask(http, user, "How many days did it take to finish the wall?")
            ask(http, user, "How much barley did Ruth beat out?")
            show("DELETE /v1/notes/ruth", http.delete("/v1/notes/ruth", headers=user))
            ask(http, user, "How much barley did Ruth beat out?")
            show("GET /v1/notes", http.get("/v1/notes", headers=user))
            show("GET /v1/stats (after)", http.get("/v1/stats", headers=user))
            after = counters(http.get("/metrics", headers=metrics).text)
        print("\ncounters (summed over labels), before -> after:")
        for name in sorted(set(before) | set(after)):
            print(f"  {name}: {before.get(name, 0):g} -> {after.get(name, 0):g}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
        subprocess.run([sys.executable, "-m", "rag_core", "services", "down"], env=env,
                       cwd=work, capture_output=True, timeout=60)
    return 0


def ask(http: httpx.Client, user: dict[str, str], question: str) -> None:
    r = http.post("/v1/query", json={"query": question}, headers=user)
    body = r.json()
    if r.status_code != 200:
        show(f"POST /v1/query {question!r}", r)
        return
    print(f"\nPOST /v1/query {question!r} -> {r.status_code}\n  cache: {body['cache']['query']}"
          f"  no_context: {body['no_context']}  cited: "
          f"{[c['note_id'] for c in body['citations']]}\n  answer: {body['answer'][:160]}")


def show(what: str, r: httpx.Response) -> None:
    try:
        body: Any = r.json()
        text = json.dumps(body)[:300]
    except ValueError:
        text = r.text[:300]
    print(f"\n{what} -> {r.status_code}\n  {text}")


def counters(text: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in COUNTERS:
                out[sample.name] = out.get(sample.name, 0.0) + sample.value
    return out


if __name__ == "__main__":
    sys.exit(main())
