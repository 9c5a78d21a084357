"""No Docker engine runs here: check the compose file and Dockerfile against Settings and the
operator's rules (localhost ports, restart policies, limits, a persistent Redis that does not
evict the ledger, the mock model only on request)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from rag_core.config import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def env_names_known_to_settings() -> set[str]:
    return {var for name in Settings.flat_fields() for var in env_names(name)}


def defaults(value: str) -> str:
    """A compose value as it reads with nothing set: ``${X:-d}`` is d, ``${X:?m}`` is <X>."""
    def one(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        return rest if kind == "-" else f"<{name}>" if kind == "?" else ""

    return _VAR.sub(one, value)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def test_compose_services_healthchecks_and_wiring() -> None:
    services = compose()["services"]
    assert re.fullmatch(r"pgvector/pgvector:\d+\.\d+\.\d+-pg\d+", services["postgres"]["image"])
    assert re.fullmatch(r"redis:\d+\.\d+-alpine", services["redis"]["image"])
    for name in ("postgres", "redis", "app", "mock-llm"):
        assert "healthcheck" in services[name], name
    app = services["app"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["rag-core", "migrate"]
    known = env_names_known_to_settings()
    for key in app["environment"]:
        assert key in known, f"{key} is not a Settings field or alias"
    assert "postgres:5432" in app["environment"]["DATABASE_URL"]
    assert app["environment"]["REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    assert app["environment"]["REDIS_URL"].endswith("@redis:6379/0")
    assert "/var/lib/postgresql" in services["postgres"]["volumes"][0]  # PostgreSQL 18 layout


def test_mock_model_only_on_request() -> None:
    services = compose()["services"]
    assert set(services["mock-llm"]["profiles"]) <= {"dev", "loadtest"}
    app = services["app"]
    assert "mock-llm" not in app["depends_on"] and "profiles" not in app
    env = {k: defaults(str(v)) for k, v in app["environment"].items()}
    assert env["RAG_LLM"] == "hf" and env["RAG_LLM_BASE_URL"] == ""  # the real router
    settings = Settings(llm=env["RAG_LLM"], llm_base_url=env["RAG_LLM_BASE_URL"])
    assert settings.model_calls.llm_base_url is None  # an empty value is unset, not an invalid URL
    assert env["RAG_JWT_SECRET"] == "<RAG_JWT_SECRET>"  # required, no default


def test_restart_policies_limits_and_localhost_ports() -> None:
    for name, service in compose()["services"].items():
        expected = "no" if name == "migrate" else "unless-stopped"
        assert service.get("restart") == expected, name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and float(limits["cpus"]) > 0, name
        for port in service.get("ports", []):
            host = defaults(port).split(":")[0]
            assert host == "127.0.0.1", f"{name} publishes {port} beyond localhost"
    assert not compose()["services"]["postgres"].get("ports")
    assert not compose()["services"]["redis"].get("ports")


def test_redis_persists_and_never_evicts_the_ledger() -> None:
    redis = compose()["services"]["redis"]
    args = redis["command"]
    option = {args[i]: args[i + 1] for i in range(1, len(args) - 1, 2)}
    assert option["--appendonly"] == "yes" and option["--appendfsync"] == "everysec"
    assert option["--maxmemory-policy"] == "noeviction" \
        or option["--maxmemory-policy"].startswith("volatile-")
    volume = redis["volumes"][0].split(":")
    assert volume[1] == "/data" and volume[0] in compose()["volumes"]


def test_redis_needs_a_password_that_the_app_and_the_healthcheck_carry() -> None:
    """Issue 79: any container of the network reached Redis without a password."""
    from compose_env import MissingVariable, service_command, service_env

    dotenv = {"POSTGRES_PASSWORD": "p" * 64, "REDIS_PASSWORD": "r" * 64,
              "RAG_JWT_SECRET": "j" * 64, "RAG_METRICS_TOKEN": "m" * 64}
    redis = compose()["services"]["redis"]
    args = service_command("redis", dotenv)
    assert args[args.index("--requirepass") + 1] == "r" * 64
    assert service_env("redis", dotenv)["REDISCLI_AUTH"] == "r" * 64  # what redis-cli reads
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert service_env("app", dotenv)["REDIS_URL"] == f"redis://:{'r' * 64}@redis:6379/0"
    without = {k: v for k, v in dotenv.items() if k != "REDIS_PASSWORD"}
    with pytest.raises(MissingVariable, match="REDIS_PASSWORD"):
        service_command("redis", without)
    with pytest.raises(MissingVariable, match="REDIS_PASSWORD"):
        service_env("app", without)


def test_the_erasure_log_has_a_volume_of_its_own() -> None:
    services = compose()["services"]
    log = Path(services["app"]["environment"]["RAG_ERASURE_LOG"])
    mounts = dict(m.split(":")[::-1] for m in services["app"]["volumes"])
    assert mounts[str(log.parent)] in compose()["volumes"]
    assert all(str(log.parent) not in str(v) for name, s in services.items()
               if name != "app" for v in s.get("volumes", []))
    assert f"install -d -o rag -g rag -m 0700 {log.parent}" in (ROOT / "Dockerfile").read_text()


def test_observability_profile_mounts_what_exists() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        assert services[name]["profiles"] == ["observability"]
        for mount in services[name]["volumes"]:
            source = mount.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), mount
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["app:8000"]
    assert scrape["rule_files"] == ["alerts.yml"]


def test_dockerfile_is_multistage_non_root_with_healthcheck_and_cpu_torch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "download.pytorch.org/whl/cpu" in text and "torch==2.13.0" in text
    assert "HF_HUB_OFFLINE=1" not in text  # offline mode would refuse the LLM's router


def test_metrics_token_reaches_prometheus_as_a_file() -> None:
    """The prod app serves /metrics only with its token; Prometheus must send that token, read
    from the secret compose makes of the same variable."""
    spec = compose()
    app = spec["services"]["app"]
    env = {k: defaults(str(v)) for k, v in app["environment"].items()}
    assert env["RAG_METRICS_TOKEN"] == "<RAG_METRICS_TOKEN>"  # required, no default
    assert spec["secrets"]["metrics_token"] == {"environment": "RAG_METRICS_TOKEN"}
    assert "metrics_token" in spec["services"]["prometheus"]["secrets"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    job = scrape["scrape_configs"][0]
    assert job["authorization"].get("type", "Bearer") == "Bearer"
    assert job["authorization"]["credentials_file"] == "/run/secrets/metrics_token"


def test_env_example_names_every_variable_compose_reads() -> None:
    from compose_env import MissingVariable, interpolate, read_dotenv, variables

    text = (ROOT / "docker-compose.yml").read_text()
    example = read_dotenv(ROOT / ".env.example")
    assert variables(text) <= set(example), variables(text) - set(example)
    required = {"POSTGRES_PASSWORD", "REDIS_PASSWORD", "RAG_JWT_SECRET", "RAG_METRICS_TOKEN"}
    for name in required:  # left empty in the example: compose refuses to start without them
        assert example[name] == ""
        with pytest.raises(MissingVariable, match=name):
            interpolate(text, {**example, **{n: "x" for n in required - {name}}})
    filled = interpolate(text, {**example, **{n: "0123abcd" * 8 for n in required}})
    assert "${" not in filled
