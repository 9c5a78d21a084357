"""The compose deployment as shipped, without a Docker engine: docs/deploy.md's quick start is
run line by line, with stand-ins only where a container would be.

* The lines before ``docker compose ... up`` run as they stand and write ``.env``.
* ``up`` is replaced by what compose would run: ``rag-core migrate`` and the app's command line
  with their environments, parsed from docker-compose.yml and that ``.env``. Embedded
  PostgreSQL and Redis and the repo's mock LLM stand in for the ``postgres``, ``redis`` and
  ``mock-llm`` services (their host names swapped for the stand-ins' addresses); the host and
  port the app binds are 127.0.0.1 and a free port instead of 0.0.0.0:8000.
* The remaining lines run as they stand (``localhost:8000`` is the app's port), with a
  ``docker`` command that runs ``compose exec app CMD`` with the app's environment.
* A real Prometheus loads deploy/prometheus/ with only the target's address and the secret's
  path changed, the secret file written as compose writes it from ``RAG_METRICS_TOKEN``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from compose_env import read_dotenv, service_command, service_env
from promtool import tool
from served_app import clean_env, free_port, kill_group, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SECRET_MOUNT = "/run/secrets/metrics_token"
FAKE_DOCKER = '''#!{python}
"""docker, as far as the quick start uses it, without an engine (see test_compose_app.py)."""
import json, os, sys
args = sys.argv[1:]
if args[:1] != ["compose"]:
    sys.exit("the stand-in docker knows only `docker compose`")
if "exec" in args:
    rest = [a for a in args[args.index("exec") + 1:] if a != "-T"]
    service, cmd = rest[0], rest[1:]
    env = json.loads(open(os.environ["COMPOSE_STANDIN"]).read())[service]
    if cmd[0] == "rag-core":
        cmd = [{python!r}, "-m", "rag_core", *cmd[1:]]
    os.execve(cmd[0], cmd, env)
sys.exit(0)  # up: the test started the services already
'''


def quick_start() -> tuple[list[str], list[str]]:
    """docs/deploy.md's quick start: the lines before ``docker compose ... up`` and after."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    block = re.search(r"## Quick start.*?```bash\n(.*?)```", text, re.S)
    assert block, "docs/deploy.md has no quick start block"
    lines = [line for line in block.group(1).splitlines() if line.strip()]
    up = next(i for i, line in enumerate(lines) if re.match(r"docker compose .*\bup\b", line))
    return lines[:up], lines[up + 1:]


def run_bash(lines: list[str], cwd: Path, env: dict[str, str]) -> list[str]:
    """Run ``lines`` in one bash (errors stop it); return each line's output."""
    script = ["set -euo pipefail"]
    for i, line in enumerate(lines):
        script += [f"printf '\\n@@@ {i}\\n'", line]
    out = subprocess.run(["bash", "-c", "\n".join(script) + "\n"], cwd=cwd, env=env,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}"
    return [part.strip() for part in re.split(r"\n@@@ \d+\n", out.stdout)[1:]]


def stand_in_postgres(server_url: str, dotenv: dict[str, str]) -> str:
    """The compose database (role ``rag`` with POSTGRES_PASSWORD, database ``rag``) on the
    embedded server; returns the host part that replaces ``@postgres:5432``."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE rag SUPERUSER LOGIN PASSWORD {}").format(
            sql.Literal(dotenv["POSTGRES_PASSWORD"])))
        conn.execute("CREATE DATABASE rag OWNER rag")
    return server_url.partition("?")[2]  # host=<socket folder>


def database_url(compose_url: str, socket_query: str) -> str:
    assert "@postgres:5432/rag" in compose_url
    return compose_url.replace("@postgres:5432/rag", "@/rag") + f"?{socket_query}"


@pytest.fixture
def project(short_tmp: Path) -> Path:
    work = short_tmp / f"compose{os.getpid()}"
    work.mkdir()
    shutil.copy(ROOT / ".env.example", work / ".env.example")
    return work


def test_quick_start_runs_and_prometheus_scrapes_with_the_token(
        project: Path, pg_server_url: str, redis_url: str) -> None:
    from rag_core.devservers.mock_server import start_mock

    before_up, after_up = quick_start()
    shell_env = clean_env()
    run_bash(before_up, project, shell_env)
    dotenv = read_dotenv(project / ".env")
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "RAG_JWT_SECRET", "RAG_METRICS_TOKEN"):
        assert re.fullmatch(r"[0-9a-f]{64}", dotenv[name]), name

    mock_url, stop_mock, _ = start_mock()
    socket_query = stand_in_postgres(pg_server_url, dotenv)
    image_env = {**clean_env(), "RAG_PROFILE": "prod", "RAG_STATE_DIR": str(project / "state"),
                 # the image's exported model (a first start exports it once)
                 "RAG_MODEL_CACHE_DIR": os.environ["RAG_MODEL_CACHE_DIR"]}

    def container_env(service: str) -> dict[str, str]:
        env = service_env(service, dotenv)
        if "DATABASE_URL" in env:
            env["DATABASE_URL"] = database_url(env["DATABASE_URL"], socket_query)
        if "REDIS_URL" in env:  # compose's Redis, password and all: the test's in its place
            assert env["REDIS_URL"] == f"redis://:{dotenv['REDIS_PASSWORD']}@redis:6379/0"
            env["REDIS_URL"] = redis_url
        if "RAG_ERASURE_LOG" in env:  # the volume's folder: one of this test's
            env["RAG_ERASURE_LOG"] = str(project / "erasures" / Path(env["RAG_ERASURE_LOG"]).name)
        if env.get("RAG_LLM_BASE_URL", "").startswith("http://mock-llm:8100"):
            env["RAG_LLM_BASE_URL"] = env["RAG_LLM_BASE_URL"].replace("http://mock-llm:8100",
                                                                      mock_url)
        return {**image_env, **env}

    app_env = container_env("app")
    migrate = subprocess.run([sys.executable, "-m", "rag_core", *service_command(
        "migrate", dotenv)[1:]], cwd=project, env=container_env("migrate"),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert migrate.returncode == 0, migrate.stderr

    command = service_command("app", dotenv)
    assert command[:2] == ["rag-core", "serve"]
    port = free_port()
    args = [sys.executable, "-m", "rag_core", *command[1:]]
    args[args.index("--host") + 1] = "127.0.0.1"
    args[args.index("--port") + 1] = str(port)
    log_path = project / "app.log"
    prom: subprocess.Popen[bytes] | None = None
    with open(log_path, "wb") as log:
        app = subprocess.Popen(args, cwd=project, env=app_env, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for("the app's compose healthcheck to pass",
                 lambda: healthcheck(port, app_env, project) and app.poll() is None,
                 deadline_s=300, log=log_path)
        logged = [json.loads(line) for line in log_path.read_text().splitlines()
                  if line.startswith("{")]
        said = [e["message"] for e in logged if e["logger"] == "rag_core.serve"]
        assert said[0] == f"rag-core serve starting on {url}"  # before anything else it logs
        wait_for("the ready line", lambda: f"rag-core serve ready on {url}" in [
            e["message"] for e in map(json.loads, filter(
                lambda s: s.startswith("{"), log_path.read_text().splitlines()))],
            deadline_s=60, log=log_path)

        bin_dir = project / "bin"
        bin_dir.mkdir()
        docker = bin_dir / "docker"
        docker.write_text(FAKE_DOCKER.format(python=sys.executable))
        docker.chmod(0o755)
        (project / "standin.json").write_text(json.dumps({"app": app_env}))
        lines = [line.replace("localhost:8000", f"127.0.0.1:{port}") for line in after_up]
        outputs = run_bash(lines, project, {**shell_env,
                                            "PATH": f"{bin_dir}:{os.environ['PATH']}",
                                            "COMPOSE_STANDIN": str(project / "standin.json")})
        by_line = dict(zip(after_up, outputs, strict=True))
        ready = json.loads(next(o for line, o in by_line.items() if "/readyz" in line))
        assert ready["status"] == "ready", ready
        answer = json.loads(next(o for line, o in by_line.items() if "/v1/query" in line))
        assert [c["note_id"] for c in answer["citations"]] == ["walls"], answer
        scraped = next(o for line, o in by_line.items() if "/metrics" in line)
        assert re.search(r'^assistant_requests_total\S* [1-9]', scraped, re.M), scraped

        prom, prom_url = start_prometheus(project, port, dotenv["RAG_METRICS_TOKEN"])
        targets = wait_for("both scrape jobs to have scraped once", lambda: scraped_targets(
            prom_url), deadline_s=120, log=project / "prometheus.log")
        assert targets["rag_core"]["health"] == "up", targets["rag_core"]
        refused = targets["without_token"]
        assert refused["health"] == "down" and "401" in refused["lastError"], refused
        up = httpx.get(f"{prom_url}/api/v1/query", params={"query": 'up{job="rag_core"}'},
                       timeout=10).json()["data"]["result"]
        assert [float(r["value"][1]) for r in up] == [1.0]
    finally:
        if prom is not None:
            kill_group(prom)
        kill_group(app)
        stop_mock()
        drop_stand_in_postgres(pg_server_url)


def healthcheck(port: int, env: dict[str, str], cwd: Path) -> bool:
    """The app service's healthcheck command, as compose runs it inside the container."""
    from compose_env import compose

    test = compose()["services"]["app"]["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1] == "python"
    code = test[3].replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return subprocess.run([sys.executable, test[2], code], env=env, cwd=cwd,
                          capture_output=True, timeout=30).returncode == 0


def start_prometheus(project: Path, port: int, token: str
                     ) -> tuple[subprocess.Popen[bytes], str]:
    """deploy/prometheus/ as compose mounts it; the target and secret path moved to this
    machine, plus one job without credentials (it must be refused)."""
    binary = tool("prometheus")
    folder = project / "prometheus"
    shutil.copytree(ROOT / "deploy" / "prometheus", folder)
    secret = project / "run-secrets" / "metrics_token"
    secret.parent.mkdir()
    secret.write_text(token)  # compose writes the variable's value as it is
    config: dict[str, Any] = yaml.safe_load((folder / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    job = config["scrape_configs"][0]
    assert job["authorization"]["credentials_file"] == SECRET_MOUNT
    job["authorization"]["credentials_file"] = str(secret)
    assert job["static_configs"] == [{"targets": ["app:8000"]}]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    bare = {k: v for k, v in job.items() if k != "authorization"}
    config["scrape_configs"].append({**bare, "job_name": "without_token"})
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    web = free_port()
    with open(project / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(
            [binary, f"--config.file={folder / 'prometheus.yml'}",
             f"--storage.tsdb.path={project / 'tsdb'}", f"--web.listen-address=127.0.0.1:{web}"],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    return proc, f"http://127.0.0.1:{web}"


def scraped_targets(prom_url: str) -> dict[str, dict[str, Any]] | None:
    """Both jobs once scraped; None while Prometheus is not up yet (no answer, or its "not
    ready" page, which is not JSON, while it loads)."""
    try:
        response = httpx.get(f"{prom_url}/api/v1/targets", timeout=5)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    r = response.json()
    targets = {t["labels"]["job"]: t for t in r["data"]["activeTargets"]}
    done = len(targets) == 2 and all(t["health"] != "unknown" for t in targets.values())
    return targets if done else None


def drop_stand_in_postgres(server_url: str) -> None:
    import psycopg

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS rag WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS rag")
