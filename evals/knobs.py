"""Every Settings field a notebook parameter: the ``settings`` mapping of a notebook, checked,
combined with the notebook's own parameters, and recorded with where each value came from.

A notebook's parameters cell has ``settings = {}`` beside its own parameters. Some of its own
parameters stand for a Settings field (``context_budget`` is ``context_token_budget``: the
mapping is ``NotebookSpec.settings_params`` in ``evals/profiles.py``). Setting a field both ways
(``context_budget=800`` and ``settings={"context_token_budget": 600}``) is a :class:`KnobError`,
never a silent overwrite; a notebook parameter left at ``None`` leaves the field to ``settings``
(the runner passes ``None`` for the profile's value when ``settings`` names the field).

The source of each effective value is one of ``param`` (``--param``, or a notebook parameter
run without the runner), ``harness`` (fixed by the evaluation: ci profile, caches off, its own
state folder), the team's settings (``evals/team_settings.py``): ``env`` (a ``RAG_*`` variable
or a well-known name such as ``DATABASE_URL``), ``env-file`` (``--env-file``) and ``dataset``
(the dataset's ``settings.env``), then ``profile`` (the harness profile's parameters, or the
Settings profile's defaults) and ``default``. A profile's parameter applies only to a field
the team left unset; ``--param`` wins over the team's. :func:`resolve` writes them to
``<output_dir>/<name>.settings.json``; the runner puts them in ``summary.json`` and
``summary.md``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from evals.paths import STATE_DIR
from rag_core import config
from rag_core.config import Settings

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

SETTINGS_SUFFIX = ".settings.json"
SERVICE_URLS = ("database_url", "redis_url")
SOURCES = ("param", "harness", "env", "env-file", "dataset", "profile", "default")


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
            environ: Mapping[str, str] | None = None, *,
            team: Mapping[str, str] | None = None,
            from_profile: Collection[str] = ()) -> dict[str, str]:
    """Where each field of ``settings`` came from (see the module docstring): ``asked`` were
    set by ``--param`` (or a notebook run alone), ``team`` maps the team's fields to their
    source (``env``, ``env-file``, ``dataset``), ``from_profile`` the profile's parameters."""
    from rag_core.config import PROFILE_DEFAULTS

    profile_fields = PROFILE_DEFAULTS.get(str(settings.profile), {})
    given = team or {}
    out: dict[str, str] = {}
    for field in _fields():
        if field in asked:
            out[field] = "param"
        elif field in given:
            out[field] = given[field]
        elif field in from_profile:
            out[field] = "profile"
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


@dataclass(frozen=True)
class Layers:
    """A notebook's settings in layers, weakest first: the profile's parameters, the team's
    (the environment, ``--env-file``, the dataset's ``settings.env``), then ``--param``."""

    from_profile: dict[str, object]
    team: dict[str, object]
    team_sources: dict[str, str]
    asked: dict[str, object]
    notes: list[str]


def layers(name: str, overrides: Mapping[str, object] | None, params: Mapping[str, object],
           output_dir: str | Path | None, kept: Collection[str]) -> tuple[Layers, dict[str, str]]:
    """Split what notebook ``name`` was given into :class:`Layers` (``kept``: the fields the
    harness keeps whatever the team sets). A profile's value never replaces the team's."""
    from evals import profiles, team_settings

    fields = dict(profiles.find(name).settings_params)
    asked, how = merge(name, overrides, params, fields)
    team = team_settings.load(output_dir)
    by_profile = {f for f, text in how.items() if text.startswith("parameter ")
                  and team.params.get(text.split(" ", 1)[1]) in ("profile", "default")}
    lower = {f: v for f, v in asked.items() if f in by_profile and f not in team.settings}
    upper = {f: v for f, v in asked.items() if f not in by_profile}
    mine = {f: s for f, s in team.settings.items() if f not in kept}
    notes = [f"{s.shown()} not used: the harness keeps {f} (caches off, the ci profile, its "
             "own servers and state folder)" for f, s in team.settings.items()
             if f in kept and f not in ("database_url", "redis_url", "state_dir")]
    return Layers(lower, {f: s.value for f, s in mine.items()},
                  {f: s.source for f, s in mine.items()}, upper, notes), how


def resolve(name: str, overrides: Mapping[str, object] | None, params: Mapping[str, object], *,
            harness: Mapping[str, object], output_dir: str | Path | None = None) -> Settings:
    """The effective Settings of notebook ``name``: ``harness`` choices, the profile's
    parameters, the team's settings (``evals/team_settings.py``), then ``--param`` (``params``:
    notebook parameter -> value; ``overrides``: its ``settings`` mapping); recorded with
    sources in ``output_dir``. Raises :class:`KnobError`."""
    from pydantic import ValidationError

    from evals.team_settings import HARNESS_KEPT

    # the semantic mode is the harness's only where it turns the semantic cache off (quality);
    # where the cache is measured (notebook 03) the team's mode is the one measured
    kept = [f for f in HARNESS_KEPT
            if f != "semantic_mode" or harness.get("semantic_cache_enabled") is False]
    got, how = layers(name, overrides, params, output_dir, kept)
    base = {"state_dir": harness_state_dir(), **harness}
    if harness.get("semantic_cache_enabled") is False:  # said as a mode: RAG_SEMANTIC_MODE
        base["semantic_mode"] = "off"                    # in the environment cannot undo it
    try:
        settings = Settings.from_fields({**base, **got.from_profile, **got.team, **got.asked})
    except ValidationError as exc:
        raise KnobError(f"{name}: {exc.errors()[0]['msg']} "
                        f"(fields {', '.join(sorted({**got.team, **got.asked}))})") from None
    source = sources(settings, got.asked, base, team=got.team_sources,
                     from_profile=got.from_profile)
    warnings = warnings_for(settings, source) + got.notes
    for text in warnings:
        print(f"WARNING: {text}", file=sys.stderr)
    record_settings(name, settings, source, how, output_dir, warnings)
    return settings


def server_env(name: str, overrides: Mapping[str, object] | None, params: Mapping[str, object], *,
               output_dir: str | Path | None = None) -> tuple[Settings, dict[str, str]]:
    """For notebooks whose Settings live in server processes (the load test's app): the
    Settings the asked fields and the team's give (recorded with sources) and those fields as
    variables for the servers' environment. Raises :class:`KnobError`."""
    from evals import team_settings

    kept = ("database_url", "redis_url", "state_dir")
    got, how = layers(name, overrides, params, output_dir, kept)
    team = team_settings.load(output_dir)
    from_files = {team.settings[f].var: str(v).lower() if isinstance(v, bool) else str(v)
                  for f, v in got.team.items() if got.team_sources[f] != "env"}
    env = {**as_env(got.from_profile), **from_files, **as_env(got.asked)}
    settings = Settings.from_fields({**got.from_profile, **got.team, **got.asked})
    source = sources(settings, got.asked, {}, team=got.team_sources,
                     from_profile=got.from_profile)
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
