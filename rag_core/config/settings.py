"""One Settings object for the whole service, built at the edges and passed down: a profile and
one section per concern (``settings.retrieval``, ``settings.caches``, ...).

Every field keeps one flat name, unique across the sections: ``RAG_<FIELD>`` in the environment
(a few well-known names such as ``DATABASE_URL`` without prefix, and ``RAG_RETRIEVAL`` for the
retrieval mode), ``Settings(top_k=3)``,
``with_overrides(top_k=3)`` and ``--param settings=``: the edges where
users type names. Code reads ``settings.<section>.<field>`` (typed; there is no flat alias). A
name that is no field is an error. The profile (``RAG_PROFILE`` = dev | prod | ci) changes the
defaults of the fields it names, but never a value that was set explicitly.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_origin

from pydantic import AliasChoices, BaseModel, Field, TypeAdapter, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from rag_core.config import fixed
from rag_core.config.answer_sections import (
    DecisionSettings,
    GenerationSettings,
    Retrieval,
    Section,
    TokenSettings,
)
from rag_core.config.conversation_section import Conversations
from rag_core.config.route_section import CheapModel, Routing
from rag_core.config.service_sections import (
    Auth,
    Caches,
    Embedding,
    Index,
    Limits,
    ModelCalls,
    Money,
    Observability,
    Services,
)
from rag_core.config.shedding_section import Shedding

Profile = Literal["dev", "prod", "ci"]

# The request limits of rag_core/limits that dev and ci turn off (prod keeps the seeds' rates)
RATES_OFF: dict[str, int] = {"rate_limit_per_minute": 0, "rate_limit_per_hour": 0,
                             "rate_limit_per_day": 0, "max_queries_per_hour": 0}

# Defaults that differ per profile. Anything not listed keeps its field default.
PROFILE_DEFAULTS: dict[str, dict[str, object]] = {
    "prod": {},
    "dev": {
        "query_cache_ttl_s": 3_600,
        "embedding_cache_ttl_s": 86_400,
        "context_cache_ttl_s": 600,
        **RATES_OFF,
    },
    "ci": {
        "query_cache_ttl_s": 3_600,
        "embedding_cache_ttl_s": 86_400,
        "context_cache_ttl_s": 600,
        "breaker_reset_timeout_s": 2.0,
        # the harness and the tests set the limits their own runs measure (evals/load)
        **RATES_OFF, "max_concurrent_queries": 0, "user_max_in_flight": 0,
    },
}

# the sections in the order docs/configuration.md lists them
SECTIONS: dict[str, type[Section]] = {
    "services": Services, "generation": GenerationSettings, "model_calls": ModelCalls,
    "routing": Routing, "cheap_model": CheapModel,
    "retrieval": Retrieval, "index": Index, "embedding": Embedding, "tokens": TokenSettings,
    "decisions": DecisionSettings, "caches": Caches, "money": Money, "auth": Auth,
    "limits": Limits, "shedding": Shedding, "observability": Observability,
    "conversations": Conversations,
}
# the sections that shape an answer: the answer cache key hashes them whole
ANSWER_SECTIONS = ("retrieval", "decisions", "generation", "tokens", "routing")
PROFILE_HELP = "`dev` (short TTLs, auth may be off, `/docs` on), `prod`, `ci`"

# flat field name -> its section
FIELDS: dict[str, str] = {name: section for section, model in SECTIONS.items()
                          for name in model.model_fields}

log = logging.getLogger(__name__)
_warned: set[str] = set()


def field_info(name: str) -> FieldInfo:
    """The definition of the flat field ``name`` (``profile`` included)."""
    if name == "profile":
        return Settings.model_fields["profile"]
    return SECTIONS[FIELDS[name]].model_fields[name]


def flat_names() -> list[str]:
    """Every setting's flat name: the profile, then each section's fields."""
    return ["profile", *FIELDS]


def env_names(name: str) -> list[str]:
    """The environment variables that set the flat field ``name``, first one first."""
    alias = field_info(name).validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [f"RAG_{name.upper()}"]


def _decode(name: str, text: str) -> object:
    """An environment value for ``name``: JSON for a mapping or list, the text otherwise."""
    if get_origin(field_info(name).annotation) in (dict, list):
        try:
            return json.loads(text)
        except ValueError:
            return text  # not JSON: the field's validation says so, naming its variable
    return text


def read_environment(environ: Mapping[str, str]) -> dict[str, object]:
    """The flat fields that ``environ`` sets (names case-insensitive). A variable of a setting
    that is now a constant logs a warning, once per process."""
    upper = {key.upper(): value for key, value in environ.items()}
    found: dict[str, object] = {}
    for name in flat_names():
        var = next((v for v in env_names(name) if v.upper() in upper), None)
        if var is not None:
            found[name] = _decode(name, upper[var.upper()])
    switch = f"RAG_{SEMANTIC_SWITCH.upper()}"
    if switch in upper:
        found[SEMANTIC_SWITCH] = upper[switch]
    for name in fixed.RETIRED:
        var = f"RAG_{name.upper()}"
        if var in upper and var not in _warned:
            _warned.add(var)
            log.warning("%s is no longer a setting and is ignored: %s is fixed at %r "
                        "(rag_core/config/fixed.py)", var, name, fixed.value(name))
    return found


class _FlatEnvironment(PydanticBaseSettingsSource):
    """Settings' environment: each field under its flat name, never a section's own name
    (``RAG_RETRIEVAL`` is the retrieval mode, not the retrieval section)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[object, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, object]:
        return dict(read_environment(os.environ))


def _unknown(names: list[str]) -> str:
    parts = []
    for name in names:
        if name in fixed.RETIRED:
            parts.append(f"{name} (no longer a setting: fixed at {fixed.value(name)!r} in "
                         f"rag_core/config/fixed.py)")
            continue
        near = difflib.get_close_matches(name, flat_names(), 2)
        parts.append(f"{name} (did you mean {', '.join(near)}?)" if near else name)
    return "unknown settings: " + "; ".join(parts)


def user_model_cache() -> Path | None:
    """The machine user's cache folder for exported models (``$XDG_CACHE_HOME`` or
    ``~/.cache``, then ``rag_core/models``): one export serves every state folder. None when
    no such folder can be written (a read-only home in a container)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "rag_core" / "models"
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return folder if probe.is_dir() and os.access(probe, os.W_OK) else None


# An older name that still works, folded into the setting that now says the same thing.
SEMANTIC_SWITCH = "semantic_cache_enabled"  # false: semantic_mode off


def _fold(data: Mapping[str, object]) -> dict[str, object]:
    """``semantic_cache_enabled=false`` (``RAG_SEMANTIC_CACHE_ENABLED``) as
    ``semantic_mode=off``, unless a mode is given; true changes nothing."""
    data = dict(data)
    switch = data.pop(SEMANTIC_SWITCH, None)
    if switch is not None and not TypeAdapter(bool).validate_python(switch) \
            and "semantic_mode" not in data:
        data["semantic_mode"] = "off"
    return data


def compose(data: Mapping[str, object]) -> dict[str, object]:
    """Flat names (and whole sections) grouped into sections, the profile's defaults filled in
    where nothing was set. Raises ValueError for a name that is no setting."""
    data = _fold(data)
    nested: dict[str, dict[str, object]] = {section: {} for section in SECTIONS}
    flat: dict[str, object] = {}
    unknown: list[str] = []
    for key, value in data.items():
        if key == "profile":
            continue
        if key in SECTIONS:
            given = value.model_dump() if isinstance(value, BaseModel) else value
            if not isinstance(given, Mapping):
                raise ValueError(f"{key}: a section is given as a mapping of its settings")
            nested[key].update(given)
        elif key in FIELDS:
            flat[key] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(_unknown(sorted(unknown)))
    profile = data.get("profile") or "prod"
    for name, value in PROFILE_DEFAULTS.get(str(profile), {}).items():
        if name not in flat and name not in nested[FIELDS[name]]:
            flat[name] = value
    for name, value in flat.items():
        nested[FIELDS[name]][name] = value
    return {"profile": profile, **nested}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="forbid", validate_default=True)

    profile: Profile = Field("prod", description=PROFILE_HELP)
    services: Services = Field(default_factory=Services)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    model_calls: ModelCalls = Field(default_factory=ModelCalls)
    routing: Routing = Field(default_factory=Routing)
    cheap_model: CheapModel = Field(default_factory=CheapModel)
    retrieval: Retrieval = Field(default_factory=Retrieval)
    index: Index = Field(default_factory=Index)
    embedding: Embedding = Field(default_factory=Embedding)
    tokens: TokenSettings = Field(default_factory=TokenSettings)
    decisions: DecisionSettings = Field(default_factory=DecisionSettings)
    caches: Caches = Field(default_factory=Caches)
    money: Money = Field(default_factory=Money)
    auth: Auth = Field(default_factory=Auth)
    limits: Limits = Field(default_factory=Limits)
    shedding: Shedding = Field(default_factory=Shedding)
    observability: Observability = Field(default_factory=Observability)
    conversations: Conversations = Field(default_factory=Conversations)

    def __init__(self, **values: Any) -> None:
        """Flat names (``Settings(top_k=3)``) or whole sections; the environment fills the
        rest."""
        super().__init__(**values)

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FlatEnvironment(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _compose(cls, data: object) -> object:
        return compose(data) if isinstance(data, dict) else data

    def flat_value(self, name: str) -> object:
        """The value of the setting a user names flatly (``top_k``): for the edges that take
        flat names (``--param settings=``, the harness's knobs); code reads
        ``settings.<section>.<field>``."""
        if name == "profile":
            return self.profile
        return getattr(getattr(self, FIELDS[name]), name)

    @classmethod
    def flat_fields(cls) -> dict[str, FieldInfo]:
        """Every setting by its flat name (what ``RAG_<FIELD>`` and overrides name)."""
        return {name: field_info(name) for name in flat_names()}

    def flat_dump(self) -> dict[str, object]:
        """Every setting's value by its flat name (secrets stay SecretStr)."""
        return {name: self.flat_value(name) for name in flat_names()}

    @property
    def model_cache_path(self) -> Path:
        """Where exported embedding models are cached (shared by every process and state
        folder of a machine user; ``<state_dir>/models`` when the user has no cache folder)."""
        return (self.embedding.model_cache_dir or user_model_cache()
                or self.services.state_dir / "models")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields (flat names, or whole sections) changed, validated again
        (notebooks and tests use it). A name that is no setting is an error."""
        data = {name: value for name, value in self.flat_dump().items()
                if FIELDS.get(name) not in changes}
        data.update(changes)
        return Settings(**data)

    def model_copy(self, *, update: Mapping[str, object] | None = None,
                   deep: bool = False) -> Settings:
        """``with_overrides`` when ``update`` names fields (validated, flat names allowed)."""
        if update:
            return self.with_overrides(**update)
        return super().model_copy(deep=deep)

    @classmethod
    def from_fields(cls, fields: Mapping[str, object]) -> Settings:
        """``Settings(**fields)`` for values known only as ``object`` (a notebook's ``settings``
        mapping, a harness's choices): validation checks each against its field's type."""
        return cls(**fields)
