"""No Docker engine runs here: check the compose file and Dockerfile against Settings."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from rag_core.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_names_known_to_settings() -> set[str]:
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"RAG_{name.upper()}")
        alias = field.validation_alias
        for choice in getattr(alias, "choices", []) or []:
            names.add(str(choice))
    return names


def test_compose_services_healthchecks_and_wiring() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["postgres"]["image"].startswith("pgvector/pgvector")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("postgres", "redis", "app", "mock-llm"):
        assert "healthcheck" in services[name], name
    app = services["app"]
    for dep in ("postgres", "redis"):
        assert app["depends_on"][dep]["condition"] == "service_healthy"
    known = env_names_known_to_settings()
    for key in app["environment"]:
        assert key in known, f"{key} is not a Settings field or alias"
    assert "postgres:5432" in app["environment"]["DATABASE_URL"]
    assert app["environment"]["REDIS_URL"].startswith("redis://redis:")
    assert "observability" in services["prometheus"]["profiles"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["app:8000"]


def test_dockerfile_is_multistage_non_root_with_healthcheck_and_cpu_torch() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    assert re.search(r"^USER (?!root)\w+", text, re.M)
    assert "HEALTHCHECK" in text and "/healthz" in text
    assert "download.pytorch.org/whl/cpu" in text and "torch==2.13.0" in text
