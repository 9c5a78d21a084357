"""docker-compose.yml read the way compose reads it, for machines without a Docker engine (tests
import it by name): a ``.env`` file, ``${VAR}`` interpolation with ``:-``/``-`` defaults and
``:?``/``?`` required variables, and a service's environment and command line."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(ValueError):
    """A ``${X:?message}`` whose variable is unset (compose refuses to start)."""


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines; blank lines and ``#`` comments skipped; quotes around a value
    dropped (the subset of compose's .env syntax that .env.example uses)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}: not KEY=VALUE: {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        value = env.get(name)
        unset = value is None or (op.startswith(":") and value == "")
        if op.endswith("-"):
            return arg if unset else str(value)
        if op.endswith("?"):
            if unset:
                raise MissingVariable(f"{name}: {arg}")
            return str(value)
        return value or ""

    return _VAR.sub(one, text)


def variables(text: str) -> set[str]:
    """Every variable the compose file reads."""
    return {m.group(1) for m in _VAR.finditer(text)}


def compose(path: Path = COMPOSE) -> dict[str, Any]:
    return dict(yaml.safe_load(path.read_text()))


def service_env(service: str, env: dict[str, str], path: Path = COMPOSE) -> dict[str, str]:
    spec = compose(path)["services"][service]
    return {k: interpolate(str(v), env) for k, v in (spec.get("environment") or {}).items()}


def service_command(service: str, env: dict[str, str], path: Path = COMPOSE) -> list[str]:
    return [interpolate(str(arg), env) for arg in compose(path)["services"][service]["command"]]
