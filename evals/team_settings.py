"""The team's settings, read as the service reads them, for a harness run to test.

A run on a dataset tests what the team ships: the ``RAG_*`` variables of the environment (and
the well-known names such as ``HF_TOKEN``), the file given with ``--env-file FILE`` (the
``NAME=VALUE`` lines ``evals calibrate`` writes) and the dataset's own ``settings.env`` (same
format). Where they disagree the environment wins over ``--env-file``, which wins over the
dataset's file. A notebook's parameter from the profile applies only to a setting none of them
gave; ``--param`` wins over all of them and the runner says so (``evals/knobs.py`` combines
them; the runner hands them to each notebook in ``<output_dir>/team-settings.json``).

A few settings stay the harness's (:data:`HARNESS_KEPT`: the ci profile, caches off, its own
state folder and servers): the measurement needs them, and the report says when a team's value
was not used. A file may not name the service URLs (the harness ingests into its own servers;
``--external-services`` is the way to another one).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from rag_core import config
from rag_core.config.settings import SEMANTIC_SWITCH, read_environment

DATASET_FILE = "settings.env"
TEAM_FILE = "team-settings.json"
USER_SOURCES = ("env", "env-file", "dataset")  # strongest first
# settings a measurement keeps whatever the team sets (the report says when one was not used)
HARNESS_KEPT = ("profile", "cache_enabled", "semantic_cache_enabled", "semantic_mode",
                "state_dir", "database_url", "redis_url")
# settings a file may not name: the harness's own servers (see the module docstring)
NOT_FROM_FILES = ("database_url", "redis_url", "state_dir")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class TeamSettingsError(ValueError):
    """An env file or a team setting that cannot be used (the message starts with a code)."""


@dataclass(frozen=True)
class UserSetting:
    """One setting the team gave: its value as written, where, and under which name."""

    value: object
    source: str  # env | env-file | dataset
    var: str  # the variable that set it (RAG_TOP_K)

    def shown(self) -> str:
        secret = any(word in self.var.upper() for word in ("TOKEN", "SECRET", "PASSWORD", "KEY"))
        return f"{self.var}={'***' if secret else self.value} ({self.source})"


@dataclass
class TeamSettings:
    """The settings a run tests, by flat field name, and how each notebook parameter that
    stands for a setting was set (``param``: ``--param``; ``profile``: the profile's value).

    Handed to a notebook as where they came from (the env file, the dataset), never as
    values: a token or a password is not written into the report folder. The notebook's
    kernel inherits the environment and reads the files again (:func:`load`)."""

    settings: dict[str, UserSetting] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    env_file: str | None = None
    dataset_root: str | None = None

    def values(self, skip: tuple[str, ...] = ()) -> dict[str, object]:
        return {k: s.value for k, s in self.settings.items() if k not in skip}

    def to_json(self) -> dict[str, object]:
        return {"env_file": self.env_file, "dataset_root": self.dataset_root,
                "sources": {k: s.source for k, s in self.settings.items()},
                "params": dict(self.params)}

    @classmethod
    def from_json(cls, data: Mapping[str, object], environ: Mapping[str, str]) -> TeamSettings:
        """The team's settings read again from what :meth:`to_json` recorded."""
        env_file, root = data.get("env_file"), data.get("dataset_root")
        team = gather(environ, Path(env_file) if isinstance(env_file, str) else None,
                      Path(root) if isinstance(root, str) else None)
        params = data.get("params")
        team.params = {str(k): str(v) for k, v in (params if isinstance(params, dict)
                                                   else {}).items()}
        return team


def _variables() -> dict[str, str]:
    """Every variable a setting answers to (upper case) -> its flat field."""
    out = {f"RAG_{SEMANTIC_SWITCH.upper()}": SEMANTIC_SWITCH}
    for name in config.flat_names():
        for var in config.env_names(name):
            out[var.upper()] = name
    return out


def read_env_file(path: Path) -> dict[str, str]:
    """The ``NAME=VALUE`` lines of ``path`` (blank lines, ``#`` comments and ``export`` allowed;
    a value may be quoted as a shell quotes it). Any other line, a name that is no setting or a
    value with control characters is a :class:`TeamSettingsError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TeamSettingsError(f"SETTINGS_BAD_ENV_FILE: {path}: cannot be read ({exc})") \
            from None
    known = _variables()
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        where = f"SETTINGS_BAD_ENV_FILE: {path}, line {n}"
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export "):].lstrip()
        name, sep, raw = stripped.partition("=")
        if not sep or not _NAME.fullmatch(name):
            raise TeamSettingsError(f"{where}: expected NAME=VALUE, got {line[:80]!r}")
        if name.upper() not in known:
            import difflib

            near = difflib.get_close_matches(name.upper(), known, 1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise TeamSettingsError(f"{where}: {name} is no setting{hint}")
        try:
            words = shlex.split(raw, comments=True)
        except ValueError as exc:
            raise TeamSettingsError(f"{where}: {name}: {exc}") from None
        if len(words) > 1:
            raise TeamSettingsError(f"{where}: {name}: more than one word; quote the value")
        value = words[0] if words else ""
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise TeamSettingsError(f"{where}: {name}: a control character in the value")
        if known[name.upper()] in NOT_FROM_FILES:
            raise TeamSettingsError(
                f"{where}: {name} cannot come from a file: the harness uses its own servers and "
                "state folder (set it in the environment with --external-services)")
        out[name] = value
    return out


def gather(environ: Mapping[str, str], env_file: Path | None = None,
           dataset_root: Path | None = None) -> TeamSettings:
    """The team's settings: the environment over ``env_file`` over the dataset's
    ``settings.env``. Every value is checked as the service checks it."""
    layers: list[tuple[str, Mapping[str, str]]] = [("env", environ)]
    if env_file is not None:
        layers.append(("env-file", read_env_file(env_file)))
    if dataset_root is not None and (Path(dataset_root) / DATASET_FILE).is_file():
        layers.append(("dataset", read_env_file(Path(dataset_root) / DATASET_FILE)))
    root = Path(dataset_root) if dataset_root is not None else None
    team = TeamSettings(env_file=str(Path(env_file).resolve()) if env_file is not None
                        else None,
                        dataset_root=str(root.resolve()) if root is not None
                        and (root / DATASET_FILE).is_file() else None)
    for source, mapping in reversed(layers):  # weakest first; a stronger one replaces it
        upper = {k.upper(): k for k in mapping}
        for name, value in read_environment(mapping).items():
            var = next((upper[v.upper()] for v in [*_names(name)] if v.upper() in upper), name)
            team.settings[name] = UserSetting(value, source, var)
    _check(team)
    return team


def _names(field_name: str) -> list[str]:
    if field_name == SEMANTIC_SWITCH:
        return [f"RAG_{field_name.upper()}"]
    return config.env_names(field_name)


def _check(team: TeamSettings) -> None:
    """Each value valid for its setting (the service would refuse to start otherwise)."""
    from pydantic import ValidationError

    from rag_core.config import Settings

    values = team.values(skip=("database_url", "redis_url"))
    try:
        Settings.model_validate({**values, "profile": "ci"})
    except (ValidationError, ValueError) as exc:
        errors = exc.errors() if isinstance(exc, ValidationError) else []
        if errors:
            loc = [str(p) for p in errors[0]["loc"]]
            name = loc[-1] if loc else "settings"
            given = team.settings.get(name)
            shown = given.shown() if given else name
            raise TeamSettingsError(f"SETTINGS_INVALID: {shown}: {errors[0]['msg']}") from None
        raise TeamSettingsError(f"SETTINGS_INVALID: {exc}") from None


def write(folder: Path, team: TeamSettings) -> Path:
    path = Path(folder) / TEAM_FILE
    path.write_text(json.dumps(team.to_json(), indent=2, default=str) + "\n")
    return path


def load(folder: str | Path | None) -> TeamSettings:
    """What the runner handed to a notebook in ``folder``; run alone, the environment's."""
    path = Path(folder) / TEAM_FILE if folder else None
    if path is not None and path.is_file():
        return TeamSettings.from_json(json.loads(path.read_text()), os.environ)
    return gather(os.environ)


@dataclass(frozen=True)
class GeneratorChoice:
    """Which generator the quality notebook answers with, and why (shown in the summary)."""

    name: str  # hf | extractive | what --param generator named
    why: str


def choose_generator(team: TeamSettings, given: object | None) -> GeneratorChoice:
    """The team's model when it configured one (``RAG_LLM=hf`` and an endpoint), the
    extractive generator when asked for or when no model is configured."""
    if given is not None:
        return GeneratorChoice(str(given), f"asked for with --param generator={given}")
    llm = team.settings.get("llm")
    url = team.settings.get("llm_base_url")
    token = team.settings.get("hf_token")
    if llm is None:
        return GeneratorChoice("extractive", "extractive: no model configured (RAG_LLM unset, "
                                             "the service's default)")
    if str(llm.value) == "extractive":
        return GeneratorChoice("extractive", f"extractive: asked for by {llm.shown()}")
    if url is None and token is None:
        return GeneratorChoice("extractive", f"extractive: {llm.shown()} names no model to "
                                             "call (no RAG_LLM_BASE_URL or HF_TOKEN)")
    model = team.settings.get("llm_model")
    where = url.shown() if url else "HF_TOKEN (the Hugging Face endpoint)"
    named = f", model {model.value}" if model else ""
    return GeneratorChoice("hf", f"the team's model: {llm.shown()}, {where}{named}")


def overridden(team: TeamSettings, asked: Mapping[str, object]) -> list[str]:
    """``--param`` values that replace a setting the team gave, said as such."""
    return [f"--param sets {name}={value!r} over the team's {team.settings[name].shown()}"
            for name, value in asked.items() if name in team.settings
            and str(team.settings[name].value) != str(value)]
