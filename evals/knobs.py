"""Every Settings field a notebook parameter: the ``settings`` mapping of a notebook, checked,
combined with the notebook's own parameters, and recorded with where each value came from.

A notebook's parameters cell has ``settings = {}`` beside its own parameters. Some of its own
parameters stand for a Settings field (``context_budget`` is ``context_token_budget``: the
mapping is ``NotebookSpec.settings_params`` in ``evals/profiles.py``). Setting a field both ways
(``context_budget=800`` and ``settings={"context_token_budget": 600}``) is a :class:`KnobError`,
never a silent overwrite; a notebook parameter left at ``None`` leaves the field to ``settings``
(the runner passes ``None`` for the profile's value when ``settings`` names the field).

The source of each effective value is one of ``param`` (a notebook parameter or its
``settings``), ``harness`` (fixed by the evaluation: ci profile, caches off, its own state
folder), ``env`` (a ``RAG_*`` variable or a well-known name such as ``DATABASE_URL``),
``profile`` (the Settings profile's defaults) and ``default``. :func:`resolve` writes them to
``<output_dir>/<name>.settings.json``; the runner puts them in ``summary.json`` and
``summary.md``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from evals.paths import STATE_DIR
from rag_core import config
from rag_core.config import Settings

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

SETTINGS_SUFFIX = ".settings.json"
SERVICE_URLS = ("database_url", "redis_url")
SOURCES = ("param", "harness", "env", "profile", "default")


class Recorded(TypedDict):
    """A ``<name>.settings.json`` file, as ``record_settings`` writes it."""

    name: str
    settings: dict[str, object]  # field -> JSON-safe value (``plain``)
    sources: dict[str, str]  # field -> param, env, harness, profile or default
    set_by: dict[str, str]  # field -> the spelling that set it
    warnings: list[str]


class KnobError(ValueError):
    """A ``settings`` mapping that names an unknown field, a bad value or a field set twice."""


def harness_state_dir() -> Path:
    """The harness's own state folder: ``$RAG_STATE_DIR`` when set, else the project's
    ``.rag_state`` (not the caller's working directory)."""
    value = os.environ.get("RAG_STATE_DIR", "").strip()
    return Path(value) if value else STATE_DIR


def _fields() -> dict[str, FieldInfo]:
    """Every setting by its flat name (the names a ``settings`` mapping uses)."""
    return Settings.flat_fields()


def env_names(field: str) -> list[str]:
    """The environment variables that set ``field`` (``RAG_<FIELD>`` or its aliases)."""
    return config.env_names(field)


def from_env(field: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable that sets ``field`` in ``environ``, or None."""
    env = os.environ if environ is None else environ
    return next((n for n in env_names(field) if n in env), None)


def check_overrides(overrides: object) -> dict[str, object]:
    """``overrides`` as a plain dict; unknown fields and invalid values are a KnobError that
    names the field."""
    if overrides is None:
        return {}
    if hasattr(overrides, "model_fields"):
        raise KnobError("settings is already the resolved Settings (was the cell run twice?): "
                        "run the parameters cell again, where settings is a mapping")
    if not isinstance(overrides, Mapping):
        raise KnobError(f"settings must be a mapping of Settings fields, got "
                        f"{type(overrides).__name__}: {overrides!r}")
    from pydantic import ValidationError


    known = _fields()
    unknown = sorted(k for k in overrides if k not in known)
    if unknown:
        import difflib

        hints = [f"{k} (did you mean {', '.join(difflib.get_close_matches(k, known, 2))}?)"
                 if difflib.get_close_matches(k, known, 2) else k for k in unknown]
        raise KnobError(f"settings names no Settings field: {', '.join(hints)}")
    data = dict(overrides)
    try:
        Settings.model_validate({"profile": "ci", **data})
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = err["loc"][1:] if err["loc"] and err["loc"][0] in config.SECTIONS \
                else err["loc"]
            where = ".".join(str(p) for p in loc) or "settings"
            got = data.get(str(loc[0])) if loc else None
            problems.append(f"settings.{where}: {err['msg']} (got {got!r})")
        raise KnobError("; ".join(problems)) from None
    return data


def merge(name: str, overrides: Mapping[str, object] | None, params: Mapping[str, object],
          fields: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """The Settings values asked for by notebook ``name``: its parameters that stand for a
    field (``fields``: parameter -> field; ``None`` = not set) and its ``settings`` mapping.
    Returns ``(values, how)`` where ``how`` says which spelling set each field."""
    chosen = check_overrides(overrides)
    values: dict[str, object] = {}
    how: dict[str, str] = {}
    known = _fields()
    for param, value in params.items():
        field = fields.get(param, param)
        if value is None or field not in known:  # the notebook's own, not a setting
            continue
        if field in chosen:
            raise KnobError(
                f"{name}: {field} is set twice: notebook parameter {param}={value!r} and "
                f"settings.{field}={chosen[field]!r}; set one (the other to None)")
        values[field] = value
        how[field] = f"parameter {param}"
    for field, value in chosen.items():
        values[field] = value
        how[field] = f"settings.{field}"
    return values, how


def sources(settings: Settings, asked: Mapping[str, object], harness: Mapping[str, object],
            environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Where each field of ``settings`` came from (see the module docstring)."""
    from rag_core.config import PROFILE_DEFAULTS

    profile_fields = PROFILE_DEFAULTS.get(str(settings.profile), {})
    out: dict[str, str] = {}
    for field in _fields():
        if field in asked:
            out[field] = "param"
        elif field in harness:
            var = from_env(field, environ) if field == "state_dir" else None
            out[field] = "env" if var else "harness"
        elif from_env(field, environ):
            out[field] = "env"
        elif field in profile_fields:
            out[field] = "profile"
        else:
            out[field] = "default"
    return out


def plain(settings: Settings) -> dict[str, object]:
    """JSON-safe values of every field; secrets masked."""
    from pydantic import SecretStr

    out: dict[str, object] = {}
    for field in _fields():
        value = settings.flat_value(field)
        if isinstance(value, SecretStr):
            value = "**********" if value.get_secret_value() else ""
        elif isinstance(value, Path):
            value = str(value)
        out[field] = value
    return out


def warnings_for(settings: Settings, source: Mapping[str, str],
                 environ: Mapping[str, str] | None = None) -> list[str]:
    """Loud remarks: a service URL inherited from the environment."""
    out = []
    for field in SERVICE_URLS:
        if source.get(field) == "env" and settings.flat_value(field):
            var = from_env(field, environ)
            out.append(f"{field} comes from the environment ({var}): this run used that "
                       f"server, not the harness's embedded one")
    return out


def record_settings(name: str, settings: Settings, source: Mapping[str, str],
                    how: Mapping[str, str], output_dir: str | Path | None,
                    warnings: list[str]) -> Path | None:
    """``<output_dir>/<name>.settings.json`` for the runner (nothing without ``output_dir``)."""
    if not output_dir:
        return None
    path = Path(output_dir) / f"{name}{SETTINGS_SUFFIX}"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: Recorded = {"name": name, "settings": plain(settings), "sources": dict(source),
               "set_by": dict(how), "warnings": warnings}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def resolve(name: str, overrides: Mapping[str, object] | None, params: Mapping[str, object], *,
            harness: Mapping[str, object], output_dir: str | Path | None = None) -> Settings:
    """The effective Settings of notebook ``name``: ``harness`` choices, then its parameters
    (``params``: notebook parameter -> value) and its ``settings`` mapping (``overrides``);
    recorded with sources in ``output_dir``. Raises :class:`KnobError`."""
    from pydantic import ValidationError

    from evals import profiles

    fields = dict(profiles.find(name).settings_params)
    asked, how = merge(name, overrides, params, fields)
    base = {"state_dir": harness_state_dir(), **harness}
    try:
        settings = Settings.from_fields({**base, **asked})
    except ValidationError as exc:
        raise KnobError(f"{name}: {exc.errors()[0]['msg']} "
                        f"(fields {', '.join(sorted(asked))})") from None
    source = sources(settings, asked, base)
    warnings = warnings_for(settings, source)
    for text in warnings:
        print(f"WARNING: {text}", file=sys.stderr)
    record_settings(name, settings, source, how, output_dir, warnings)
    return settings


def server_env(name: str, overrides: Mapping[str, object] | None, params: Mapping[str, object], *,
               output_dir: str | Path | None = None) -> tuple[Settings, dict[str, str]]:
    """For notebooks whose Settings live in server processes (the load test's app): the
    Settings the asked fields give (recorded with sources) and those fields as ``RAG_*``
    variables for the servers' environment. Raises :class:`KnobError`."""
    from evals import profiles

    asked, how = merge(name, overrides, params, dict(profiles.find(name).settings_params))
    env = as_env(asked)
    settings = Settings.from_fields(asked)
    source = sources(settings, asked, {})
    record_settings(name, settings, source, how, output_dir, warnings_for(settings, source))
    return settings, env


def load_recorded(folder: str | Path) -> list[Recorded]:
    """Every ``*.settings.json`` of a notebook's output folder."""
    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob(f"*{SETTINGS_SUFFIX}"))]


def clear_recorded(folder: str | Path) -> None:
    for path in Path(folder).glob(f"*{SETTINGS_SUFFIX}"):
        path.unlink()


def as_env(overrides: Mapping[str, object]) -> dict[str, str]:
    """A checked ``settings`` mapping as ``RAG_<FIELD>`` variables for a server process."""
    out = {}
    for field, value in check_overrides(overrides).items():
        text = json.dumps(value) if isinstance(value, list | dict) else str(value)
        out[f"RAG_{field.upper()}"] = text.lower() if isinstance(value, bool) else text
    return out
